//! Decision benchmarks: the compiled engine against the reference
//! interpreter and against cel-interpreter on the same rules, in one run.
//!
//! Every measured iteration builds the request's context (setting slots from
//! borrowed values, as an application does) and decides. cel-interpreter
//! gets the same rules compiled once, a context built per request, and the
//! rules evaluated in order until one is true (first match).
//!
//! Run: `cargo bench --bench decide` (add `-- route50` to filter). The last
//! lines printed are the comparison table, read from criterion's estimates.

use criterion::{criterion_group, BenchmarkId, Criterion};
use std::hint::black_box;
use std::time::Duration;
use tollgate::engine::synth::{policy_text, request_json, Rng, SynthOptions};
use tollgate::engine::{compile, CompiledPolicy};
use tollgate::engine::{decide_reference, Context, Request, Slot};
use tollgate::lang::{load_str, LoadOptions, Policy};

struct Workload {
    policy: Policy,
    compiled: CompiledPolicy,
    requests: Vec<Request>,
}

impl Workload {
    fn new(text: &str, requests: Vec<String>) -> Workload {
        let policy = match load_str("bench.toml", text, &LoadOptions::default()) {
            Ok(l) => l.policy,
            Err(e) => panic!("bench policy does not load:\n{}", e.render()),
        };
        let compiled = compile(policy.clone()).unwrap_or_else(|e| panic!("compile: {e}"));
        let requests = requests
            .iter()
            .map(|r| Request::parse(policy.schema(), r).unwrap_or_else(|e| panic!("{e}: {r}")))
            .collect();
        Workload {
            policy,
            compiled,
            requests,
        }
    }

    fn synthetic(n: usize, string_functions: bool) -> Workload {
        let text = policy_text(SynthOptions {
            routes: n,
            string_functions,
            seed: 42,
        });
        let mut rng = Rng::new(7);
        let reqs = (0..512).map(|_| request_json(&mut rng, n)).collect();
        Workload::new(&text, reqs)
    }

    /// Each request as (slot, value) pairs borrowed from the owned request:
    /// what an application holds before it builds a context.
    fn slots(&self) -> Vec<Vec<(tollgate::lang::AttrId, Slot<'_>)>> {
        self.requests
            .iter()
            .map(|r| {
                let ctx = r.context(self.policy.schema());
                // A context has one slot per schema attribute, in id order.
                self.policy
                    .schema()
                    .iter()
                    .map(|(id, _)| id)
                    .zip(ctx.slots().iter().copied())
                    .filter(|(_, s)| !matches!(s, Slot::Missing))
                    .collect()
            })
            .collect()
    }
}

