//! `tollgate report` and `tollgate tiers`: argument handling and printing;
//! the work is in `tollgate_analysis::{spend, spend_html, tiers}`.

use std::path::{Path, PathBuf};
use tollgate_analysis::events::SkippedLine;
use tollgate_analysis::tiers::Evals;
use tollgate_analysis::{spend, spend_html, tiers};
use tollgate_cost::SpikeConfig;

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

/// The spike settings: the policy's `[alerts.spend_spike]`, else the defaults.
fn spike_config(rules: Option<&Path>) -> Result<SpikeConfig, String> {
    let Some(path) = rules else {
        return Ok(SpikeConfig::default());
    };
    let loaded = crate::load(path).ok_or_else(|| format!("cannot load `{}`", path.display()))?;
    Ok(match SpikeConfig::from_policy(&loaded.policy) {
        Some(c) => c,
        None => {
            eprintln!(
                "note: `{}` has no [alerts.spend_spike]; using the defaults (factor 2.0, 7 days, $5.00, feature)",
                path.display()
            );
            SpikeConfig::default()
        }
    })
}

/// Runs `tollgate report`.
pub fn report(a: ReportArgs) -> Result<bool, String> {
    let cfg = spike_config(a.rules.as_deref())?;
    let r = spend::read(&a.files, cfg).map_err(|e| e.to_string())?;
    warn_skipped(&r.skipped);
    if r.events == 0 {
        return Err("no call events in the files".to_owned());
    }
    if let Some(path) = &a.html {
        std::fs::write(path, spend_html::to_html(&r))
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
    let t = tiers::read(&a.files, evals).map_err(|e| e.to_string())?;
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
