//! `tollgate replay` and `tollgate plan provisioned`: argument handling
//! and printing; the work is in `tollgate_analysis`.

use clap::ValueEnum;
use std::io::Write;
use std::path::{Path, PathBuf};
use tollgate_analysis::{diff_json, diff_text};
use tollgate_analysis::{read_path, servegen_gap_note, servegen_windows, ServeGenTokens};
use tollgate_analysis::{replay_emitting, Format, ReplayOptions, Trace};
use tollgate_engine::CompiledPolicy;

/// `--format` of `replay` and `plan provisioned`: the traffic files' format.
#[derive(Clone, Copy, ValueEnum)]
pub enum TraceFormat {
    // tollgate call events, JSON Lines.
    Events,
    // The Azure LLM inference trace (CSV).
    Azure,
    // The Mooncake trace (JSON Lines).
    Mooncake,
    // ServeGen rate traces (CSV).
    #[value(name = "servegen")]
    ServeGen,
}

impl From<TraceFormat> for Format {
    fn from(f: TraceFormat) -> Format {
        match f {
            TraceFormat::Events => Format::Events,
            TraceFormat::Azure => Format::Azure,
            TraceFormat::Mooncake => Format::Mooncake,
            TraceFormat::ServeGen => Format::ServeGen,
        }
    }
}

/// The `replay` arguments.
#[derive(clap::Args)]
pub struct Args {
    /// Policy file or directory.
    #[arg(long)]
    rules: PathBuf,
    /// Input format (default: guessed from each file's first line).
    #[arg(long, value_enum)]
    format: Option<TraceFormat>,
    /// Traffic files.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// ATTR=VALUE for an attribute the data lacks (repeatable).
    #[arg(long = "set", value_name = "ATTR=VALUE")]
    set: Vec<String>,
    /// Baseline: every request on this model alias (needed when the data has no model).
    #[arg(long, value_name = "ALIAS")]
    baseline_model: Option<String>,
    /// Also price this policy on the same traffic.
    #[arg(long, value_name = "OTHER_RULES")]
    diff: Option<PathBuf>,
    /// Write the projected call events (JSON Lines) here.
    #[arg(long, value_name = "FILE")]
    emit_events: Option<PathBuf>,
    /// Refuse `--emit-events` when the traffic expands to more events than this
    /// (ServeGen windows expand to one event per request).
    #[arg(long, value_name = "N", default_value_t = 1_000_000)]
    emit_limit: u64,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
    /// ServeGen: assumed prompt,output tokens per request.
    #[arg(long, value_name = "IN,OUT", default_value = "1000,250")]
    servegen_tokens: String,
    /// Put t=0 of a relative trace clock (ServeGen, Mooncake) at this UTC date, YYYY-MM-DD.
    #[arg(long, value_name = "DATE")]
    start: Option<String>,
    /// Source region of calls that record none (recorded call events are priced at theirs; default us-east-1).
    #[arg(long, value_name = "REGION")]
    region: Option<String>,
}

fn compiled(path: &Path) -> Result<CompiledPolicy, String> {
    let loaded = crate::load(path).ok_or_else(|| format!("cannot load `{}`", path.display()))?;
    tollgate_engine::compile(loaded.policy).map_err(|e| e.to_string())
}

fn tokens(spec: &str) -> Result<ServeGenTokens, String> {
    let (i, o) = spec
        .split_once(',')
        .ok_or_else(|| format!("`--servegen-tokens {spec}`: expected IN,OUT"))?;
    let n = |s: &str| {
        s.trim()
            .parse::<u64>()
            .map_err(|_| format!("`--servegen-tokens {spec}`: `{s}` is not a token count"))
    };
    Ok(ServeGenTokens {
        input: n(i)?,
        output: n(o)?,
    })
}

