//! Policy swaps under concurrent decisions: three threads decide without
//! pause while the main thread swaps through 2,000 policy installs. Every
//! version `k` encodes `k` three ways (the route's position, the route's
//! output cap, the limit's position), so a decision made half by one
//! policy and half by another cannot go unnoticed; and the pinned policy
//! that made the decision must name the route `m{k}`.

// Test code: a failed unwrap or panic is a failed test.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use tollgate_engine::{Context, PolicyHandle};
use tollgate_lang::{load_str, LoadOptions, Policy};

const VERSIONS: u32 = 64;
const SWAPS: u32 = 2_000;

fn text(k: u32) -> String {
    let mut s = String::from(
        "[policy]\nname = \"swap\"\ndefault_model = \"m\"\n[attributes]\nfeature = \"string\"\nn = \"int\"\n\
         [models.m]\nid = \"anthropic.claude-3-5-haiku-20241022-v1:0\"\n",
    );
    for i in 0..k % 7 {
        s.push_str(&format!(
            "[[route]]\nname = \"filler{i}\"\nwhen = 'feature == \"other{i}\"'\nmodel = \"m\"\n"
        ));
    }
    s.push_str(&format!(
        "[[route]]\nname = \"m{k}\"\nwhen = 'feature == \"marker\" && n >= 0'\nmodel = \"m\"\nmax_output_tokens = {}\n",
        1000 + k
    ));
    for i in 0..(3 * k) % 5 {
        s.push_str(&format!("[[limit]]\nname = \"lf{i}\"\nwhen = 'feature == \"other{i}\"'\nmax_output_tokens = 1\n"));
    }
    s.push_str(
        "[[limit]]\nname = \"guard\"\nwhen = 'feature == \"marker\"'\nmax_output_tokens = 100000\n",
    );
    s
}

fn policy(k: u32, opts: &LoadOptions) -> Policy {
    load_str(&format!("v{k}.toml"), &text(k), opts)
        .map_err(|e| e.render())
        .unwrap()
        .policy
}

#[test]
fn no_decision_ever_sees_a_torn_policy() {
    let first = policy(0, &LoadOptions::default());
    let handle = Arc::new(PolicyHandle::from_policy(first, LoadOptions::default()).unwrap());
    let opts = handle.load_options().clone();
    let versions: Vec<Policy> = (0..VERSIONS).map(|k| policy(k, &opts)).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let decided = Arc::new(AtomicU64::new(0));
    let deciders: Vec<_> = (0..3)
        .map(|_| {
            let (h, stop, decided) = (handle.clone(), stop.clone(), decided.clone());
            std::thread::spawn(move || {
                let mut ctx = Context::new(h.schema());
                ctx.set_str(h.schema().id("feature").unwrap(), "marker");
                ctx.set_int(h.schema().id("n").unwrap(), 1);
                let mut seen = std::collections::BTreeSet::new();
                while !stop.load(Ordering::Relaxed) {
                    let (d, live) = h.decide_with_live(&ctx);
                    let cap = d.max_output_tokens.unwrap();
                    let k = cap - 1000;
                    let route = d.route.unwrap().index() as u32;
                    let limit = d.limit.unwrap().index() as u32;
                    assert_eq!(route, k % 7, "route position and cap disagree");
                    assert_eq!(limit, (3 * k) % 5, "limit position and cap disagree");
                    assert_eq!(live.policy().routes[route as usize].name, format!("m{k}"));
                    // And the plain decide agrees with some complete version too.
                    let d2 = h.decide(&ctx);
                    let k2 = d2.max_output_tokens.unwrap() - 1000;
                    assert_eq!(d2.route.unwrap().index() as u32, k2 % 7);
                    seen.insert(k);
                    decided.fetch_add(2, Ordering::Relaxed);
                }
                seen.len()
            })
        })
        .collect();
    for i in 1..=SWAPS {
        let k = i % VERSIONS;
        handle.swap_policy(versions[k as usize].clone()).unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    for d in deciders {
        let distinct = d.join().expect("a decider saw a torn policy");
        assert!(distinct >= 1);
    }
    let s = handle.stats();
    // Each swap installs a policy different from the one live (k cycles).
    assert_eq!(s.reloads_ok, u64::from(SWAPS));
    assert_eq!(s.reloads_failed, 0);
    assert_eq!(s.version, 1 + u64::from(SWAPS));
    assert!(s.decisions >= decided.load(Ordering::Relaxed));
    assert_eq!(
        handle.current().policy().routes.last().unwrap().name,
        format!("m{}", SWAPS % VERSIONS)
    );
}
