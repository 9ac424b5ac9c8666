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
use tollgate_lang::{region, LookupError, PicosPerToken, PriceTable, Prices, Tier, DEFAULT_REGION};

/// The arguments of `tollgate prices show`.
#[derive(clap::Args)]
pub struct ShowArgs {
    /// Source region the call is made from (default us-east-1).
    #[arg(long, value_name = "REGION")]
    region: Option<String>,
    /// Service tier: default, flex, priority or reserved.
    #[arg(long, value_name = "TIER", default_value = "default")]
    tier: String,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
    /// Use this policy's effective price table (its `[policy] prices` file over the built-in one).
    #[arg(long, value_name = "PATH")]
    rules: Option<PathBuf>,
    /// Model ids as called (base ids, profile ids such as `us.ID`, ARNs); default: every model of the table.
    models: Vec<String>,
}

/// The arguments of `tollgate prices check`.
#[derive(clap::Args)]
pub struct CheckArgs {
    /// Price table file in the format of rules/pricing/bedrock.toml.
    file: Option<PathBuf>,
}

/// The price table of `--rules`, else the built-in one.
fn table(rules: Option<&std::path::Path>) -> Result<std::sync::Arc<PriceTable>, String> {
    match rules {
        None => Ok(PriceTable::builtin_shared()),
        Some(p) => {
            let l = crate::load(p).ok_or_else(|| format!("cannot load `{}`", p.display()))?;
            Ok(std::sync::Arc::clone(l.policy.price_table()))
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

/// One finding of `tollgate prices check`.
struct Finding {
    line: Option<usize>,
    error: bool,
    message: String,
}

/// Where the keys of one `[models."ID"]` table or its regional blocks are.
struct Lines<'a> {
    lines: Vec<&'a str>,
}

impl Lines<'_> {
    /// The 1-based line of the `n`-th header `header`, and of `key` inside
    /// that table (before the next header); the header line when the key
    /// is not found.
    fn of(&self, header: &str, n: usize, key: Option<&str>) -> Option<usize> {
        let start = self
            .lines
            .iter()
            .enumerate()
            .filter(|(_, l)| l.trim() == header)
            .nth(n)
            .map(|(i, _)| i)?;
        let Some(key) = key else {
            return Some(start + 1);
        };
        let found = self
            .lines
            .iter()
            .enumerate()
            .skip(start + 1)
            .take_while(|(_, l)| !l.trim_start().starts_with('['))
            .find(|(_, l)| {
                l.trim_start()
                    .strip_prefix(key)
                    .is_some_and(|rest| rest.trim_start().starts_with('='))
            })
            .map(|(i, _)| i);
        Some(found.unwrap_or(start) + 1)
    }
}

/// The documented cache ratios of a model's provider, as
/// `(key, numerator, denominator)` of the input price; `None` when the
/// provider's ratios are not documented in the table.
fn cache_ratios(id: &str) -> Option<&'static [(&'static str, u64, u64)]> {
    if id.starts_with("anthropic.") {
        // Anthropic: 5-minute write 1.25x, 1-hour write 2x, read 0.1x input.
        Some(&[
            ("cache_write_5m_per_mtok", 5, 4),
            ("cache_write_1h_per_mtok", 2, 1),
            ("cache_read_per_mtok", 1, 10),
        ])
    } else if id.starts_with("amazon.nova") {
        // Nova: writes at the input price, reads 75% less.
        Some(&[
            ("cache_write_5m_per_mtok", 1, 1),
            ("cache_read_per_mtok", 1, 4),
        ])
    } else {
        None
    }
}

fn cache_price(p: &Prices, key: &str) -> Option<PicosPerToken> {
    match key {
        "cache_write_5m_per_mtok" => p.cache_write_5m,
        "cache_write_1h_per_mtok" => p.cache_write_1h,
        _ => p.cache_read,
    }
}

