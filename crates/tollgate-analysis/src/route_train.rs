//! `tollgate route-train`: fits a learned router
//! ([`tollgate_lang::RouterModel`]) to eval records and picks, per feature, a
//! threshold on `gain_per_usd`: the cheapest that keeps the feature's
//! quality floor, or, with a target ([`TrainOptions::target`]), the
//! thresholds that together save the most while the features together keep
//! the target and each keeps its floor.
//!
//! **Model.** Three ridge regressions over the router's features (hashed
//! word 1-2-grams, character 3-5-grams, lengths; an unpenalised bias):
//! the quality the strong model adds (`strong - weak`, 0 to 1 scale), and
//! `ln(1 + output tokens)` of each model. They are solved by conjugate
//! gradient on the normal equations with a Jacobi preconditioner, a fixed
//! number of iterations and sequential sums, so the same records and
//! options give the same file, byte for byte.
//!
//! **Thresholds.** Scores a model gives the prompts it was fitted on are
//! flattering, so thresholds are chosen on out-of-fold scores: the records
//! are cut into `folds` parts by the xxh3-64 of their id, each part scored
//! by a model fitted on the others. Per feature, prompts sorted by score
//! go to the strong model from the top until the feature keeps its floor
//! (routed quality / all-strong quality); the threshold sits halfway
//! between the last prompt sent and the next. With a target, the cuts of
//! all features are chosen together instead: a walk over a Lagrange
//! multiplier (the price of a unit of quality) finds the cheapest corners,
//! and the features between two corners step one cut at a time until the
//! target holds. Each threshold is then lowered where the
//! final model's own scores on the training records would miss the floor,
//! so every floor holds on the training data under both. Records of a
//! feature below [`MIN_FEATURE_RECORDS`] only count in the default
//! threshold, chosen the same way over all records with the default floor.

mod records;
mod ridge;

use crate::evals::EvalPrompt;
use crate::route_thresholds::{at_k, at_threshold, floor_threshold, joint, sorted, totals, Point};
pub use records::{read_jsonl, TrainError, TrainRecord};
use ridge::*;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;
use tollgate_cost::{price_lenient, Mode, Usage};
use tollgate_lang::Prices;
use tollgate_lang::{feature_vector, RouterModel, RouterPrices, HEADS, LENGTH_FEATURES};

/// Fewest records a feature needs for a threshold of its own.
pub const MIN_FEATURE_RECORDS: usize = 20;

/// How to train.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainOptions {
    /// `2^hash_bits` buckets.
    pub hash_bits: u32,
    /// Ridge penalty on n-gram and length weights.
    pub lambda: f64,
    /// Conjugate-gradient iterations per regression.
    pub iterations: usize,
    /// Out-of-fold parts for threshold choice (2 or more).
    pub folds: u32,
    /// Quality floor per feature, 0 to 1.
    pub floors: BTreeMap<String, f64>,
    /// Floor of features not named, and of the default threshold.
    pub default_floor: f64,
    /// Quality kept over all features together (records of features with
    /// a threshold of their own), 0 to 1. With it, the features'
    /// thresholds are chosen together to save the most while keeping it
    /// and every floor; without it, each is the cheapest keeping its floor.
    pub target: Option<f64>,
    /// Strong model's prices.
    pub strong_prices: Prices,
    /// Weak model's prices.
    pub weak_prices: Prices,
    /// Written into the model file's note.
    pub note: String,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            hash_bits: 13,
            lambda: 1.0,
            iterations: 60,
            folds: 5,
            floors: BTreeMap::new(),
            default_floor: 0.95,
            target: None,
            strong_prices: Prices::default(),
            weak_prices: Prices::default(),
            note: String::new(),
        }
    }
}

/// One point of a fitted curve.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CurvePoint {
    /// Routed to strong when `gain_per_usd >= threshold`.
    pub threshold: f64,
    /// Share routed to the strong model, 0 to 1.
    pub strong_share: f64,
    /// Routed quality / all-strong quality, 0 to 1.
    pub kept: f64,
    /// Cost saved against all-strong, 0 to 1.
    pub saved: f64,
}

