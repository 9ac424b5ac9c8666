//! `tollgate route-eval`: argument handling and printing; the work is in
//! `tollgate_analysis::route_eval`.

use std::path::PathBuf;
use tollgate_analysis::evals::read_evals;
use tollgate_analysis::route_eval::{route_eval, RouteEvalOptions, Split};

/// The parsed `route-eval` arguments.
pub struct Args {
    pub rules: PathBuf,
    pub evals: Vec<PathBuf>,
    pub split: String,
    pub strong: String,
    pub weak: String,
    pub json: bool,
    pub floors: Vec<String>,
    pub default_floor: f64,
}

/// Runs `tollgate route-eval`.
pub fn run(a: Args) -> Result<bool, String> {
    let split = Split::parse(&a.split)
        .ok_or_else(|| format!("`--split {}`: use report, tune or all", a.split))?;
    let loaded =
        crate::load(&a.rules).ok_or_else(|| format!("cannot load `{}`", a.rules.display()))?;
    let compiled = tollgate_engine::compile(loaded.policy).map_err(|e| e.to_string())?;
    let set = read_evals(&a.evals).map_err(|e| e.to_string())?;
    let mut floors = std::collections::BTreeMap::new();
    for f in &a.floors {
        let (k, v) = crate::route_train_cmd::floor(f)?;
        floors.insert(k, v);
    }
    let opts = RouteEvalOptions {
        strong: a.strong,
        weak: a.weak,
        split,
        floors,
        default_floor: a.default_floor,
    };
    let mut report = route_eval(&compiled, &set.prompts, &opts).map_err(|e| e.to_string())?;
    report.notes.extend(set.notes);
    if a.json {
        println!("{}", report.to_json());
    } else {
        print!("{}", report.to_text());
    }
    // A dataset below its floor fails the run (exit 1), like a failed test.
    Ok(report.below_floor().is_empty())
}
