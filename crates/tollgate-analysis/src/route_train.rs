//! `tollgate route-train`: fits a learned router
//! ([`tollgate_lang::router`]) to eval records and picks, per feature, the
//! cheapest threshold on `gain_per_usd` that keeps the feature's quality
//! floor.
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
//! between the last prompt sent and the next. It is then lowered where the
//! final model's own scores on the training records would miss the floor,
//! so every floor holds on the training data under both. Records of a
//! feature below [`MIN_FEATURE_RECORDS`] only count in the default
//! threshold, chosen the same way over all records with the default floor.

use crate::evals::EvalPrompt;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use tollgate_cost::{price_lenient, Mode, Usage};
use tollgate_lang::Prices;
use tollgate_lang::{feature_vector, RouterModel, RouterPrices, HEADS, LENGTH_FEATURES};

/// Fewest records a feature needs for a threshold of its own.
pub const MIN_FEATURE_RECORDS: usize = 20;

/// One training record: a prompt and both models' quality on it.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainRecord {
    /// Stable id (the split and the folds hash it).
    pub id: String,
    /// The application feature (RouteLLM: the dataset).
    pub feature: String,
    /// The prompt text.
    pub prompt: String,
    /// Strong model's quality, 0 to 1.
    pub strong_score: f64,
    /// Weak model's quality, 0 to 1.
    pub weak_score: f64,
    /// Prompt tokens, for cost.
    pub input_tokens: u64,
    /// Strong model's output tokens.
    pub strong_output_tokens: u64,
    /// Weak model's output tokens.
    pub weak_output_tokens: u64,
}

impl TrainRecord {
    /// From a RouteLLM prompt (feature = dataset).
    pub fn from_eval(e: &EvalPrompt) -> TrainRecord {
        TrainRecord {
            id: e.id.clone(),
            feature: e.dataset.clone(),
            prompt: e.text.clone(),
            strong_score: e.strong_quality as f64 / 1000.0,
            weak_score: e.weak_quality as f64 / 1000.0,
            input_tokens: crate::classify::estimate_tokens(e.text.chars().count() as u64)
                + e.extra_input_tokens,
            strong_output_tokens: e.strong_output_tokens,
            weak_output_tokens: e.weak_output_tokens,
        }
    }
}

/// Why records could not be read or a router trained.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// The file could not be read.
    #[error("cannot read `{path}`: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A line is not a record.
    #[error("{path}:{line}: {message}")]
    Bad {
        /// The file.
        path: String,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// Nothing to train on, or an option out of range.
    #[error("{0}")]
    Invalid(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonRecord {
    #[serde(default)]
    id: Option<String>,
    prompt: String,
    feature: String,
    strong_score: f64,
    weak_score: f64,
    strong_output_tokens: u64,
    weak_output_tokens: u64,
    #[serde(default)]
    input_tokens: Option<u64>,
}

/// Reads the JSON Lines record format (see `docs/routing.md`): one object
/// per line with `prompt`, `feature`, `strong_score`, `weak_score` (0 to
/// 1), `strong_output_tokens`, `weak_output_tokens`, and optionally `id`
/// (default: `<file name>:<line>`) and `input_tokens` (default: estimated
/// from the prompt). Blank lines are skipped; any other line that is not
/// such a record is an error naming its line.
pub fn read_jsonl(path: &Path) -> Result<Vec<TrainRecord>, TrainError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| TrainError::Io {
        path: shown.clone(),
        source,
    })?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_start_matches('\u{feff}');
        if line.trim().is_empty() {
            continue;
        }
        let bad = |message: String| TrainError::Bad {
            path: shown.clone(),
            line: i + 1,
            message,
        };
        let r: JsonRecord =
            serde_json::from_str(line).map_err(|e| bad(format!("not a training record: {e}")))?;
        for (k, v) in [
            ("strong_score", r.strong_score),
            ("weak_score", r.weak_score),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(bad(format!("`{k}` {v} is outside 0 to 1")));
            }
        }
        if r.feature.is_empty() {
            return Err(bad("`feature` is empty".into()));
        }
        out.push(TrainRecord {
            id: r.id.unwrap_or_else(|| format!("{name}:{}", i + 1)),
            input_tokens: r.input_tokens.unwrap_or_else(|| {
                crate::classify::estimate_tokens(r.prompt.chars().count() as u64)
            }),
            feature: r.feature,
            prompt: r.prompt,
            strong_score: r.strong_score,
            weak_score: r.weak_score,
            strong_output_tokens: r.strong_output_tokens,
            weak_output_tokens: r.weak_output_tokens,
        });
    }
    Ok(out)
}

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

