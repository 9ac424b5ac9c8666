//! `tollgate route-eval`: argument handling and printing; the work is in
//! `tollgate_analysis::route_eval()`.

use clap::ValueEnum;
use std::path::PathBuf;
use tollgate_analysis::read_evals;
use tollgate_analysis::{route_eval, RouteEvalOptions, Split};

/// `--split` of `route-eval` and `route-train`: which prompts are used
/// (by the xxh3 of their id).
#[derive(Clone, Copy, ValueEnum)]
pub enum SplitArg {
    // Odd hashes: the half figures are reported on.
    Report,
    // Even hashes: the half rules are written on.
    Tune,
    // Every prompt.
    All,
}

impl From<SplitArg> for Split {
    fn from(s: SplitArg) -> Split {
        match s {
            SplitArg::Report => Split::Report,
            SplitArg::Tune => Split::Tune,
            SplitArg::All => Split::All,
        }
    }
}

/// The `route-eval` arguments.
#[derive(clap::Args)]
pub struct Args {
    /// Policy file or directory.
    #[arg(long)]
    rules: PathBuf,
    /// Eval files or directories (e.g. data/routellm-evals).
    #[arg(required = true)]
    evals: Vec<PathBuf>,
    /// Prompts scored: report (odd xxh3 of the prompt id), tune (even) or all.
    #[arg(long, value_enum, default_value = "report")]
    split: SplitArg,
    /// Model alias standing for the data's strong model.
    #[arg(long, value_name = "ALIAS", default_value = "strong")]
    strong: String,
    /// Model alias standing for the data's weak model.
    #[arg(long, value_name = "ALIAS", default_value = "weak")]
    weak: String,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
    /// Quality-kept floor of one dataset, DATASET=KEPT (0 to 1); repeatable.
    #[arg(long = "floor", value_name = "DATASET=KEPT")]
    floors: Vec<String>,
    /// Floor of every other dataset; a dataset below its floor is flagged and the run exits 1.
    #[arg(long, default_value_t = 0.90)]
    default_floor: f64,
}

/// Runs `tollgate route-eval`.
pub fn run(a: Args) -> Result<bool, String> {
    let split = Split::from(a.split);
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
