//! `tollgate replay` and `tollgate plan provisioned`: argument handling
//! and printing; the work is in `tollgate_analysis`.

use std::io::Write;
use std::path::{Path, PathBuf};
use tollgate_analysis::input::{read_path, servegen_gap_note, servegen_windows, ServeGenTokens};
use tollgate_analysis::report::{diff_json, diff_text};
use tollgate_analysis::{replay_emitting, Format, ReplayOptions, Trace};
use tollgate_engine::CompiledPolicy;

/// The parsed `replay` arguments.
pub struct Args {
    pub rules: PathBuf,
    pub format: Option<String>,
    pub files: Vec<PathBuf>,
    pub set: Vec<String>,
    pub baseline_model: Option<String>,
    pub diff: Option<PathBuf>,
    pub emit_events: Option<PathBuf>,
    pub emit_limit: u64,
    pub json: bool,
    pub servegen_tokens: String,
    pub start: Option<String>,
    pub region: Option<String>,
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
    let format = match &a.format {
        Some(f) => Some(Format::parse(f).ok_or_else(|| {
            format!("unknown format `{f}`: use events, azure, mooncake or servegen")
        })?),
        None => None,
    };
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
        set: tollgate_analysis::replay::parse_sets(&a.set).map_err(|e| e.to_string())?,
        baseline_model: a.baseline_model.clone(),
        progress: true,
        region: a.region.clone(),
    };
    let (region, note) = crate::plan_cmd::region_used(a.region.as_deref())?;
    let policy = compiled(&a.rules)?;
    let report = match &a.emit_events {
        Some(path) => {
            let n = tollgate_analysis::replay::emitted_event_count(&trace);
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

/// The parsed `plan provisioned` arguments.
pub struct PlanArgs {
    pub rules: PathBuf,
    pub model: String,
    pub unit_tokens_per_minute: u64,
    pub unit_usd_per_hour: f64,
    pub format: Option<String>,
    pub servegen_tokens: String,
    pub json: bool,
    pub files: Vec<PathBuf>,
    pub region: Option<String>,
}

/// Runs `tollgate plan provisioned`.
pub fn plan_provisioned(a: PlanArgs) -> Result<bool, String> {
    let format = match &a.format {
        Some(f) => Some(Format::parse(f).ok_or_else(|| format!("unknown format `{f}`"))?),
        None => None,
    };
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
    let terms = tollgate_analysis::capacity::UnitTerms {
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
    let prices = tollgate_lang::pricing::call_prices(
        &p.price_table,
        &model.id,
        &model.prices,
        region,
        tollgate_lang::pricing::Tier::Default,
        false,
    )
    .map_err(|e| format!("`--model {}` in `{region}`: {e}", a.model))?;
    let plan = tollgate_analysis::capacity::plan_provisioned(&trace, &prices, terms)
        .map_err(|e| e.to_string())?;
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