/// What training produced.
#[derive(Debug, Clone)]
pub struct TrainReport {
    /// The model.
    pub model: RouterModel,
    /// Per feature (name order), then the default (`*`).
    pub features: Vec<FeatureFit>,
    /// Records trained on.
    pub records: usize,
    /// Root-mean-square error of the out-of-fold gain predictions.
    pub gain_rmse: f64,
}

struct Rows {
    /// CSR: entries of row i are `idx[start[i]..start[i+1]]`.
    start: Vec<usize>,
    idx: Vec<u32>,
    val: Vec<f32>,
    lengths: Vec<[f64; LENGTH_FEATURES]>,
    dim: usize,
}

impl Rows {
    fn build(records: &[TrainRecord], hash_bits: u32) -> Rows {
        let mut r = Rows {
            start: vec![0],
            idx: Vec::new(),
            val: Vec::new(),
            lengths: Vec::with_capacity(records.len()),
            dim: 1 << hash_bits,
        };
        for rec in records {
            let (v, l) = feature_vector(&rec.prompt, hash_bits);
            for (b, x) in v {
                r.idx.push(b);
                r.val.push(x);
            }
            r.start.push(r.idx.len());
            r.lengths.push(l);
        }
        r
    }

    fn row(&self, i: usize) -> (&[u32], &[f32], [f64; LENGTH_FEATURES]) {
        let (a, b) = (
            self.start.get(i).copied().unwrap_or(0),
            self.start.get(i + 1).copied().unwrap_or(0),
        );
        (
            self.idx.get(a..b).unwrap_or_default(),
            self.val.get(a..b).unwrap_or_default(),
            self.lengths.get(i).copied().unwrap_or_default(),
        )
    }

    /// Columns: `dim` n-gram buckets, the length features, then the bias.
    fn cols(&self) -> usize {
        self.dim + LENGTH_FEATURES + 1
    }

    fn dot(&self, i: usize, w: &[f64]) -> f64 {
        let (idx, val, l) = self.row(i);
        let mut s = 0.0;
        for (b, x) in idx.iter().zip(val) {
            s += f64::from(*x) * w.get(*b as usize).copied().unwrap_or(0.0);
        }
        for (k, x) in l.iter().enumerate() {
            s += x * w.get(self.dim + k).copied().unwrap_or(0.0);
        }
        s + w.get(self.dim + LENGTH_FEATURES).copied().unwrap_or(0.0)
    }

    fn scatter(&self, i: usize, u: f64, out: &mut [f64]) {
        let (idx, val, l) = self.row(i);
        for (b, x) in idx.iter().zip(val) {
            if let Some(o) = out.get_mut(*b as usize) {
                *o += f64::from(*x) * u;
            }
        }
        for (k, x) in l.iter().enumerate() {
            if let Some(o) = out.get_mut(self.dim + k) {
                *o += x * u;
            }
        }
        if let Some(o) = out.get_mut(self.dim + LENGTH_FEATURES) {
            *o += u;
        }
    }
}

