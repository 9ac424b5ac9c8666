//! Threshold search for `route-train`: per feature, the prompts sorted by
//! the router's score go to the strong model from the top; a threshold is
//! where that prefix ends.
//!
//! Two ways to choose the prefixes:
//!
//! - [`floor_threshold`]: per feature, the cheapest prefix keeping the
//!   feature's own floor.
//! - [`joint`]: one prefix per feature chosen together, to minimise the
//!   total cost subject to the quality kept over all features together
//!   reaching a target *and* every feature keeping its own floor. It walks
//!   a Lagrange multiplier (the price of a unit of quality, in cost units):
//!   at a given price each feature independently takes the prefix that
//!   minimises `cost - price x quality` among those keeping its floor, and
//!   the smallest price whose choices reach the target is found by
//!   bisection. Prompts are thus bought in order of quality per extra cost
//!   across features, except where a floor forces more.

use crate::route_train::CurvePoint;

/// A prompt as the threshold search sees it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Point {
    /// The router's score (`gain_per_usd`).
    pub score: f64,
    /// Strong model's quality.
    pub qs: f64,
    /// Weak model's quality.
    pub qw: f64,
    /// Strong model's cost.
    pub cs: f64,
    /// Weak model's cost.
    pub cw: f64,
}

/// Points sorted by score, highest first (ties in record order).
pub(crate) fn sorted(mut pts: Vec<(usize, Point)>) -> Vec<Point> {
    pts.sort_by(|a, b| b.1.score.total_cmp(&a.1.score).then(a.0.cmp(&b.0)));
    pts.into_iter().map(|(_, p)| p).collect()
}

