//! Reading criterion's medians back, so each bench can print the
//! comparison it exists for.
#![allow(dead_code)]

/// Median of one benchmark from criterion's saved estimates, in ns.
pub fn median(id: &str) -> Option<f64> {
    let dir = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
    let candidates = [
        format!("{dir}/criterion/{id}/new/estimates.json"),
        format!("../../{dir}/criterion/{id}/new/estimates.json"),
    ];
    let text = candidates
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v.get("median")?.get("point_estimate")?.as_f64()
}

/// A duration in ns, readable.
pub fn show(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.1} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{ns:.1} ns")
    }
}

/// A rate per second from ns per item.
pub fn per_sec(ns: f64) -> String {
    let r = 1e9 / ns;
    if r >= 1e6 {
        format!("{:.2} M/s", r / 1e6)
    } else {
        format!("{:.0} k/s", r / 1e3)
    }
}

/// "meets" / "MISSES" against a goal.
pub fn verdict(ok: bool) -> &'static str {
    if ok {
        "meets the goal"
    } else {
        "MISSES the goal"
    }
}