/// A feature's threshold and curve.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureFit {
    /// Feature name (`*` for the default threshold).
    pub feature: String,
    /// Records.
    pub records: usize,
    /// The floor held.
    pub floor: f64,
    /// The chosen threshold, on out-of-fold scores.
    pub chosen: CurvePoint,
    /// The chosen threshold on the final model's scores of the same records.
    pub in_sample: CurvePoint,
    /// Out-of-fold curve at strong shares 0, 10, ..., 100 %.
    pub curve: Vec<CurvePoint>,
}

/// The features' thresholds together, when chosen for a global target.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JointFit {
    /// Quality kept over all features together, 0 to 1.
    pub target: f64,
    /// Out-of-fold, all features together.
    pub chosen: Totals,
    /// The final model's scores of the same records.
    pub in_sample: Totals,
}

/// Share to strong, quality kept and saving of several features together.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Totals {
    /// Share routed to the strong model, 0 to 1.
    pub strong_share: f64,
    /// Routed quality / all-strong quality, 0 to 1.
    pub kept: f64,
    /// Cost saved against all-strong, 0 to 1.
    pub saved: f64,
}

impl Totals {
    fn of<'a>(parts: impl Iterator<Item = (&'a [Point], f64)>) -> Totals {
        let mut s = [0.0; 5];
        let mut n = 0usize;
        for (pts, t) in parts {
            n += pts.len();
            for (a, b) in s.iter_mut().zip(totals(pts, t)) {
                *a += b;
            }
        }
        let [strong, q, qs, c, cs] = s;
        Totals {
            strong_share: if n == 0 { 0.0 } else { strong / n as f64 },
            kept: if qs > 0.0 { q / qs } else { 1.0 },
            saved: if cs > 0.0 { 1.0 - c / cs } else { 0.0 },
        }
    }
}

