//! `tollgate route-train`: argument handling and printing; the work is in
//! `tollgate_analysis::train`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use tollgate_analysis::Evals;
use tollgate_analysis::{
    join_scored_events, read_call_events, read_evals, read_train_records, train, Split,
    TrainOptions, TrainRecord,
};

/// The `route-train` arguments.
#[derive(clap::Args)]
pub struct Args {
    /// RouteLLM eval files or directories (e.g. data/routellm-evals).
    evals: Vec<PathBuf>,
    /// JSON Lines training records (prompt, feature, strong_score, weak_score, *_output_tokens).
    #[arg(long = "records", value_name = "FILE")]
    records: Vec<PathBuf>,
    /// Call events (JSON Lines) of eval prompts sent to both models, recorded
    /// with prompt text; paired with `--scores` (see docs/routing.md).
    #[arg(long = "events", value_name = "FILE", requires = "scores")]
    events: Vec<PathBuf>,
    /// Eval records `{"request_id", "score"}` scoring those events' answers.
    #[arg(long = "scores", value_name = "FILE", requires = "events")]
    scores: Vec<PathBuf>,
    /// The policy whose models price the strong and weak aliases.
    #[arg(long)]
    rules: PathBuf,
    /// Model file to write.
    #[arg(long)]
    out: PathBuf,
    /// Records trained on: tune (even xxh3 of the id), report (odd) or all.
    #[arg(long, value_enum, default_value = "all")]
    split: crate::route_eval_cmd::SplitArg,
    /// Model alias of the strong model.
    #[arg(long, value_name = "ALIAS", default_value = "strong")]
    strong: String,
    /// Model alias of the weak model.
    #[arg(long, value_name = "ALIAS", default_value = "weak")]
    weak: String,
    /// Quality floor of one feature, FEATURE=KEPT (0 to 1); repeatable.
    #[arg(long = "floor", value_name = "FEATURE=KEPT")]
    floors: Vec<String>,
    /// Quality floor of every other feature and of the default threshold.
    #[arg(long, default_value_t = 0.95)]
    default_floor: f64,
    /// Quality kept over all features together (0 to 1): choose the
    /// features' thresholds together, saving the most while keeping it and
    /// every floor.
    #[arg(long, value_name = "KEPT")]
    target: Option<f64>,
    /// RouteLLM data: one threshold per MMLU subject (rules read the
    /// `subject` attribute beside `feature`); a subject holds no floor of
    /// its own unless `--floor mmlu/SUBJECT=KEPT` gives one.
    #[arg(long)]
    by_subject: bool,
    /// 2^N hashed n-gram buckets.
    #[arg(long, default_value_t = 13)]
    hash_bits: u32,
    /// Ridge penalty.
    #[arg(long, default_value_t = 1.0)]
    lambda: f64,
    /// Conjugate-gradient iterations per regression.
    #[arg(long, default_value_t = 60)]
    iterations: usize,
    /// Out-of-fold parts for the threshold choice.
    #[arg(long, default_value_t = 5)]
    folds: u32,
    /// Router name used in the printed rules.
    #[arg(long, default_value = "learned")]
    router: String,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

pub fn floor(s: &str) -> Result<(String, f64), String> {
    let (k, v) = s
        .split_once('=')
        .filter(|(k, _)| !k.trim().is_empty())
        .ok_or_else(|| format!("`--floor {s}`: write FEATURE=KEPT, e.g. `gsm8k=0.95`"))?;
    let v: f64 = v
        .trim()
        .parse()
        .ok()
        .filter(|v: &f64| (0.0..=1.0).contains(v))
        .ok_or_else(|| format!("`--floor {s}`: `{v}` is not a share from 0 to 1"))?;
    Ok((k.trim().to_owned(), v))
}

/// Training records from `--events` joined to `--scores`; what could not
/// be paired is reported on stderr.
fn joined_events(a: &Args) -> Result<Vec<TrainRecord>, String> {
    let mut events = Vec::new();
    for f in &a.events {
        let (evs, skipped) = read_call_events(f).map_err(|e| e.to_string())?;
        if skipped > 0 {
            eprintln!(
                "{}: skipped {skipped} lines that are not call events",
                f.display()
            );
        }
        events.extend(evs);
    }
    let mut evals = Evals::default();
    for f in &a.scores {
        let more = Evals::read_path(f).map_err(|e| e.to_string())?;
        for s in &more.skipped {
            eprintln!("{}:{}: skipped: {}", s.file, s.line, s.reason);
        }
        let repeated = evals.extend(more);
        if repeated > 0 {
            eprintln!(
                "{}: {repeated} request ids were scored in an earlier file; the first score is used",
                f.display()
            );
        }
    }
    let j = join_scored_events(&events, &evals, &a.strong, &a.weak);
    eprintln!(
        "events: {} prompts scored on both `{}` and `{}`; left out: {} scored on one model only, {} without prompt text, {} repeated",
        j.records.len(),
        a.strong,
        a.weak,
        j.unpaired,
        j.no_prompt,
        j.repeats
    );
    Ok(j.records)
}

/// Runs `tollgate route-train`.
pub fn run(a: Args) -> Result<bool, String> {
    let split = Split::from(a.split);
    if !(tollgate_lang::MIN_HASH_BITS..=tollgate_lang::MAX_HASH_BITS).contains(&a.hash_bits) {
        return Err(format!(
            "`--hash-bits {}`: use {} to {}",
            a.hash_bits,
            tollgate_lang::MIN_HASH_BITS,
            tollgate_lang::MAX_HASH_BITS
        ));
    }
    let loaded =
        crate::load(&a.rules).ok_or_else(|| format!("cannot load `{}`", a.rules.display()))?;
    let p = &loaded.policy;
    let prices = |alias: &str| {
        p.model_by_alias(alias)
            .and_then(|i| p.model(i))
            .map(|m| m.prices.clone())
            .ok_or_else(|| {
                let all: Vec<&str> = p.models().iter().map(|m| m.alias.as_str()).collect();
                format!(
                    "the policy has no model `{alias}` (models: {})",
                    all.join(", ")
                )
            })
    };
    let (strong_prices, weak_prices) = (prices(&a.strong)?, prices(&a.weak)?);
    let mut records: Vec<TrainRecord> = Vec::new();
    if !a.evals.is_empty() {
        let set = read_evals(&a.evals).map_err(|e| e.to_string())?;
        records.extend(set.prompts.iter().map(|e| {
            let mut r = TrainRecord::from_eval(e);
            if a.by_subject && e.dataset == "mmlu" && !e.subject.is_empty() {
                r.feature = format!("{}/{}", e.dataset, e.subject);
            }
            r
        }));
    }
    for f in &a.records {
        records.extend(read_train_records(f).map_err(|e| e.to_string())?);
    }
    if !a.events.is_empty() {
        records.extend(joined_events(&a)?);
    }
    records.retain(|r| split.contains(&r.id));
    let mut floors = BTreeMap::new();
    for f in &a.floors {
        let (k, v) = floor(f)?;
        floors.insert(k, v);
    }
    if a.by_subject {
        // A subject's records hold no floor of their own: the target holds
        // the records together.
        for r in records.iter().filter(|r| r.feature.contains('/')) {
            floors.entry(r.feature.clone()).or_insert(0.0);
        }
    }
    let note = format!(
        "tollgate route-train: split {}, strong `{}`, weak `{}`, hash_bits {}, lambda {}, iterations {}, folds {}{}",
        split.name(),
        a.strong,
        a.weak,
        a.hash_bits,
        a.lambda,
        a.iterations,
        a.folds,
        a.target.map(|t| format!(", target {t}")).unwrap_or_default()
            + if a.by_subject { ", by subject" } else { "" }
    );
    let opts = TrainOptions {
        hash_bits: a.hash_bits,
        lambda: a.lambda,
        iterations: a.iterations,
        folds: a.folds,
        floors,
        default_floor: a.default_floor,
        target: a.target,
        strong_prices,
        weak_prices,
        note,
    };
    let report = train(&records, &opts).map_err(|e| e.to_string())?;
    std::fs::write(&a.out, report.model.to_bytes())
        .map_err(|e| format!("cannot write `{}`: {e}", a.out.display()))?;
    if a.json {
        let mut v = report.to_json();
        if let Some(o) = v.as_object_mut() {
            o.insert("rules".into(), report.rules(&a.router, &a.strong).into());
        }
        println!("{v}");
    } else {
        print!("{}", report.to_text());
        println!(
            "\nwrote `{}` ({} bytes); rules for `[routers.{}]`:\n",
            a.out.display(),
            report.model.file_size(),
            a.router
        );
        print!("{}", report.rules(&a.router, &a.strong));
    }
    Ok(true)
}