/// The checks of one price block (a model's own prices or a regional block).
fn check_block(
    id: &str,
    what: &str,
    p: &Prices,
    at: &dyn Fn(&str) -> Option<usize>,
) -> Vec<Finding> {
    let mut out = Vec::new();
    for (key, batch, base, base_key) in [
        (
            "batch_input_per_mtok",
            p.batch_input,
            p.input,
            "input_per_mtok",
        ),
        (
            "batch_output_per_mtok",
            p.batch_output,
            p.output,
            "output_per_mtok",
        ),
    ] {
        let Some(b) = batch else { continue };
        if u128::from(b.picos()) * 2 != u128::from(base.picos()) {
            out.push(Finding {
                line: at(key),
                error: true,
                message: format!(
                    "model `{id}`{what}: `{key}` is {b}, expected 50% of `{base_key}` {base} = {}",
                    base.scale(1, 2)
                ),
            });
        }
    }
    let cached = p.cache_read.is_some() || p.cache_write_5m.is_some() || p.cache_write_1h.is_some();
    match cache_ratios(id) {
        Some(ratios) => {
            for &(key, num, den) in ratios {
                let Some(c) = cache_price(p, key) else { continue };
                let input = p.input.picos();
                if u128::from(c.picos()) * u128::from(den) != u128::from(input) * u128::from(num) {
                    let ratio = if den == 1 {
                        format!("{num}x")
                    } else {
                        format!("{num}/{den}x")
                    };
                    out.push(Finding {
                        line: at(key),
                        error: true,
                        message: format!(
                            "model `{id}`{what}: `{key}` is {c}, expected {ratio} `input_per_mtok` {} = {}",
                            p.input,
                            p.input.scale(num, den)
                        ),
                    });
                }
            }
        }
        None if cached => out.push(Finding {
            line: at("cache_read_per_mtok"),
            error: false,
            message: format!(
                "model `{id}`{what}: cache prices of a provider without documented ratios are not checked"
            ),
        }),
        None => {}
    }
    out
}

/// Runs `tollgate prices check`: the built-in table, or `file`.
pub fn check(a: CheckArgs) -> Result<bool, String> {
    let (shown, text) = match a.file.as_deref() {
        None => (
            "rules/pricing/bedrock.toml (built-in)".to_owned(),
            tollgate_lang::BUILTIN_TOML.to_owned(),
        ),
        Some(f) => (
            f.display().to_string(),
            std::fs::read_to_string(f)
                .map_err(|e| format!("cannot read `{}`: {e}", f.display()))?,
        ),
    };
    let table = match PriceTable::parse(&text) {
        Ok(t) => t,
        Err(e) => {
            match &e {
                tollgate_lang::PriceError::Syntax { line, .. } if *line > 0 => {
                    println!("{shown}:{line}: error: {e}");
                }
                _ => println!("{shown}: error: {e}"),
            }
            println!("{shown}: 1 error, 0 warnings");
            return Ok(false);
        }
    };
    let lines = Lines {
        lines: text.lines().collect(),
    };
    let mut findings = Vec::new();
    for &prefix in region::PROFILE_PREFIXES {
        let home = region::home_region(Some(prefix));
        if !region::in_geography(prefix, home) {
            findings.push(Finding {
                line: None,
                error: true,
                message: format!("profile `{prefix}` resolves to `{home}`, outside its geography"),
            });
        }
    }
    for (id, p) in table.iter() {
        let header = format!("[models.\"{id}\"]");
        let at = |key: &str| lines.of(&header, 0, Some(key));
        findings.extend(check_block(id, "", p, &at));
        let regional_header = format!("[[models.\"{id}\".regional]]");
        for (n, (regions, rp)) in table.regional(id).into_iter().enumerate() {
            let what = format!(" in {}", regions.join(", "));
            let at = |key: &str| lines.of(&regional_header, n, Some(key));
            findings.extend(check_block(id, &what, rp, &at));
        }
        if let Some((prefix, _)) = region::split_profile_prefix(id) {
            let home = region::home_region(Some(prefix));
            if let Err(e) = table.resolve(id, home, Tier::Default) {
                findings.push(Finding {
                    line: lines.of(&header, 0, None),
                    error: true,
                    message: format!("model `{id}`: not priced at `{home}`: {e}"),
                });
            }
        }
    }
    let (mut errors, mut warnings) = (0usize, 0usize);
    for f in &findings {
        let loc = f.line.map_or_else(String::new, |l| format!(":{l}"));
        let kind = if f.error { "error" } else { "warning" };
        println!("{shown}{loc}: {kind}: {}", f.message);
        if f.error {
            errors += 1;
        } else {
            warnings += 1;
        }
    }
    println!(
        "{shown}: {} models, {errors} error{}, {warnings} warning{}",
        table.len(),
        if errors == 1 { "" } else { "s" },
        if warnings == 1 { "" } else { "s" }
    );
    Ok(errors == 0)
}