impl JointFit {
    fn of(target: f64, groups: &[Group<'_>], fits: &[FeatureFit]) -> JointFit {
        let t = |f: &FeatureFit| f.chosen.threshold;
        JointFit {
            target,
            chosen: Totals::of(
                groups
                    .iter()
                    .zip(fits)
                    .map(|(g, f)| (g.oof.as_slice(), t(f))),
            ),
            in_sample: Totals::of(
                groups
                    .iter()
                    .zip(fits)
                    .map(|(g, f)| (g.fitted.as_slice(), t(f))),
            ),
        }
    }
}

/// What training produced.
#[derive(Debug, Clone)]
pub struct TrainReport {
    /// The model.
    pub model: RouterModel,
    /// Per feature (name order), then the default (`*`).
    pub features: Vec<FeatureFit>,
    /// With a target ([`TrainOptions::target`]): the features together.
    pub joint: Option<JointFit>,
    /// Records trained on.
    pub records: usize,
    /// Root-mean-square error of the out-of-fold gain predictions.
    pub gain_rmse: f64,
}

fn to_model(
    rows: &Rows,
    w: &[Vec<f64>; HEADS],
    hash_bits: u32,
    prices: RouterPrices,
    note: &str,
) -> Result<RouterModel, TrainError> {
    let dim = rows.dim;
    let mut weights = vec![0f32; dim * HEADS];
    for (b, slot) in weights.chunks_mut(HEADS).enumerate() {
        for (k, x) in slot.iter_mut().enumerate() {
            *x = w.get(k).and_then(|h| h.get(b)).copied().unwrap_or(0.0) as f32;
        }
    }
    let at = |k: usize, j: usize| -> f32 {
        w.get(k).and_then(|h| h.get(j)).copied().unwrap_or(0.0) as f32
    };
    let bias = [0, 1, 2].map(|k| at(k, dim + LENGTH_FEATURES));
    let length = [0, 1].map(|l| [0, 1, 2].map(|k| at(k, dim + l)));
    RouterModel::new(hash_bits, prices, bias, length, weights, note)
        .map_err(|e| TrainError::Invalid(format!("the fitted model is not valid: {e}")))
}

fn usd_per_mtok(price: tollgate_lang::PicosPerToken) -> f64 {
    // A pico-dollar per token is a micro-dollar per million tokens.
    price.picos() as f64 / 1_000_000.0
}

fn cost(prices: &Prices, input: u64, output: u64) -> f64 {
    price_lenient(prices, &Usage::new(input, output), Mode::Realtime)
        .0
        .total_nanos as f64
}

/// Trains a router (see the module docs).
pub fn train(records: &[TrainRecord], opts: &TrainOptions) -> Result<TrainReport, TrainError> {
    if records.len() < 2 {
        return Err(TrainError::Invalid(format!(
            "{} training record{}: a router needs more",
            records.len(),
            if records.len() == 1 { "" } else { "s" }
        )));
    }
    if opts.folds < 2 {
        return Err(TrainError::Invalid("`--folds` must be 2 or more".into()));
    }
    for (f, v) in opts
        .floors
        .iter()
        .map(|(f, v)| (f.as_str(), *v))
        .chain([("default", opts.default_floor)])
    {
        if !(0.0..=1.0).contains(&v) {
            return Err(TrainError::Invalid(format!(
                "the floor of `{f}` is {v}, outside 0 to 1"
            )));
        }
    }
    if let Some(t) = opts.target.filter(|t| !(0.0..=1.0).contains(t)) {
        return Err(TrainError::Invalid(format!(
            "the target is {t}, outside 0 to 1"
        )));
    }
    let rows = Rows::build(records, opts.hash_bits);
    let y = targets(records);
    let fold = |r: &TrainRecord| {
        (xxhash_rust::xxh3::xxh3_64_with_seed(r.id.as_bytes(), 0x7f0d) % u64::from(opts.folds))
            as u32
    };
    let folds: Vec<u32> = records.iter().map(fold).collect();
    let all: Vec<usize> = (0..records.len()).collect();
    let prices = RouterPrices {
        strong_input: usd_per_mtok(opts.strong_prices.input),
        strong_output: usd_per_mtok(opts.strong_prices.output),
        weak_input: usd_per_mtok(opts.weak_prices.input),
        weak_output: usd_per_mtok(opts.weak_prices.output),
    };
    // Out-of-fold scores.
    let mut oof = vec![0.0f64; records.len()];
    let mut sq = 0.0;
    for f in 0..opts.folds {
        let train: Vec<usize> = all
            .iter()
            .copied()
            .filter(|&i| folds.get(i) != Some(&f))
            .collect();
        let test: Vec<usize> = all
            .iter()
            .copied()
            .filter(|&i| folds.get(i) == Some(&f))
            .collect();
        if test.is_empty() || train.is_empty() {
            continue;
        }
        let w = y
            .each_ref()
            .map(|t| ridge(&rows, &train, t, opts.lambda, opts.iterations));
        let m = to_model(&rows, &w, opts.hash_bits, prices, "")?;
        for i in test {
            let Some(r) = records.get(i) else { continue };
            let s = m.score(&r.prompt);
            let gain = r.strong_score - r.weak_score;
            sq += (s.gain - gain) * (s.gain - gain);
            if let Some(o) = oof.get_mut(i) {
                *o = s.gain_per_usd;
            }
        }
    }
    let w = y
        .each_ref()
        .map(|t| ridge(&rows, &all, t, opts.lambda, opts.iterations));
    let model = to_model(&rows, &w, opts.hash_bits, prices, &opts.note)?;
    let fitted: Vec<f64> = records
        .iter()
        .map(|r| model.score(&r.prompt).gain_per_usd)
        .collect();
    let scores = Scores {
        oof: &oof,
        fitted: &fitted,
    };
    let (features, joint) = thresholds(records, &scores, opts)?;
    Ok(TrainReport {
        model,
        features,
        joint,
        records: records.len(),
        gain_rmse: (sq / records.len() as f64).sqrt(),
    })
}

/// Each record's out-of-fold and final-model score.
struct Scores<'a> {
    oof: &'a [f64],
    fitted: &'a [f64],
}

