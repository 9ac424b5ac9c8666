//! `route-train`'s report: the `[[route]]` rules it prints, and the report
//! as text and as JSON.

use crate::route_train::{CurvePoint, Totals, TrainReport};
use serde_json::{json, Value};
use std::fmt::Write as _;

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
                // `FEATURE/SUBJECT`: a feature's records of one subject.
                let cond = match f.feature.split_once('/') {
                    Some((feat, sub)) => format!("feature == \"{feat}\" && subject == \"{sub}\""),
                    None => format!("feature == \"{}\"", f.feature),
                };
                let _ = writeln!(
                    s,
                    "[[route]]\nname = \"{router}-{}\"\nwhen = '{cond} && {router}.gain_per_usd >= {}'\nmodel = \"{strong}\"\n",
                    f.feature.replace('/', "-"), f.chosen.threshold
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
        if let Some(j) = &self.joint {
            let _ = writeln!(
                s,
                "features together, target {:.1}% kept: out-of-fold {:.1}% strong, {:.1}% kept, {:.1}% saved; fitted {:.1}% strong, {:.1}% kept, {:.1}% saved",
                j.target * 100.0,
                j.chosen.strong_share * 100.0,
                j.chosen.kept * 100.0,
                j.chosen.saved * 100.0,
                j.in_sample.strong_share * 100.0,
                j.in_sample.kept * 100.0,
                j.in_sample.saved * 100.0
            );
        }
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
            "joint": self.joint.map(|j| {
                let t = |t: &Totals| json!({"strong_share": t.strong_share,
                    "quality_kept": t.kept, "saved": t.saved});
                json!({"target": j.target, "chosen": t(&j.chosen), "in_sample": t(&j.in_sample)})
            }),
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