/// Ridge regression of `y` on the rows in `subset`, by preconditioned
/// conjugate gradient from zero (the bias column is not penalised).
fn ridge(rows: &Rows, subset: &[usize], y: &[f64], lambda: f64, iterations: usize) -> Vec<f64> {
    let n = rows.cols();
    let bias = n - 1;
    let penalty = |j: usize| if j == bias { 0.0 } else { lambda };
    // A v = X^T X v + lambda P v
    let apply = |v: &[f64], out: &mut Vec<f64>| {
        out.clear();
        out.resize(n, 0.0);
        for &i in subset {
            let u = rows.dot(i, v);
            rows.scatter(i, u, out);
        }
        for (j, (o, x)) in out.iter_mut().zip(v).enumerate() {
            *o += penalty(j) * x;
        }
    };
    let mut diag = vec![0.0f64; n];
    for &i in subset {
        let (idx, val, l) = rows.row(i);
        for (b, x) in idx.iter().zip(val) {
            if let Some(d) = diag.get_mut(*b as usize) {
                *d += f64::from(*x) * f64::from(*x);
            }
        }
        for (k, x) in l.iter().enumerate() {
            if let Some(d) = diag.get_mut(rows.dim + k) {
                *d += x * x;
            }
        }
        if let Some(d) = diag.get_mut(bias) {
            *d += 1.0;
        }
    }
    let inv: Vec<f64> = diag
        .iter()
        .enumerate()
        .map(|(j, d)| {
            let d = d + penalty(j);
            if d > 0.0 {
                1.0 / d
            } else {
                0.0
            }
        })
        .collect();
    let mut w = vec![0.0f64; n];
    let mut r = vec![0.0f64; n];
    for &i in subset {
        rows.scatter(i, y.get(i).copied().unwrap_or(0.0), &mut r);
    }
    let mut z: Vec<f64> = r.iter().zip(&inv).map(|(a, b)| a * b).collect();
    let mut p = z.clone();
    let mut rz: f64 = r.iter().zip(&z).map(|(a, b)| a * b).sum();
    let mut ap = Vec::with_capacity(n);
    for _ in 0..iterations {
        if rz <= 0.0 || !rz.is_finite() {
            break;
        }
        apply(&p, &mut ap);
        let pap: f64 = p.iter().zip(&ap).map(|(a, b)| a * b).sum();
        if pap <= 0.0 || !pap.is_finite() {
            break;
        }
        let alpha = rz / pap;
        for ((wj, pj), (rj, apj)) in w.iter_mut().zip(&p).zip(r.iter_mut().zip(&ap)) {
            *wj += alpha * pj;
            *rj -= alpha * apj;
        }
        for ((zj, rj), ij) in z.iter_mut().zip(&r).zip(&inv) {
            *zj = rj * ij;
        }
        let rz_new: f64 = r.iter().zip(&z).map(|(a, b)| a * b).sum();
        let beta = rz_new / rz;
        rz = rz_new;
        for (pj, zj) in p.iter_mut().zip(&z) {
            *pj = zj + beta * *pj;
        }
    }
    w
}