/// Kept and cost with the top `k` on the strong model.
pub(crate) fn at_k(pts: &[Point], k: usize) -> CurvePoint {
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
pub(crate) fn threshold_at(pts: &[Point], k: usize) -> f64 {
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
pub(crate) fn at_threshold(pts: &[Point], t: f64) -> CurvePoint {
    let k = pts.iter().take_while(|p| p.score >= t).count();
    CurvePoint {
        threshold: t,
        ..at_k(pts, k)
    }
}

/// The highest threshold at which the points keep `floor`.
pub(crate) fn floor_threshold(pts: &[Point], floor: f64) -> f64 {
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

/// Whether the threshold of the top `k` sends exactly those `k` (it does
/// not when scores tie across the cut or rounding crosses a score).
fn exact(pts: &[Point], k: usize) -> bool {
    let t = threshold_at(pts, k);
    let above = k.checked_sub(1).and_then(|i| pts.get(i)).map(|p| p.score);
    let below = pts.get(k).map(|p| p.score);
    above.is_none_or(|a| t <= a) && below.is_none_or(|b| t > b)
}

/// A feature's candidate prefixes: `(k, quality, cost)` for every exact
/// cut that keeps `floor`.
fn candidates(pts: &[Point], floor: f64) -> Vec<(usize, f64, f64)> {
    let total_qs: f64 = pts.iter().map(|p| p.qs).sum();
    let mut q: f64 = pts.iter().map(|p| p.qw).sum();
    let mut c: f64 = pts.iter().map(|p| p.cw).sum();
    let mut out = Vec::new();
    for k in 0..=pts.len() {
        let keeps = total_qs <= 0.0 || q / total_qs >= floor - 1e-12;
        if keeps && exact(pts, k) {
            out.push((k, q, c));
        }
        if let Some(p) = pts.get(k) {
            q += p.qs - p.qw;
            c += p.cs - p.cw;
        }
    }
    out
}

/// Per feature, the candidate minimising `cost - price x quality` (ties:
/// the cheaper), or `None` when no cut keeps the floor.
fn choose(cands: &[Vec<(usize, f64, f64)>], price: f64) -> Vec<Option<(usize, f64, f64)>> {
    cands
        .iter()
        .map(|c| {
            c.iter().copied().min_by(|a, b| {
                (a.2 - price * a.1)
                    .total_cmp(&(b.2 - price * b.1))
                    .then(a.2.total_cmp(&b.2))
            })
        })
        .collect()
}

fn total_quality(chosen: &[Option<(usize, f64, f64)>]) -> f64 {
    chosen.iter().flatten().map(|c| c.1).sum()
}

/// The joint choice (see the module docs): for each feature (its points
/// sorted by score, and its floor), the threshold of its prefix, so that
/// together the features keep `target` of all-strong quality at the least
/// total cost the multiplier walk finds. A feature no cut of which keeps
/// its floor gets the threshold sending all of it to the strong model.
pub(crate) fn joint(features: &[(&[Point], f64)], target: f64) -> Vec<f64> {
    let cands: Vec<_> = features
        .iter()
        .map(|(pts, floor)| candidates(pts, *floor))
        .collect();
    let all_strong: f64 = features
        .iter()
        .flat_map(|(pts, _)| pts.iter())
        .map(|p| p.qs)
        .sum();
    let need = target * all_strong - 1e-9;
    let reaches = |price: f64| total_quality(&choose(&cands, price)) >= need;
    if reaches(0.0) {
        return thresholds(features, &choose(&cands, 0.0));
    }
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    // Doubling stops: at a price above every cost gap per quality gap,
    // each feature takes its best-quality cut, which reaches any target
    // up to 100 %.
    for _ in 0..200 {
        if reaches(hi) {
            break;
        }
        lo = hi;
        hi *= 2.0;
    }
    for _ in 0..100 {
        let mid = lo + (hi - lo) / 2.0;
        if reaches(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    let (below, above) = (choose(&cands, lo), choose(&cands, hi));
    thresholds(features, &fill(&cands, below, &above, need))
}

/// From the choice just below the price that reaches the target towards
/// the one at it: the multiplier only finds corners, and one feature's
/// step between corners may overshoot, so the features that differ walk
/// their cuts one by one until the target is reached.
fn fill(
    cands: &[Vec<(usize, f64, f64)>],
    mut current: Vec<Option<(usize, f64, f64)>>,
    above: &[Option<(usize, f64, f64)>],
    need: f64,
) -> Vec<Option<(usize, f64, f64)>> {
    for (i, (c, target)) in cands.iter().zip(above).enumerate() {
        let from = current.get(i).copied().flatten();
        if from == *target {
            continue;
        }
        let (lo, hi) = (from.map_or(0, |f| f.0), target.map_or(0, |t| t.0));
        for step in c.iter().filter(|s| s.0 > lo && s.0 <= hi) {
            if let Some(slot) = current.get_mut(i) {
                *slot = Some(*step);
            }
            if total_quality(&current) >= need {
                return current;
            }
        }
        if let Some(slot) = current.get_mut(i) {
            *slot = *target;
        }
    }
    current
}

fn thresholds(features: &[(&[Point], f64)], chosen: &[Option<(usize, f64, f64)>]) -> Vec<f64> {
    chosen
        .iter()
        .zip(features)
        .map(|(c, (pts, _))| threshold_at(pts, c.map_or(pts.len(), |c| c.0)))
        .collect()
}

/// Sums over the points with `t` as threshold: (to strong, routed quality,
/// all-strong quality, routed cost, all-strong cost).
pub(crate) fn totals(pts: &[Point], t: f64) -> [f64; 5] {
    let mut s = [0.0; 5];
    for p in pts {
        let strong = p.score >= t;
        s[0] += f64::from(u8::from(strong));
        s[1] += if strong { p.qs } else { p.qw };
        s[2] += p.qs;
        s[3] += if strong { p.cs } else { p.cw };
        s[4] += p.cs;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Scores 4, 3, 2, 1; the top two need the strong model (the weak one
    /// scores 0 there), the others do not; the strong model costs
    /// `strong_cost`, the weak one 1.
    fn feature(strong_cost: f64) -> Vec<Point> {
        (0..4)
            .map(|i| Point {
                score: f64::from(4 - i),
                qs: 1.0,
                qw: if i < 2 { 0.0 } else { 1.0 },
                cs: strong_cost,
                cw: 1.0,
            })
            .collect()
    }

    #[test]
    fn the_joint_choice_buys_quality_where_it_is_cheapest() {
        let (cheap, dear) = (feature(10.0), feature(100.0));
        // Together 8 of 8 at all-strong, 4 at all-weak: 75 % needs two of
        // the four prompts that need the strong model; the cheap feature's
        // two cost 9 more each, the dear one's 99.
        let t = joint(&[(&cheap, 0.5), (&dear, 0.5)], 0.75);
        assert_eq!(t, [2.5, 8.0]);
        // A floor of 100 % forces the dear feature's two instead.
        let t = joint(&[(&cheap, 0.5), (&dear, 1.0)], 0.75);
        assert_eq!(t, [8.0, 2.5]);
        // A floor of 75 % takes one of each.
        let t = joint(&[(&cheap, 0.5), (&dear, 0.75)], 0.75);
        assert_eq!(t, [3.5, 3.5]);
        // Each 75 % floor on its own: one each as well.
        let each = [floor_threshold(&cheap, 0.75), floor_threshold(&dear, 0.75)];
        assert_eq!(each, [3.5, 3.5]);
        assert_eq!(totals(&cheap, 2.5), [2.0, 4.0, 4.0, 22.0, 40.0]);
        // A target all-weak already keeps sends nothing to the strong model.
        assert_eq!(joint(&[(&cheap, 0.0), (&dear, 0.0)], 0.5), [8.0, 8.0]);
        // The target can always be met: at 100 % everything goes strong.
        assert_eq!(joint(&[(&cheap, 0.0), (&dear, 0.0)], 1.0), [2.5, 2.5]);
    }
}
