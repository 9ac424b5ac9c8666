//! The regression: sparse hashed features per record, ridge regression by
//! conjugate gradients, one target per head.

use super::*;

pub(super) struct Rows {
    /// CSR: entries of row i are `idx[start[i]..start[i+1]]`.
    start: Vec<usize>,
    idx: Vec<u32>,
    val: Vec<f32>,
    lengths: Vec<[f64; LENGTH_FEATURES]>,
    pub(super) dim: usize,
}

impl Rows {
    pub(super) fn build(records: &[TrainRecord], hash_bits: u32) -> Rows {
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

    pub(super) fn row(&self, i: usize) -> (&[u32], &[f32], [f64; LENGTH_FEATURES]) {
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
    pub(super) fn cols(&self) -> usize {
        self.dim + LENGTH_FEATURES + 1
    }

    pub(super) fn dot(&self, i: usize, w: &[f64]) -> f64 {
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

    pub(super) fn scatter(&self, i: usize, u: f64, out: &mut [f64]) {
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
pub(super) fn ridge(
    rows: &Rows,
    subset: &[usize],
    y: &[f64],
    lambda: f64,
    iterations: usize,
) -> Vec<f64> {
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

pub(super) fn targets(records: &[TrainRecord]) -> [Vec<f64>; HEADS] {
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