fn targets(records: &[TrainRecord]) -> [Vec<f64>; HEADS] {
    [
        records
            .iter()
            .map(|r| r.strong_score - r.weak_score)
            .collect(),
        records
            .iter()
            .map(|r| (r.strong_output_tokens as f64).ln_1p())
            .collect(),
        records
            .iter()
            .map(|r| (r.weak_output_tokens as f64).ln_1p())
            .collect(),
    ]
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

/// A prompt as the threshold search sees it.
#[derive(Debug, Clone, Copy)]
struct Point {
    score: f64,
    qs: f64,
    qw: f64,
    cs: f64,
    cw: f64,
}

/// Points sorted by score, highest first (ties in record order).
fn sorted(mut pts: Vec<(usize, Point)>) -> Vec<Point> {
    pts.sort_by(|a, b| b.1.score.total_cmp(&a.1.score).then(a.0.cmp(&b.0)));
    pts.into_iter().map(|(_, p)| p).collect()
}

/// Kept and cost with the top `k` on the strong model.
fn at_k(pts: &[Point], k: usize) -> CurvePoint {
    let (mut q, mut qs, mut c, mut cs) = (0.0, 0.0, 0.0, 0.0);
    for (i, p) in pts.iter().enumerate() {
        let strong = i < k;
        q += if strong { p.qs } else { p.qw };
        c += if strong { p.cs } else { p.cw };
        qs += p.qs;
        cs += p.cs;
    }
    CurvePoint {
        threshold: threshold_at(pts, k),
        strong_share: if pts.is_empty() {
            0.0
        } else {
            k as f64 / pts.len() as f64
        },
        kept: if qs > 0.0 { q / qs } else { 1.0 },
        saved: if cs > 0.0 { 1.0 - c / cs } else { 0.0 },
    }
}

/// The threshold that sends exactly the top `k` (up to ties): halfway
/// between the k-th score and the next.
fn threshold_at(pts: &[Point], k: usize) -> f64 {
    let s = |i: usize| pts.get(i).map(|p| p.score);
    let t = match (k.checked_sub(1).and_then(s), s(k)) {
        (Some(a), Some(b)) => (a + b) / 2.0,
        (None, Some(b)) => b + b.abs().max(1.0),
        (Some(a), None) => a - a.abs().max(1.0),
        (None, None) => 0.0,
    };
    // Six significant digits: the threshold is written into rules.
    round_sig(t)
}

fn round_sig(x: f64) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    let mag = x.abs().log10().floor() as i32;
    let scale = 10f64.powi(5 - mag);
    (x * scale).round() / scale
}

/// Kept and cost of routing `gain_per_usd >= t` to strong.
fn at_threshold(pts: &[Point], t: f64) -> CurvePoint {
    let k = pts.iter().take_while(|p| p.score >= t).count();
    CurvePoint {
        threshold: t,
        ..at_k(pts, k)
    }
}

/// The highest threshold at which the points keep `floor`.
fn floor_threshold(pts: &[Point], floor: f64) -> f64 {
    let total_qs: f64 = pts.iter().map(|p| p.qs).sum();
    let mut q: f64 = pts.iter().map(|p| p.qw).sum();
    for k in 0..=pts.len() {
        if total_qs <= 0.0 || q / total_qs >= floor - 1e-12 {
            // Rounding may move the threshold across a score: step down
            // until the rounded threshold keeps the floor.
            let t = threshold_at(pts, k);
            let got = at_threshold(pts, t);
            if got.kept >= floor - 1e-12 {
                return t;
            }
        }
        if let Some(p) = pts.get(k) {
            q += p.qs - p.qw;
        }
    }
    threshold_at(pts, pts.len())
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
    let point = |i: usize, r: &TrainRecord, score: f64| {
        (
            i,
            Point {
                score,
                qs: r.strong_score,
                qw: r.weak_score,
                cs: cost(&opts.strong_prices, r.input_tokens, r.strong_output_tokens),
                cw: cost(&opts.weak_prices, r.input_tokens, r.weak_output_tokens),
            },
        )
    };
    let mut groups: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, r) in records.iter().enumerate() {
        groups.entry(r.feature.as_str()).or_default().push(i);
    }
    let fit = |name: &str, members: &[usize], floor: f64| {
        let pick = |scores: &[f64]| {
            sorted(
                members
                    .iter()
                    .filter_map(|&i| {
                        let r = records.get(i)?;
                        Some(point(i, r, scores.get(i).copied().unwrap_or(0.0)))
                    })
                    .collect(),
            )
        };
        let (o, s) = (pick(&oof), pick(&fitted));
        let t = floor_threshold(&o, floor).min(floor_threshold(&s, floor));
        let n = o.len();
        FeatureFit {
            feature: name.to_owned(),
            records: n,
            floor,
            chosen: at_threshold(&o, t),
            in_sample: at_threshold(&s, t),
            curve: (0..=10).map(|d| at_k(&o, (n * d).div_ceil(10))).collect(),
        }
    };
    let mut features = Vec::new();
    for (name, members) in &groups {
        if members.len() < MIN_FEATURE_RECORDS {
            continue;
        }
        let floor = opts
            .floors
            .get(*name)
            .copied()
            .unwrap_or(opts.default_floor);
        features.push(fit(name, members, floor));
    }
    for f in opts.floors.keys() {
        if !groups.contains_key(f.as_str()) {
            return Err(TrainError::Invalid(format!(
                "`--floor {f}=...` names a feature no record has (features: {})",
                groups.keys().copied().collect::<Vec<_>>().join(", ")
            )));
        }
    }
    features.push(fit("*", &all, opts.default_floor));
    Ok(TrainReport {
        model,
        features,
        records: records.len(),
        gain_rmse: (sq / records.len() as f64).sqrt(),
    })
}

