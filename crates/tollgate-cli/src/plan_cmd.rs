//! `tollgate plan batch` and `tollgate advise`: argument handling and
//! printing; the work is in `tollgate_analysis::{batch_plan, advise}`.

use std::path::{Path, PathBuf};
use tollgate_analysis::batch_plan::{compile_when, plan_batch, Selector};
use tollgate_analysis::input::read_call_events;
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

/// Runs `tollgate plan batch`.
pub fn batch(
    rules: &Path,
    files: &[PathBuf],
    when: Option<&str>,
    json: bool,
) -> Result<bool, String> {
    let loaded = crate::load(rules).ok_or_else(|| format!("cannot load `{}`", rules.display()))?;
    let sel = match when {
        Some(w) => compile_when(&loaded.policy, w).map_err(|d| format!("`--when`:\n{d}"))?,
        None => Selector::Policy,
    };
    let compiled = tollgate_engine::compile(loaded.policy).map_err(|e| e.to_string())?;
    let plan = plan_batch(&compiled, &events(files)?, &sel);
    if json {
        println!("{}", plan.to_json());
    } else {
        print!("{}", plan.to_text());
    }
    Ok(true)
}

/// Runs `tollgate advise`.
pub fn advise(files: &[PathBuf], json: bool) -> Result<bool, String> {
    let report = tollgate_analysis::advise::advise(&events(files)?);
    if json {
        println!("{}", report.to_json());
    } else {
        print!("{}", report.to_text());
    }
    Ok(true)
}