/// Runs `tollgate replay`.
pub fn run(a: Args) -> Result<bool, String> {
    let format = a.format.map(Format::from);
    let tokens = tokens(&a.servegen_tokens)?;
    let mut parts: Vec<Trace> = Vec::new();
    for f in &a.files {
        parts.push(read_path(f, format, tokens).map_err(|e| e.to_string())?);
    }
    let servegen: Vec<&Trace> = parts
        .iter()
        .filter(|t| t.formats.contains(&Format::ServeGen))
        .collect();
    let servegen_files = servegen.len();
    let gap_note = (!servegen.is_empty())
        .then(|| servegen_gap_note(&servegen_windows(servegen.iter().copied())))
        .flatten();
    if let Some(date) = &a.start {
        let day = tollgate_cost::Day::parse(date).ok_or_else(|| {
            format!("`--start {date}`: expected a date YYYY-MM-DD, 1970 or later")
        })?;
        let offset = u64::try_from(day.start().unix_ms()).unwrap_or(0);
        for (t, file) in parts.iter_mut().zip(&a.files) {
            if let Some(f) = t
                .formats
                .iter()
                .find(|f| !matches!(f, Format::ServeGen | Format::Mooncake))
            {
                return Err(format!(
                    "`--start` moves relative trace clocks (servegen, mooncake); `{}` is {} data with real timestamps",
                    file.display(),
                    f.name()
                ));
            }
            for r in &mut t.requests {
                r.at_ms = r.at_ms.saturating_add(offset);
            }
        }
    }
    let mut trace = Trace::default();
    for t in parts {
        trace.append(t);
    }
    if trace.formats.contains(&Format::ServeGen) {
        trace.notes.push(format!(
            "servegen: rates expanded to round(rate x 600) requests per 10-minute window, each assumed {} prompt and {} output tokens (--servegen-tokens)",
            tokens.input, tokens.output
        ));
    }
    if let Some(n) = gap_note {
        if servegen_files > 1 {
            // One summed gap note instead of one line per client file.
            trace.notes.retain(|n| !n.ends_with("windows with rate 0"));
        }
        trace.notes.push(n);
    }
    let opts = ReplayOptions {
        set: tollgate_analysis::parse_sets(&a.set).map_err(|e| e.to_string())?,
        baseline_model: a.baseline_model.clone(),
        progress: true,
        region: a.region.clone(),
    };
    let (region, note) = crate::plan_cmd::region_used(a.region.as_deref())?;
    let policy = compiled(&a.rules)?;
    let report = match &a.emit_events {
        Some(path) => {
            let n = tollgate_analysis::emitted_event_count(&trace);
            if n > a.emit_limit {
                return Err(format!(
                    "`--emit-events` would write {n} events (one per request; ServeGen windows expand to round(rate x 600) each), more than `--emit-limit {}`: replay fewer files or raise the limit",
                    a.emit_limit
                ));
            }
            let file = std::fs::File::create(path)
                .map_err(|e| format!("cannot create `{}`: {e}", path.display()))?;
            let mut w = std::io::BufWriter::new(file);
            let mut buf = Vec::with_capacity(2048);
            let mut sink = |ev: &tollgate_cost::CallEvent| -> Result<(), String> {
                buf.clear();
                ev.write_json_line(&mut buf).map_err(|e| e.to_string())?;
                w.write_all(&buf).map_err(|e| e.to_string())
            };
            let r = replay_emitting(&policy, &trace, &opts, Some(&mut sink))
                .map_err(|e| e.to_string())?;
            w.flush().map_err(|e| e.to_string())?;
            r
        }
        None => replay_emitting(&policy, &trace, &opts, None).map_err(|e| e.to_string())?,
    };
    let other = match &a.diff {
        Some(path) => {
            let b = compiled(path)?;
            Some(replay_emitting(&b, &trace, &opts, None).map_err(|e| e.to_string())?)
        }
        None => None,
    };
    if a.json {
        let mut v = report.to_json();
        if let (Some(b), Some(obj)) = (&other, v.as_object_mut()) {
            obj.insert("diff".into(), diff_json(&report, b));
        }
        println!("{}", crate::plan_cmd::with_region(v, region));
    } else {
        print!("{}", report.to_text());
        if let Some(b) = &other {
            print!("\n{}", diff_text(&report, b));
        }
        print!("{note}");
    }
    Ok(true)
}