/// A feature's records as the threshold search sees them, sorted by
/// out-of-fold (`oof`) and by final-model (`fitted`) score.
struct Group<'a> {
    name: &'a str,
    floor: f64,
    oof: Vec<Point>,
    fitted: Vec<Point>,
}

impl Group<'_> {
    /// The fit at threshold `t` (a floor-keeping threshold on the final
    /// model's scores lowers it).
    fn fit(&self, t: f64) -> FeatureFit {
        let t = t.min(floor_threshold(&self.fitted, self.floor));
        let n = self.oof.len();
        FeatureFit {
            feature: self.name.to_owned(),
            records: n,
            floor: self.floor,
            chosen: at_threshold(&self.oof, t),
            in_sample: at_threshold(&self.fitted, t),
            curve: (0..=10)
                .map(|d| at_k(&self.oof, (n * d).div_ceil(10)))
                .collect(),
        }
    }
}

fn group<'a>(
    records: &[TrainRecord],
    name: &'a str,
    members: &[usize],
    floor: f64,
    scores: &Scores<'_>,
    opts: &TrainOptions,
) -> Group<'a> {
    let pick = |s: &[f64]| {
        sorted(
            members
                .iter()
                .filter_map(|&i| {
                    let r = records.get(i)?;
                    let p = Point {
                        score: s.get(i).copied().unwrap_or(0.0),
                        qs: r.strong_score,
                        qw: r.weak_score,
                        cs: cost(&opts.strong_prices, r.input_tokens, r.strong_output_tokens),
                        cw: cost(&opts.weak_prices, r.input_tokens, r.weak_output_tokens),
                    };
                    Some((i, p))
                })
                .collect(),
        )
    };
    Group {
        name,
        floor,
        oof: pick(scores.oof),
        fitted: pick(scores.fitted),
    }
}

/// Per feature the threshold and curve, then the default (`*`); with a
/// target, the features' joint out-of-fold figure.
fn thresholds(
    records: &[TrainRecord],
    scores: &Scores<'_>,
    opts: &TrainOptions,
) -> Result<(Vec<FeatureFit>, Option<JointFit>), TrainError> {
    let mut members: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, r) in records.iter().enumerate() {
        members.entry(r.feature.as_str()).or_default().push(i);
    }
    for f in opts.floors.keys() {
        if !members.contains_key(f.as_str()) {
            return Err(TrainError::Invalid(format!(
                "`--floor {f}=...` names a feature no record has (features: {})",
                members.keys().copied().collect::<Vec<_>>().join(", ")
            )));
        }
    }
    let groups: Vec<Group<'_>> = members
        .iter()
        .filter(|(_, m)| m.len() >= MIN_FEATURE_RECORDS)
        .map(|(name, m)| {
            let floor = opts
                .floors
                .get(*name)
                .copied()
                .unwrap_or(opts.default_floor);
            group(records, name, m, floor, scores, opts)
        })
        .collect();
    let chosen: Vec<f64> = match opts.target {
        Some(target) => {
            let sets: Vec<(&[Point], f64)> =
                groups.iter().map(|g| (g.oof.as_slice(), g.floor)).collect();
            joint(&sets, target)
        }
        None => groups
            .iter()
            .map(|g| floor_threshold(&g.oof, g.floor))
            .collect(),
    };
    let mut features: Vec<FeatureFit> =
        groups.iter().zip(&chosen).map(|(g, t)| g.fit(*t)).collect();
    let joint = opts
        .target
        .map(|target| JointFit::of(target, &groups, &features));
    let all: Vec<usize> = (0..records.len()).collect();
    let default = group(records, "*", &all, opts.default_floor, scores, opts);
    features.push(default.fit(floor_threshold(&default.oof, opts.default_floor)));
    Ok((features, joint))
}
