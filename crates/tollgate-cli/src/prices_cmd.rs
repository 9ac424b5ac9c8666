//! `tollgate prices show`: the prices a call with a model id is billed at
//! in a source region and service tier, from the built-in table or a
//! policy's effective one.
//!
//! Prices are integer pico-dollars per token and are printed as the exact
//! decimal USD per million tokens ([`PicosPerToken`]'s `Display`), in the
//! JSON output too: the number's text is written directly, never through a
//! float.

use std::fmt::Write as _;
use std::path::PathBuf;
use tollgate_lang::pricing::{
    region, LookupError, PicosPerToken, PriceTable, Prices, Tier, DEFAULT_REGION,
};

/// The arguments of `tollgate prices show`.
pub struct ShowArgs {
    /// Source region (default us-east-1).
    pub region: Option<String>,
    /// Service tier name.
    pub tier: String,
    /// Print one JSON object.
    pub json: bool,
    /// A policy whose effective table (with its `[policy] prices` file) is used.
    pub rules: Option<PathBuf>,
    /// Model ids; every model of the table when empty.
    pub models: Vec<String>,
}

/// The price table of `--rules`, else the built-in one.
fn table(rules: Option<&std::path::Path>) -> Result<std::sync::Arc<PriceTable>, String> {
    match rules {
        None => Ok(PriceTable::builtin_shared()),
        Some(p) => {
            let l = crate::load(p).ok_or_else(|| format!("cannot load `{}`", p.display()))?;
            Ok(std::sync::Arc::clone(&l.policy.price_table))
        }
    }
}

/// A region name as Bedrock spells it: lowercase letters, digits and `-`.
pub fn check_region(r: &str) -> Result<(), String> {
    if region::valid_pattern(r) && !r.ends_with('*') {
        Ok(())
    } else {
        Err(format!(
            "`{r}` is not a region name (expected e.g. `us-east-1`, `eu-west-1`)"
        ))
    }
}

/// Runs `tollgate prices show`.
pub fn show(args: ShowArgs) -> Result<bool, String> {
    let region = args.region.as_deref().unwrap_or(DEFAULT_REGION);
    check_region(region)?;
    let tier = Tier::parse(&args.tier).ok_or_else(|| {
        format!(
            "unknown service tier `{}` (expected default, flex, priority or reserved)",
            args.tier
        )
    })?;
    let table = table(args.rules.as_deref())?;
    let ids: Vec<String> = if args.models.is_empty() {
        table.iter().map(|(id, _)| id.to_owned()).collect()
    } else {
        args.models.clone()
    };
    let mut rows = Vec::with_capacity(ids.len());
    let mut failed = false;
    for id in &ids {
        match table.resolve(id, region, tier) {
            Ok(p) => rows.push((id.as_str(), p)),
            Err(e) => {
                eprintln!("error: {e}");
                if matches!(e, LookupError::UnknownModel { help: None, .. }) {
                    eprintln!("note: `tollgate prices show` without ids lists every model id");
                }
                failed = true;
            }
        }
    }
    if failed {
        return Ok(false);
    }
    if args.json {
        println!("{}", json(region, tier, &rows));
    } else {
        print!("{}", text(region, args.region.is_none(), tier, &rows));
    }
    Ok(true)
}

fn price(p: Option<PicosPerToken>) -> String {
    p.map_or_else(|| "null".to_owned(), |p| p.to_string())
}

fn count(n: Option<u32>) -> String {
    n.map_or_else(|| "null".to_owned(), |n| n.to_string())
}

fn json_str(s: &str) -> String {
    serde_json::Value::from(s).to_string()
}

/// The `--json` object, written as text so each price is its exact decimal.
fn json(region: &str, tier: Tier, rows: &[(&str, Prices)]) -> String {
    let mut out = format!(
        "{{\"region\":{},\"tier\":{},\"models\":[",
        json_str(region),
        json_str(tier.name())
    );
    for (i, (id, p)) in rows.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        // Writing to a String cannot fail.
        let _ = write!(
            out,
            "{{\"id\":{},\"input_per_mtok\":{},\"output_per_mtok\":{},\
             \"cache_read_per_mtok\":{},\"cache_write_per_mtok\":{},\
             \"cache_write_1h_per_mtok\":{},\"batch_input_per_mtok\":{},\
             \"batch_output_per_mtok\":{},\"max_output_tokens\":{},\
             \"cache_min_tokens\":{}}}",
            json_str(id),
            p.input,
            p.output,
            price(p.cache_read),
            price(p.cache_write_5m),
            price(p.cache_write_1h),
            price(p.batch_input),
            price(p.batch_output),
            count(p.max_output_tokens),
            count(p.prompt_cache_min_tokens),
        );
    }
    out.push_str("]}");
    out
}

/// The human listing: one block per model.
fn text(region: &str, defaulted: bool, tier: Tier, rows: &[(&str, Prices)]) -> String {
    let dash = |s: String| if s == "null" { "-".to_owned() } else { s };
    let mut out = format!(
        "region {region}{}, tier {}; USD per million tokens\n",
        if defaulted { " (default)" } else { "" },
        tier.name()
    );
    for (id, p) in rows {
        let lines = [
            ("input", p.input.to_string()),
            ("output", p.output.to_string()),
            ("cache read", dash(price(p.cache_read))),
            ("cache write 5m", dash(price(p.cache_write_5m))),
            ("cache write 1h", dash(price(p.cache_write_1h))),
            ("batch input", dash(price(p.batch_input))),
            ("batch output", dash(price(p.batch_output))),
            ("max output tokens", dash(count(p.max_output_tokens))),
            ("cache min tokens", dash(count(p.prompt_cache_min_tokens))),
        ];
        let _ = writeln!(out, "\n{id}");
        for (k, v) in lines {
            let _ = writeln!(out, "  {k:<18} {v}");
        }
    }
    out
}
