//! `tollgate prices import`: a price table from AWS's Price List bulk offer
//! file for Amazon Bedrock.
//!
//! The offer lists `products` (each with `attributes.usagetype` and
//! `attributes.regionCode`) and `terms.OnDemand` (per product, terms whose
//! `priceDimensions` give `pricePerUnit.USD` and a `unit` such as
//! `1K tokens` or `1M tokens`). A usage type is mapped to a model id and
//! price key through `rules/pricing/bedrock-usage-types.toml` (or
//! `--map FILE`); prices are converted exactly, from the decimal text, to
//! USD per million tokens, and one that is not a whole number of
//! pico-dollars per token is refused.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use tollgate_lang::PicosPerToken;

/// The mapping table compiled into the binary.
const BUILTIN_MAP: &str = include_str!("../pricing/bedrock-usage-types.toml");

/// The keys written, in the table format's order.
const KEY_ORDER: &[&str] = &[
    "input_per_mtok",
    "output_per_mtok",
    "cache_write_5m_per_mtok",
    "cache_write_1h_per_mtok",
    "cache_read_per_mtok",
    "batch_input_per_mtok",
    "batch_output_per_mtok",
];

/// The arguments of `tollgate prices import`.
#[derive(clap::Args)]
pub struct ImportArgs {
    /// The offer file (JSON: products with attributes, terms.OnDemand).
    offer: PathBuf,
    /// Region to import (repeatable; the first gives each model's own prices, default us-east-1).
    #[arg(long = "region", value_name = "REGION")]
    regions: Vec<String>,
    /// Write the table here instead of stdout.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Usage-type mapping table (default: rules/pricing/bedrock-usage-types.toml, built in).
    #[arg(long, value_name = "FILE")]
    map: Option<PathBuf>,
}

fn read_map(text: &str) -> Result<BTreeMap<String, (String, String)>, String> {
    let root: toml::Table = toml::from_str(text).map_err(|e| format!("mapping table: {e}"))?;
    let mut out = BTreeMap::new();
    let Some(toml::Value::Table(t)) = root.get("usage_types") else {
        return Err("mapping table: no `[usage_types]` table".to_owned());
    };
    for (usage, v) in t {
        let field = |k: &str| v.get(k).and_then(toml::Value::as_str).map(str::to_owned);
        let (Some(model), Some(key)) = (field("model"), field("key")) else {
            return Err(format!(
                "mapping table: `{usage}` needs `model` and `key` strings"
            ));
        };
        if !KEY_ORDER.contains(&key.as_str()) {
            return Err(format!(
                "mapping table: `{usage}` maps to `{key}`, not one of {}",
                KEY_ORDER.join(", ")
            ));
        }
        out.insert(usage.clone(), (model, key));
    }
    Ok(out)
}

/// Tokens per pricing unit: `1K tokens` -> 1,000.
fn unit_tokens(unit: &str) -> Option<u64> {
    let u = unit.trim().to_ascii_lowercase();
    let n = u
        .strip_suffix("tokens")
        .or_else(|| u.strip_suffix("token"))?
        .trim();
    match n {
        "" | "1" => Some(1),
        "1k" | "1,000" | "1000" => Some(1_000),
        "1m" | "1,000,000" | "1000000" => Some(1_000_000),
        _ => None,
    }
}

/// A decimal USD string per `tokens` tokens -> pico-dollars per token,
/// exactly; `None` when it is not a whole number of them.
fn picos_per_token(usd: &str, tokens: u64) -> Option<PicosPerToken> {
    let (whole, frac) = usd.trim().split_once('.').unwrap_or((usd.trim(), ""));
    let frac = frac.trim_end_matches('0');
    if frac.len() > 12
        || whole.is_empty() && frac.is_empty()
        || !whole
            .bytes()
            .chain(frac.bytes())
            .all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let whole: u128 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let mut frac_picos: u128 = if frac.is_empty() {
        0
    } else {
        frac.parse().ok()?
    };
    for _ in frac.len()..12 {
        frac_picos *= 10;
    }
    let picos_per_unit = whole
        .checked_mul(1_000_000_000_000)?
        .checked_add(frac_picos)?;
    let t = u128::from(tokens);
    if picos_per_unit % t != 0 {
        return None;
    }
    u64::try_from(picos_per_unit / t)
        .ok()
        .map(PicosPerToken::from_picos)
}

