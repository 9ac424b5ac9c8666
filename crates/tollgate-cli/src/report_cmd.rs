//! `tollgate report` and `tollgate tiers`: argument handling and printing;
//! the work is in `tollgate_analysis` (`read_spend_repriced`, `to_html`, `read_tiers`).

use std::path::{Path, PathBuf};
use tollgate_analysis::Evals;
use tollgate_analysis::Repricer;
use tollgate_analysis::SkippedLine;
use tollgate_analysis::{read_spend_repriced, read_tiers, to_html};
use tollgate_cost::SpikeConfig;
use tollgate_lang::Policy;

/// The `report` arguments.
#[derive(clap::Args)]
pub struct ReportArgs {
    /// Call event files (JSON Lines).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Policy whose [alerts.spend_spike] sets group_by, factor, window and floor.
    #[arg(long)]
    rules: Option<PathBuf>,
    /// Also write a self-contained HTML page with a chart here.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
    /// Source region of calls that record none (calls that record one are priced at theirs; default us-east-1).
    #[arg(long, value_name = "REGION")]
    region: Option<String>,
}

/// Each skipped line on stderr, then their count.
fn warn_skipped(lines: &[SkippedLine]) {
    for s in lines {
        eprintln!("warning: {s}");
    }
    if !lines.is_empty() {
        eprintln!(
            "warning: {} line{} skipped",
            lines.len(),
            if lines.len() == 1 { "" } else { "s" }
        );
    }
}

/// The policy of `--rules`, if given.
fn policy(rules: Option<&Path>) -> Result<Option<Policy>, String> {
    let Some(path) = rules else {
        return Ok(None);
    };
    let loaded = crate::load(path).ok_or_else(|| format!("cannot load `{}`", path.display()))?;
    Ok(Some(loaded.policy))
}

/// The spike settings: the policy's `[alerts.spend_spike]`, else the defaults.
fn spike_config(policy: Option<&Policy>, rules: Option<&Path>) -> SpikeConfig {
    let (Some(policy), Some(path)) = (policy, rules) else {
        return SpikeConfig::default();
    };
    match SpikeConfig::from_policy(policy) {
        Some(c) => c,
        None => {
            eprintln!(
                "note: `{}` has no [alerts.spend_spike]; using the defaults (factor 2.0, 7 days, $5.00, feature)",
                path.display()
            );
            SpikeConfig::default()
        }
    }
}

/// Runs `tollgate report`: every event re-priced at its recorded source
/// region (`--region` for those that record none) with the policy's table,
/// else the built-in one.
pub fn report(a: ReportArgs) -> Result<bool, String> {
    let policy = policy(a.rules.as_deref())?;
    let cfg = spike_config(policy.as_ref(), a.rules.as_deref());
    crate::plan_cmd::region_used(a.region.as_deref())?;
    let repricer = Repricer::new(policy.as_ref(), a.region.as_deref());
    let r = read_spend_repriced(&a.files, cfg, repricer).map_err(|e| e.to_string())?;
    warn_skipped(&r.skipped);
    if r.events == 0 {
        return Err("no call events in the files".to_owned());
    }
    if let Some(path) = &a.html {
        std::fs::write(path, to_html(&r))
            .map_err(|e| format!("cannot write `{}`: {e}", path.display()))?;
    }
    if a.json {
        println!("{}", r.to_json());
    } else {
        print!("{}", r.to_text());
        if let Some(path) = &a.html {
            println!("html: {}", path.display());
        }
    }
    Ok(true)
}

/// The `tiers` arguments.
#[derive(clap::Args)]
pub struct TiersArgs {
    /// Call event files (JSON Lines).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Eval records, JSON Lines: {"request_id": "...", "score": 0.0..1.0}.
    #[arg(long, value_name = "FILE")]
    evals: Option<PathBuf>,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

/// Runs `tollgate tiers`.
pub fn tiers(a: TiersArgs) -> Result<bool, String> {
    let evals = match &a.evals {
        Some(p) => Some(Evals::read_path(p).map_err(|e| e.to_string())?),
        None => None,
    };
    let t = read_tiers(&a.files, evals).map_err(|e| e.to_string())?;
    let mut skipped = t.skipped_evals.clone();
    skipped.extend(t.skipped_events.iter().cloned());
    warn_skipped(&skipped);
    if t.events == 0 {
        return Err("no call events in the files".to_owned());
    }
    if t.unmatched_evals > 0 {
        eprintln!(
            "warning: {} eval record{} matched no event",
            t.unmatched_evals,
            if t.unmatched_evals == 1 { "" } else { "s" }
        );
    }
    if a.json {
        println!("{}", t.to_json());
    } else {
        print!("{}", t.to_text());
    }
    Ok(true)
}
