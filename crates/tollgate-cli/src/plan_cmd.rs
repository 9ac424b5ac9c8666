//! `tollgate plan batch` and `tollgate advise`: argument handling and
//! printing; the work is in `tollgate_analysis` (`plan_batch_in`, `advise_in`).

use std::path::PathBuf;
use tollgate_analysis::read_call_events;
use tollgate_analysis::{compile_when, plan_batch_in, Selector};
use tollgate_cost::CallEvent;

/// Reads call-event files; a note per file with skipped lines goes to stderr.
pub fn events(files: &[PathBuf]) -> Result<Vec<CallEvent>, String> {
    let mut all = Vec::new();
    for f in files {
        let (mut evs, skipped) = read_call_events(f).map_err(|e| e.to_string())?;
        if skipped > 0 {
            eprintln!(
                "note: {}: {skipped} lines were not call events and were skipped",
                f.display()
            );
        }
        all.append(&mut evs);
    }
    all.sort_by_key(|e| e.timestamp.unix_ms());
    Ok(all)
}

/// The `plan batch` arguments.
#[derive(clap::Args)]
pub struct BatchArgs {
    /// Policy file or directory.
    #[arg(long)]
    rules: PathBuf,
    /// Select by this expression over the recorded attributes instead of the [[batch]] rules.
    #[arg(long, value_name = "EXPR")]
    when: Option<String>,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
    /// Call-event files (JSON Lines).
    #[arg(required = true)]
    events: Vec<PathBuf>,
    /// Source region of calls that record none (calls that record one are priced at theirs; default us-east-1).
    #[arg(long, value_name = "REGION")]
    region: Option<String>,
}

/// Runs `tollgate plan batch`.
pub fn batch(a: BatchArgs) -> Result<bool, String> {
    let (rules, files, when) = (&a.rules, &a.events, a.when.as_deref());
    let (region, note) = region_used(a.region.as_deref())?;
    let loaded = crate::load(rules).ok_or_else(|| format!("cannot load `{}`", rules.display()))?;
    let sel = match when {
        Some(w) => compile_when(&loaded.policy, w).map_err(|d| format!("`--when`:\n{d}"))?,
        None => Selector::Policy,
    };
    let compiled = tollgate_engine::compile(loaded.policy).map_err(|e| e.to_string())?;
    let plan = plan_batch_in(&compiled, &events(files)?, &sel, region);
    if a.json {
        println!("{}", with_region(plan.to_json(), region));
    } else {
        print!("{}{note}", plan.to_text());
    }
    Ok(true)
}

/// The `advise` arguments.
#[derive(clap::Args)]
pub struct AdviseArgs {
    /// Call-event files (JSON Lines).
    #[arg(required = true)]
    events: Vec<PathBuf>,
    /// Source region of calls that record none (calls that record one are priced at theirs; default us-east-1).
    #[arg(long, value_name = "REGION")]
    region: Option<String>,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

/// Runs `tollgate advise`.
pub fn advise(a: AdviseArgs) -> Result<bool, String> {
    let (region, note) = region_used(a.region.as_deref())?;
    let report = tollgate_analysis::advise_in(&events(&a.events)?, region);
    if a.json {
        println!("{}", with_region(report.to_json(), region));
    } else {
        print!("{}{note}", report.to_text());
    }
    Ok(true)
}

/// The source region calls that record none are priced at (`--region`,
/// default us-east-1), checked, and the line saying so.
pub fn region_used(region: Option<&str>) -> Result<(&str, String), String> {
    let r = region.unwrap_or(tollgate_lang::DEFAULT_REGION);
    crate::prices_cmd::check_region(r)?;
    let note = format!(
        "prices: each call's recorded source region; {r}{} for calls that record none\n",
        if region.is_none() { " (default)" } else { "" }
    );
    Ok((r, note))
}

/// A JSON report with `"region"` (the `--region` used) added.
pub fn with_region(mut v: serde_json::Value, region: &str) -> serde_json::Value {
    if let Some(o) = v.as_object_mut() {
        o.insert("region".into(), region.into());
    }
    v
}