fn build<'a>(policy: &'a Policy, slots: &[(tollgate::lang::AttrId, Slot<'a>)]) -> Context<'a> {
    let mut ctx = Context::new(policy.schema());
    for (id, v) in slots {
        let _ = ctx.set(*id, *v);
    }
    ctx
}

/// cel-interpreter over the same rules: one program per route rule.
struct Cel {
    programs: Vec<cel_interpreter::Program>,
}

impl Cel {
    fn new(policy: &Policy) -> Cel {
        let programs = policy
            .routes
            .iter()
            .map(|r| {
                let text = r
                    .when
                    .as_ref()
                    .map(|w| policy.sources().snippet(w.span).to_string())
                    .unwrap_or_else(|| "true".into());
                cel_interpreter::Program::compile(&text)
                    .unwrap_or_else(|e| panic!("cel: {e:?}: {text}"))
            })
            .collect();
        Cel { programs }
    }

    fn context(policy: &Policy, req: &Request) -> cel_interpreter::Context<'static> {
        use cel_interpreter::Value as V;
        use std::collections::HashMap;
        use std::sync::Arc;
        let mut ctx = cel_interpreter::Context::default();
        let mut maps: HashMap<String, HashMap<String, V>> = HashMap::new();
        for (id, v) in &req.values {
            let v = match v {
                tollgate::engine::Owned::Bool(b) => V::Bool(*b),
                tollgate::engine::Owned::Int(i) => V::Int(*i),
                tollgate::engine::Owned::Float(f) => V::Float(*f),
                tollgate::engine::Owned::Str(s) => V::String(Arc::new(s.clone())),
                tollgate::engine::Owned::StrList(l) => V::List(Arc::new(
                    l.iter().map(|s| V::String(Arc::new(s.clone()))).collect(),
                )),
                tollgate::engine::Owned::IntList(l) => {
                    V::List(Arc::new(l.iter().map(|i| V::Int(*i)).collect()))
                }
                tollgate::engine::Owned::StrMap(m) => {
                    let mut h: HashMap<String, V> = HashMap::new();
                    for (k, x) in m {
                        h.entry(k.clone())
                            .or_insert_with(|| V::String(Arc::new(x.clone())));
                    }
                    h.into()
                }
                tollgate::engine::Owned::IntMap(m) => {
                    let mut h: HashMap<String, V> = HashMap::new();
                    for (k, x) in m {
                        h.entry(k.clone()).or_insert(V::Int(*x));
                    }
                    h.into()
                }
                // Printed as RFC 3339, which always reads back.
                tollgate::engine::Owned::Timestamp(t) => V::Timestamp(
                    t.to_string()
                        .parse()
                        .unwrap_or_else(|e| panic!("timestamp {t}: {e}")),
                ),
            };
            let name = policy.schema().name(*id);
            match name.split_once('.') {
                Some((head, tail)) => {
                    maps.entry(head.to_string())
                        .or_default()
                        .insert(tail.to_string(), v);
                }
                None => ctx.add_variable_from_value(name.to_string(), v),
            }
        }
        for (k, m) in maps {
            ctx.add_variable_from_value(k, m);
        }
        ctx
    }

    fn first_match(&self, ctx: &cel_interpreter::Context<'_>) -> Option<usize> {
        self.programs
            .iter()
            .position(|p| matches!(p.execute(ctx), Ok(cel_interpreter::Value::Bool(true))))
    }
}

fn bench_example(c: &mut Criterion) {
    let text = std::fs::read_to_string("rules/example.toml").unwrap_or_else(|e| panic!("{e}"));
    let reqs =
        std::fs::read_to_string("examples/requests/sample.jsonl").unwrap_or_else(|e| panic!("{e}"));
    let w = Workload::new(
        &text,
        reqs.lines()
            .filter(|l| !l.trim().is_empty())
            .map(String::from)
            .collect(),
    );
    let slots = w.slots();
    let mut g = c.benchmark_group("example");
    g.bench_function("tollgate", |b| {
        let mut i = 0usize;
        b.iter(|| {
            i = (i + 1) % slots.len();
            let ctx = build(&w.policy, &slots[i]);
            black_box(w.compiled.decide(black_box(&ctx)))
        })
    });
    g.bench_function("reference", |b| {
        let mut i = 0usize;
        b.iter(|| {
            i = (i + 1) % slots.len();
            let ctx = build(&w.policy, &slots[i]);
            black_box(decide_reference(&w.policy, black_box(&ctx)))
        })
    });
    g.finish();
}

/// Route section only: the engines compared on exactly the same rules.
fn route_only(
    w: &Workload,
    slots: &[Vec<(tollgate::lang::AttrId, Slot<'_>)>],
    i: usize,
) -> Option<u32> {
    let ctx = build(&w.policy, &slots[i]);
    w.compiled.decide(black_box(&ctx)).route.map(|r| r.get())
}

fn bench_scale(c: &mut Criterion) {
    for (group, sizes, cel_max) in [
        ("route50", vec![50usize], 50usize),
        ("scale", vec![10, 100, 1_000, 10_000], 1_000),
    ] {
        let mut g = c.benchmark_group(group);
        g.warm_up_time(Duration::from_millis(500));
        g.measurement_time(Duration::from_secs(2));
        for n in sizes {
            let w = Workload::synthetic(n, true);
            let slots = w.slots();
            g.bench_with_input(BenchmarkId::new("tollgate", n), &n, |b, _| {
                let mut i = 0usize;
                b.iter(|| {
                    i = (i + 1) % slots.len();
                    black_box(route_only(&w, &slots, i))
                })
            });
            if n <= 1_000 {
                g.bench_with_input(BenchmarkId::new("reference", n), &n, |b, _| {
                    let mut i = 0usize;
                    b.iter(|| {
                        i = (i + 1) % slots.len();
                        let ctx = build(&w.policy, &slots[i]);
                        let r = w
                            .policy
                            .routes
                            .iter()
                            .position(|r| tollgate::engine::holds(r.when.as_ref(), &ctx));
                        black_box(r)
                    })
                });
            }
            if n <= cel_max {
                let cel = Cel::new(&w.policy);
                // Same answers as tollgate, or the comparison means nothing.
                for (k, req) in w.requests.iter().enumerate().take(64) {
                    let ours = route_only(&w, &slots, k).map(|r| r as usize);
                    let theirs = cel.first_match(&Cel::context(&w.policy, req));
                    assert_eq!(ours, theirs, "cel-interpreter disagrees on request {k}");
                }
                g.bench_with_input(BenchmarkId::new("cel-interpreter", n), &n, |b, _| {
                    let mut i = 0usize;
                    b.iter(|| {
                        i = (i + 1) % w.requests.len();
                        let ctx = Cel::context(&w.policy, &w.requests[i]);
                        black_box(cel.first_match(&ctx))
                    })
                });
            }
        }
        g.finish();
    }
}

fn bench_load(c: &mut Criterion) {
    let text = policy_text(SynthOptions {
        routes: 10_000,
        string_functions: false,
        seed: 42,
    });
    let mut g = c.benchmark_group("load10k");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(5));
    g.bench_function("parse_check", |b| {
        b.iter(|| {
            black_box(load_str("bench.toml", black_box(&text), &LoadOptions::default()).is_ok())
        })
    });
    g.bench_function("parse_check_compile", |b| {
        b.iter(|| {
            let p = load_str("bench.toml", black_box(&text), &LoadOptions::default())
                .unwrap_or_else(|e| panic!("{}", e.render()))
                .policy;
            black_box(compile(p).is_ok())
        })
    });
    g.finish();
}

/// Reload of the example policy: read, parse, check, compile, run its 26
/// test cases, swap. The file alternates between two versions so that every
/// reload installs a new policy.
fn bench_reload(c: &mut Criterion) {
    let text = std::fs::read_to_string("rules/example.toml").unwrap_or_else(|e| panic!("{e}"));
    let dir = std::env::temp_dir().join(format!("tollgate-bench-reload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let path = dir.join("policy.toml");
    std::fs::write(&path, &text).unwrap_or_else(|e| panic!("{e}"));
    let handle = tollgate::engine::PolicyHandle::load(&path, LoadOptions::default())
        .unwrap_or_else(|e| panic!("{}", e.render()));
    let versions = [text.clone(), format!("{text}\n# another version\n")];
    let mut g = c.benchmark_group("reload");
    g.sample_size(20);
    let mut i = 0usize;
    g.bench_function("example", |b| {
        b.iter(|| {
            i += 1;
            std::fs::write(&path, &versions[i % 2]).unwrap_or_else(|e| panic!("{e}"));
            black_box(handle.reload().map(|ok| ok.changed).unwrap_or(false))
        })
    });
    g.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(
    benches,
    bench_example,
    bench_scale,
    bench_load,
    bench_reload
);

/// Median of one benchmark from criterion's saved estimates, in ns.
fn median(id: &str) -> Option<f64> {
    let dir = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
    let path = format!("{dir}/criterion/{id}/new/estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v.get("median")?.get("point_estimate")?.as_f64()
}

fn show(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.1} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{ns:.1} ns")
    }
}

fn report() {
    println!("\ncomparison (criterion medians, this run):");
    let line = |what: &str, ours: &str, others: &[(&str, &str)]| {
        let Some(o) = median(ours) else { return };
        let mut s = format!("  {what:<34} tollgate {:>10}", show(o));
        for (name, id) in others {
            if let Some(t) = median(id) {
                s.push_str(&format!("   {name} {:>10} ({:.0}x)", show(t), t / o));
            }
        }
        println!("{s}");
    };
    line(
        "example policy, all sections",
        "example/tollgate",
        &[("reference", "example/reference")],
    );
    line(
        "route section, 50 rules",
        "route50/tollgate/50",
        &[
            ("reference", "route50/reference/50"),
            ("cel-interpreter", "route50/cel-interpreter/50"),
        ],
    );
    for n in [10, 100, 1000, 10000] {
        line(
            &format!("route section, {n} rules"),
            &format!("scale/tollgate/{n}"),
            &[
                ("reference", &format!("scale/reference/{n}")),
                ("cel-interpreter", &format!("scale/cel-interpreter/{n}")),
            ],
        );
    }
    if let Some(t) = median("load10k/parse_check") {
        println!("  parse + check 10,000 rules          {}", show(t));
    }
    if let Some(t) = median("load10k/parse_check_compile") {
        println!("  parse + check + compile 10,000 rules {}", show(t));
    }
    if let Some(t) = median("reload/example") {
        println!(
            "  reload of the example policy (write, load, check, compile, 26 tests, swap) {}",
            show(t)
        );
    }
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    report();
}
