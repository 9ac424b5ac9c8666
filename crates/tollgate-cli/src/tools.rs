//! `tollgate diff` and `tollgate bench`.

use crate::engine::Engine;
use crate::load;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;
use tollgate_engine::rule_name;
use tollgate_engine::synth::Rng;
use tollgate_engine::Request;
use tollgate_lang::Section;
use tollgate_lang::{Policy, Type};
use tollgate_lang::{TExpr, TKind};

fn read_lines(path: &Path) -> Result<Vec<(usize, String)>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    Ok(text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim_end_matches('\r').to_string()))
        .filter(|(_, l)| !l.trim().is_empty())
        .collect())
}

#[derive(Default)]
struct PairCount {
    count: usize,
    lines: Vec<usize>,
}

/// The `diff` arguments.
#[derive(clap::Args)]
pub struct DiffArgs {
    /// The policy in force.
    old: PathBuf,
    /// The candidate policy.
    new: PathBuf,
    /// JSON Lines requests to decide with both.
    #[arg(long)]
    requests: PathBuf,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// Decide every request with both policies; count differences per section.
pub fn diff(a: DiffArgs) -> Result<bool, String> {
    let (old, new, requests, json) = (&a.old, &a.new, &a.requests, a.json);
    let (Some(a), Some(b)) = (load(old), load(new)) else {
        return Ok(false);
    };
    let (pa, pb) = (&a.policy, &b.policy);
    let (ea, eb) = (Engine::new(pa.clone())?, Engine::new(pb.clone())?);
    let lines = read_lines(requests)?;
    let mut pairs: BTreeMap<(&'static str, String, String), PairCount> = BTreeMap::new();
    let mut changed = 0usize;
    let mut bad = Vec::new();
    let mut total = 0usize;
    for (n, line) in &lines {
        let (ra, rb) = match (
            Request::parse(pa.schema(), line),
            Request::parse(pb.schema(), line),
        ) {
            (Ok(x), Ok(y)) => (x, y),
            (Err(e), _) | (_, Err(e)) => {
                bad.push((*n, e.to_string()));
                continue;
            }
        };
        total += 1;
        let (ca, cb) = (ra.context(pa.schema()), rb.context(pb.schema()));
        let (da, db) = (ea.decide(&ca), eb.decide(&cb));
        let mut any = false;
        for sec in Section::ALL {
            let (x, y) = (
                rule_name(pa, sec, da.rule(sec)),
                rule_name(pb, sec, db.rule(sec)),
            );
            if x != y {
                any = true;
                let e = pairs
                    .entry((sec.name(), x.to_string(), y.to_string()))
                    .or_default();
                e.count += 1;
                if e.lines.len() < 5 {
                    e.lines.push(*n);
                }
            }
        }
        let (ma, mb) = (
            pa.model(da.model).map(|m| m.alias.as_str()).unwrap_or(""),
            pb.model(db.model).map(|m| m.alias.as_str()).unwrap_or(""),
        );
        if ma != mb {
            any = true;
            let e = pairs
                .entry(("model", ma.to_string(), mb.to_string()))
                .or_default();
            e.count += 1;
            if e.lines.len() < 5 {
                e.lines.push(*n);
            }
        }
        if any {
            changed += 1;
        }
    }
    if json {
        let mut sections = serde_json::Map::new();
        for ((sec, x, y), c) in &pairs {
            let entry = sections
                .entry(sec.to_string())
                .or_insert_with(|| serde_json::json!({"changed": 0, "pairs": []}));
            if let Some(o) = entry.as_object_mut() {
                let prev = o.get("changed").and_then(|v| v.as_u64()).unwrap_or(0);
                o.insert("changed".into(), (prev + c.count as u64).into());
                if let Some(p) = o.get_mut("pairs").and_then(|p| p.as_array_mut()) {
                    p.push(serde_json::json!({"old": x, "new": y, "count": c.count, "example_lines": c.lines}));
                }
            }
        }
        let out = serde_json::json!({
            "old": {"policy": pa.name(), "hash": pa.hash_hex()},
            "new": {"policy": pb.name(), "hash": pb.hash_hex()},
            "requests": total,
            "changed": changed,
            "sections": sections,
            "bad_lines": bad.iter().map(|(n, e)| serde_json::json!({"line": n, "error": e})).collect::<Vec<_>>(),
        });
        println!("{out}");
    } else {
        println!(
            "{changed} of {total} requests decided differently ({} -> {})",
            old.display(),
            new.display()
        );
        let mut current = "";
        for ((sec, x, y), c) in &pairs {
            if *sec != current {
                current = sec;
                let n: usize = pairs
                    .iter()
                    .filter(|((s, _, _), _)| s == sec)
                    .map(|(_, c)| c.count)
                    .sum();
                println!("\n{sec}: {n} changed");
            }
            let lines: Vec<String> = c.lines.iter().map(|l| l.to_string()).collect();
            println!("  {x} -> {y}: {} (lines {})", c.count, lines.join(", "));
        }
        for (n, e) in &bad {
            eprintln!("{}:{n}: {e}", requests.display());
        }
    }
    Ok(bad.is_empty())
}

/// A random element of `v`.
fn pick<T: Clone>(rng: &mut Rng, v: &[T]) -> Option<T> {
    v.get(rng.below(v.len() as u64) as usize).cloned()
}

/// Requests built from the literals the policy compares attributes with.
pub fn generate(policy: &Policy, count: usize) -> Vec<Request> {
    let mut strs: BTreeMap<u32, Vec<String>> = BTreeMap::new();
    let mut ints: BTreeMap<u32, Vec<i64>> = BTreeMap::new();
    let mut visit = |e: &TExpr| {
        let mut attr = None;
        e.walk(&mut |n| match &n.kind {
            TKind::Attr(a) => attr = Some(a.get()),
            TKind::Str(s) => {
                if let Some(a) = attr {
                    strs.entry(a).or_default().push(s.to_string());
                }
            }
            TKind::Int(i) => {
                if let Some(a) = attr {
                    let v = ints.entry(a).or_default();
                    v.extend([*i - 1, *i, *i + 1]);
                }
            }
            _ => {}
        });
    };
    for sec in Section::ALL {
        for (_, when, _) in policy.section_rules(sec) {
            if let Some(w) = when {
                visit(w);
            }
        }
    }
    let mut rng = Rng::new(0x9E37_79B9_7F4A_7C15);
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let mut req = Request::default();
        for (id, def) in policy.schema().iter() {
            if rng.below(8) == 0 {
                continue; // sometimes missing
            }
            use tollgate_engine::Owned;
            let v = match def.ty {
                Type::Bool => Some(Owned::Bool(rng.below(2) == 0)),
                Type::Int => Some(Owned::Int(
                    pick(
                        &mut rng,
                        ints.get(&id.get()).map(Vec::as_slice).unwrap_or(&[]),
                    )
                    .unwrap_or(rng.below(20_000) as i64),
                )),
                Type::Float => Some(Owned::Float(rng.below(1000) as f64 / 10.0)),
                Type::String => Some(Owned::Str(
                    pick(
                        &mut rng,
                        strs.get(&id.get()).map(Vec::as_slice).unwrap_or(&[]),
                    )
                    .unwrap_or_else(|| format!("v{}", rng.below(10))),
                )),
                Type::List(tollgate_lang::Elem::String) => {
                    let n = rng.below(4);
                    Some(Owned::StrList((0..n).map(|i| format!("doc-{i}")).collect()))
                }
                Type::List(_) => Some(Owned::IntList(vec![1, 2, 3])),
                Type::StrMap => Some(Owned::StrMap(vec![(
                    "team".to_string(),
                    format!("v{}", rng.below(10)),
                )])),
                Type::IntMap => Some(Owned::IntMap(vec![(
                    "quota".to_string(),
                    rng.below(10) as i64,
                )])),
                // Some hour of 2026-01-05 (a Monday), UTC.
                Type::Timestamp => {
                    tollgate_lang::Timestamp::new(1_767_571_200 + rng.below(24) as i64 * 3600, 0)
                        .map(Owned::Timestamp)
                }
                Type::Duration => None,
            };
            if let Some(v) = v {
                req.values.insert(id, v);
            }
        }
        out.push(req);
    }
    out
}

/// The `bench` arguments.
#[derive(clap::Args)]
pub struct BenchArgs {
    /// Policy file or directory.
    path: PathBuf,
    /// JSON Lines requests (default: generated from the policy's literals).
    #[arg(long)]
    requests: Option<PathBuf>,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
    /// Generated requests when no file is given.
    #[arg(long, default_value_t = 1000)]
    count: usize,
}

/// Time context build + decide per request; print median, p99, throughput.
pub fn bench(a: BenchArgs) -> Result<bool, String> {
    let (path, requests, json, count) = (&a.path, a.requests.as_deref(), a.json, a.count);
    let Some(l) = load(path) else {
        return Ok(false);
    };
    let policy = &l.policy;
    let engine = Engine::new(policy.clone())?;
    let reqs: Vec<Request> = match requests {
        Some(p) => read_lines(p)?
            .iter()
            .map(|(n, line)| {
                Request::parse(policy.schema(), line)
                    .map_err(|e| format!("{}:{n}: {e}", p.display()))
            })
            .collect::<Result<_, _>>()?,
        None => generate(policy, count.max(1)),
    };
    if reqs.is_empty() {
        return Err("no requests to time".into());
    }
    // Each sample times REPS back-to-back decisions of one request, so the
    // clock's own cost is spread thin.
    const REPS: u32 = 64;
    let rounds = (200_000 / reqs.len()).clamp(3, 1000);
    let mut samples = Vec::with_capacity(rounds * reqs.len());
    let started = Instant::now();
    let mut decisions = 0u64;
    for _ in 0..rounds {
        for r in &reqs {
            let t = Instant::now();
            for _ in 0..REPS {
                let ctx = std::hint::black_box(r).context(policy.schema());
                std::hint::black_box(engine.decide(&ctx));
            }
            samples.push(t.elapsed().as_nanos() as f64 / f64::from(REPS));
            decisions += u64::from(REPS);
        }
    }
    let secs = started.elapsed().as_secs_f64();
    samples.sort_by(|a, b| a.total_cmp(b));
    let at = |q: f64| {
        samples
            .get(((samples.len() as f64 - 1.0) * q).round() as usize)
            .copied()
            .unwrap_or(0.0)
    };
    let (median, p99) = (at(0.5), at(0.99));
    let per_sec = decisions as f64 / secs;
    if json {
        println!(
            "{}",
            serde_json::json!({"median_ns": median.round(), "p99_ns": p99.round(), "decisions_per_sec": per_sec.round(), "requests": reqs.len(), "rules": policy.rule_count()})
        );
    } else {
        println!(
            "policy `{}`: {} rules, {} requests x {rounds} rounds",
            policy.name(),
            policy.rule_count(),
            reqs.len()
        );
        println!("context build + decide(): median {median:.0} ns, p99 {p99:.0} ns, {per_sec:.0} decisions/s");
    }
    Ok(true)
}
