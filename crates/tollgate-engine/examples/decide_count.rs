//! A fixed amount of `decide()` work for instruction counting: the same
//! policies and requests as `benches/decide.rs`, each context built from
//! borrowed values and decided, over all requests again and again.
//!
//! ```sh
//! cargo build --release -p tollgate-engine --example decide_count
//! valgrind --tool=callgrind --toggle-collect='*decide_count*run*' \
//!     target/release/examples/decide_count 50      # or: example, 1000, 10000
//! ```
//!
//! Instructions per decide: the collected total divided by the decisions
//! printed.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use tollgate_engine::synth::{policy_text, request_json, Rng, SynthOptions};
use tollgate_engine::{compile, CompiledPolicy};
use tollgate_engine::{Context, Request, Slot};
use tollgate_lang::{load_str, AttrId, LoadOptions, Policy};

/// Decisions per run: every request, as many times as it takes.
const DECISIONS: usize = 10_240;

#[inline(never)]
fn run(
    policy: &Policy,
    compiled: &CompiledPolicy,
    slots: &[Vec<(AttrId, Slot<'_>)>],
    route_only: bool,
    rounds: usize,
) -> u64 {
    let mut sum = 0u64;
    for _ in 0..rounds {
        for s in slots {
            let mut ctx = Context::new(policy.schema());
            for (id, v) in s {
                let _ = ctx.set(*id, *v);
            }
            let d = compiled.decide(black_box(&ctx));
            sum += if route_only {
                d.route.map_or(0, |r| u64::from(r.get()) + 1)
            } else {
                [d.route, d.cache, d.prompt_cache, d.batch, d.limit, d.budget]
                    .iter()
                    .map(|r| r.map_or(0, |r| u64::from(r.get()) + 1))
                    .sum::<u64>()
            };
        }
    }
    sum
}

fn main() {
    let arg = std::env::args().nth(1).unwrap_or_else(|| "50".into());
    let (text, reqs, route_only) = if arg == "example" {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
        let text = std::fs::read_to_string(format!("{root}/rules/example.toml")).unwrap();
        let reqs = std::fs::read_to_string(format!("{root}/examples/requests/sample.jsonl"))
            .unwrap()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(String::from)
            .collect::<Vec<_>>();
        (text, reqs, false)
    } else {
        let n: usize = arg.parse().unwrap();
        let text = policy_text(SynthOptions {
            routes: n,
            string_functions: true,
            seed: 42,
        });
        let mut rng = Rng::new(7);
        let reqs = (0..512).map(|_| request_json(&mut rng, n)).collect();
        (text, reqs, true)
    };
    let policy = load_str("bench.toml", &text, &LoadOptions::default())
        .unwrap_or_else(|e| panic!("{}", e.render()))
        .policy;
    let compiled = compile(policy.clone()).unwrap();
    let requests: Vec<Request> = reqs
        .iter()
        .map(|r| Request::parse(policy.schema(), r).unwrap())
        .collect();
    let slots: Vec<Vec<(AttrId, Slot<'_>)>> = requests
        .iter()
        .map(|r| {
            let ctx = r.context(policy.schema());
            // A context has one slot per schema attribute, in id order.
            policy
                .schema()
                .iter()
                .map(|(id, _)| id)
                .zip(ctx.slots().iter().copied())
                .filter(|(_, s)| !matches!(s, Slot::Missing))
                .collect()
        })
        .collect();
    let rounds = DECISIONS / slots.len().max(1);
    let sum = run(&policy, &compiled, &slots, route_only, rounds);
    println!("{} decisions (checksum {sum})", rounds * slots.len());
}