impl TrainReport {
    /// `[[route]]` rules sending each feature to the strong model above
    /// its threshold, for a router named `router` and a string attribute
    /// `feature`.
    pub fn rules(&self, router: &str, strong: &str) -> String {
        let mut s = String::new();
        for f in &self.features {
            if f.feature == "*" {
                let _ = writeln!(
                    s,
                    "[[route]]\nname = \"{router}-other\"\nwhen = '{router}.gain_per_usd >= {}'\nmodel = \"{strong}\"\n",
                    f.chosen.threshold
                );
            } else {
                let _ = writeln!(
                    s,
                    "[[route]]\nname = \"{router}-{}\"\nwhen = 'feature == \"{}\" && {router}.gain_per_usd >= {}'\nmodel = \"{strong}\"\n",
                    f.feature, f.feature, f.chosen.threshold
                );
            }
        }
        s
    }

    /// The report as text: per feature, the curve and the choice.
    pub fn to_text(&self) -> String {
        let m = &self.model;
        let mut s = format!(
            "{} records; model: 2^{} buckets, {} weights, {} bytes; out-of-fold gain RMSE {:.4}\n",
            self.records,
            m.hash_bits(),
            m.weight_count(),
            m.file_size(),
            self.gain_rmse
        );
        for f in &self.features {
            let name = if f.feature == "*" {
                "(all, default threshold)"
            } else {
                f.feature.as_str()
            };
            let _ = writeln!(
                s,
                "\nfeature {name}: {} records, floor {:.1}%",
                f.records,
                f.floor * 100.0
            );
            let _ = writeln!(
                s,
                "  {:>14} {:>8} {:>7} {:>7}",
                "gain_per_usd >=", "strong%", "kept%", "saved%"
            );
            for p in &f.curve {
                let _ = writeln!(
                    s,
                    "  {:>15} {:>8.1} {:>7.1} {:>7.1}",
                    p.threshold,
                    p.strong_share * 100.0,
                    p.kept * 100.0,
                    p.saved * 100.0
                );
            }
            let _ = writeln!(
                s,
                "  chosen {}: out-of-fold {:.1}% strong, {:.1}% kept, {:.1}% saved; fitted {:.1}% strong, {:.1}% kept, {:.1}% saved",
                f.chosen.threshold,
                f.chosen.strong_share * 100.0,
                f.chosen.kept * 100.0,
                f.chosen.saved * 100.0,
                f.in_sample.strong_share * 100.0,
                f.in_sample.kept * 100.0,
                f.in_sample.saved * 100.0
            );
        }
        s
    }

    /// The report as one JSON object.
    pub fn to_json(&self) -> Value {
        let pt = |p: &CurvePoint| {
            json!({"threshold": p.threshold, "strong_share": p.strong_share,
                   "quality_kept": p.kept, "saved": p.saved})
        };
        json!({
            "records": self.records,
            "hash_bits": self.model.hash_bits(),
            "weights": self.model.weight_count(),
            "file_bytes": self.model.file_size(),
            "gain_rmse": self.gain_rmse,
            "features": self.features.iter().map(|f| json!({
                "feature": f.feature,
                "records": f.records,
                "floor": f.floor,
                "chosen": pt(&f.chosen),
                "in_sample": pt(&f.in_sample),
                "curve": f.curve.iter().map(pt).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        })
    }
}