/// Runs `tollgate prices import`.
pub fn import(a: ImportArgs) -> Result<bool, String> {
    let map_text = match &a.map {
        Some(p) => {
            std::fs::read_to_string(p).map_err(|e| format!("cannot read `{}`: {e}", p.display()))?
        }
        None => BUILTIN_MAP.to_owned(),
    };
    let map = read_map(&map_text)?;
    let text = std::fs::read_to_string(&a.offer)
        .map_err(|e| format!("cannot read `{}`: {e}", a.offer.display()))?;
    let offer: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| format!("`{}` is not JSON: {e}", a.offer.display()))?;
    let regions: Vec<String> = if a.regions.is_empty() {
        vec![tollgate_lang::DEFAULT_REGION.to_owned()]
    } else {
        a.regions.clone()
    };
    for r in &regions {
        crate::prices_cmd::check_region(r)?;
    }
    let products = offer
        .get("products")
        .and_then(serde_json::Value::as_object)
        .ok_or("the offer has no `products` object")?;
    let on_demand = offer
        .pointer("/terms/OnDemand")
        .and_then(serde_json::Value::as_object)
        .ok_or("the offer has no `terms.OnDemand` object")?;
    // model -> region -> key -> price
    let mut prices: BTreeMap<String, BTreeMap<String, BTreeMap<String, PicosPerToken>>> =
        BTreeMap::new();
    let mut model_order: Vec<String> = Vec::new();
    let mut unmapped: BTreeMap<String, usize> = BTreeMap::new();
    let mut problems: Vec<String> = Vec::new();
    for (sku, product) in products {
        let attr = |k: &str| {
            product
                .pointer(&format!("/attributes/{k}"))
                .and_then(serde_json::Value::as_str)
        };
        let (Some(usage), Some(region)) = (attr("usagetype"), attr("regionCode")) else {
            continue;
        };
        if !regions.iter().any(|r| r == region) {
            continue;
        }
        let bare = usage.split_once('-').map_or(usage, |(_, rest)| rest);
        let Some((model, key)) = map.get(usage).or_else(|| map.get(bare)) else {
            let name = attr("model").map_or_else(|| bare.to_owned(), str::to_owned);
            *unmapped.entry(name).or_default() += 1;
            continue;
        };
        let dims = on_demand
            .get(sku)
            .and_then(serde_json::Value::as_object)
            .into_iter()
            .flat_map(|terms| terms.values())
            .filter_map(|t| {
                t.get("priceDimensions")
                    .and_then(serde_json::Value::as_object)
            })
            .flat_map(|d| d.values());
        let mut found = None;
        for d in dims {
            let usd = d
                .pointer("/pricePerUnit/USD")
                .and_then(serde_json::Value::as_str);
            let unit = d.get("unit").and_then(serde_json::Value::as_str);
            let price = match (usd, unit.and_then(unit_tokens)) {
                (Some(usd), Some(n)) => picos_per_token(usd, n),
                _ => None,
            };
            match price {
                Some(p) => found = Some(p),
                None => problems.push(format!(
                    "{usage} in {region}: price `{}` per `{}` is not a whole number of pico-dollars per token",
                    usd.unwrap_or("?"),
                    unit.unwrap_or("?")
                )),
            }
        }
        let Some(p) = found else {
            problems.push(format!("{usage} in {region}: no on-demand price"));
            continue;
        };
        if !model_order.contains(model) {
            model_order.push(model.clone());
        }
        prices
            .entry(model.clone())
            .or_default()
            .entry(region.to_owned())
            .or_default()
            .insert(key.clone(), p);
    }
    let mut out = format!(
        "# Imported by `tollgate prices import` from {}, regions {}.\n",
        a.offer.file_name().map_or_else(
            || a.offer.display().to_string(),
            |f| f.to_string_lossy().into_owned()
        ),
        regions.join(", ")
    );
    model_order.sort();
    let home = &regions[0];
    for model in &model_order {
        let Some(by_region) = prices.get(model) else {
            continue;
        };
        let Some(own) = by_region.get(home) else {
            problems.push(format!("{model}: no price in `{home}`, the first region"));
            continue;
        };
        if !own.contains_key("input_per_mtok") || !own.contains_key("output_per_mtok") {
            problems.push(format!(
                "{model}: no input or output price in `{home}`; left out"
            ));
            continue;
        }
        let _ = writeln!(out, "\n[models.\"{model}\"]");
        write_keys(&mut out, own);
        for r in regions.iter().skip(1) {
            let Some(rp) = by_region.get(r) else { continue };
            if rp == own {
                continue;
            }
            let _ = writeln!(
                out,
                "\n[[models.\"{model}\".regional]]\nregions = [\"{r}\"]"
            );
            write_keys(&mut out, rp);
        }
    }
    // The output must read back as a price table.
    tollgate_lang::PriceTable::parse(&out)
        .map_err(|e| format!("the imported table does not parse: {e}"))?;
    match &a.out {
        Some(p) => {
            std::fs::write(p, &out).map_err(|e| format!("cannot write `{}`: {e}", p.display()))?
        }
        None => print!("{out}"),
    }
    for (name, n) in &unmapped {
        eprintln!(
            "unmapped: `{name}` ({n} price{})",
            if *n == 1 { "" } else { "s" }
        );
    }
    for p in &problems {
        eprintln!("error: {p}");
    }
    eprintln!(
        "{} model{} imported, {} unmapped, {} error{}",
        model_order.len(),
        if model_order.len() == 1 { "" } else { "s" },
        unmapped.len(),
        problems.len(),
        if problems.len() == 1 { "" } else { "s" }
    );
    Ok(problems.is_empty())
}

fn write_keys(out: &mut String, keys: &BTreeMap<String, PicosPerToken>) {
    for k in KEY_ORDER {
        if let Some(p) = keys.get(*k) {
            let _ = writeln!(out, "{k} = {}", toml_number(*p));
        }
    }
}

/// A price as a TOML float (`0.035`, `15.0`).
fn toml_number(p: PicosPerToken) -> String {
    let s = p.to_string();
    if s.contains('.') {
        s
    } else {
        format!("{s}.0")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offer_prices_convert_exactly_or_not_at_all() {
        let p = |usd, unit| unit_tokens(unit).and_then(|n| picos_per_token(usd, n));
        assert_eq!(
            p("0.00000875", "1K tokens"),
            Some(PicosPerToken::from_picos(8_750))
        );
        assert_eq!(
            p("0.72", "1M tokens"),
            Some(PicosPerToken::from_picos(720_000))
        );
        assert_eq!(
            p("15", "1M tokens"),
            Some(PicosPerToken::from_picos(15_000_000))
        );
        // A thousandth of a pico-dollar per token is not representable.
        assert_eq!(p("0.000000000001", "1K tokens"), None);
        assert_eq!(p("1e-5", "1K tokens"), None);
        assert_eq!(p("0.1", "hours"), None);
    }
}