/// The `plan provisioned` arguments.
#[derive(clap::Args)]
pub struct ProvisionedArgs {
    /// Policy whose model prices the on-demand traffic.
    #[arg(long)]
    rules: PathBuf,
    /// Model alias of the policy.
    #[arg(long, value_name = "ALIAS")]
    model: String,
    /// Tokens (prompt + output) per minute one model unit serves (your AWS quote).
    #[arg(long, value_name = "N")]
    unit_tokens_per_minute: u64,
    /// USD per hour of one model unit (your AWS quote).
    #[arg(long, value_name = "USD")]
    unit_usd_per_hour: f64,
    /// Input format (default: guessed).
    #[arg(long, value_enum)]
    format: Option<TraceFormat>,
    /// ServeGen: assumed prompt,output tokens per request.
    #[arg(long, value_name = "IN,OUT", default_value = "1000,250")]
    servegen_tokens: String,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
    /// Traffic files.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Source region the on-demand traffic is priced at (default us-east-1).
    #[arg(long, value_name = "REGION")]
    region: Option<String>,
}

/// Runs `tollgate plan provisioned`.
pub fn plan_provisioned(a: ProvisionedArgs) -> Result<bool, String> {
    let format = a.format.map(Format::from);
    let tokens = tokens(&a.servegen_tokens)?;
    let mut trace = Trace::default();
    for f in &a.files {
        trace.append(read_path(f, format, tokens).map_err(|e| e.to_string())?);
    }
    let loaded =
        crate::load(&a.rules).ok_or_else(|| format!("cannot load `{}`", a.rules.display()))?;
    let p = &loaded.policy;
    let model = p
        .model_by_alias(&a.model)
        .and_then(|m| p.model(m))
        .ok_or_else(|| format!("`--model {}` is not a model of the policy", a.model))?;
    if !(a.unit_usd_per_hour.is_finite() && a.unit_usd_per_hour >= 0.0) {
        return Err(format!(
            "`--unit-usd-per-hour {}` must be a non-negative number",
            a.unit_usd_per_hour
        ));
    }
    let terms = tollgate_analysis::UnitTerms {
        tokens_per_minute: a.unit_tokens_per_minute,
        nanos_per_hour: (a.unit_usd_per_hour * 1e9).round() as u64,
    };
    // The traffic is priced on demand at one source region (the traces
    // record none); a model not priced there keeps its own prices.
    let (region, _) = crate::plan_cmd::region_used(a.region.as_deref())?;
    let note = format!(
        "prices: on demand in {region}{}\n",
        if a.region.is_none() { " (default)" } else { "" }
    );
    let prices = tollgate_lang::call_prices(
        p.price_table(),
        &model.id,
        &model.prices,
        region,
        tollgate_lang::Tier::Default,
        false,
    )
    .map_err(|e| format!("`--model {}` in `{region}`: {e}", a.model))?;
    let plan =
        tollgate_analysis::plan_provisioned(&trace, &prices, terms).map_err(|e| e.to_string())?;
    let assumption = trace.formats.contains(&Format::ServeGen).then(|| {
        format!(
            "servegen: each request assumed {} prompt and {} output tokens (--servegen-tokens); on-demand prices of `{}` ({})",
            tokens.input, tokens.output, model.alias, model.id
        )
    });
    if a.json {
        let mut v = plan.to_json();
        if let Some(obj) = v.as_object_mut() {
            obj.insert("model".into(), model.alias.clone().into());
            obj.insert("region".into(), region.into());
            obj.insert(
                "notes".into(),
                assumption.into_iter().collect::<Vec<_>>().into(),
            );
        }
        println!("{v}");
    } else {
        print!("{}", plan.to_text());
        if let Some(n) = assumption {
            println!("note: {n}");
        }
        print!("{note}");
    }
    Ok(true)
}
