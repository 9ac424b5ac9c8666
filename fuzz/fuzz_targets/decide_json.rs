//! JSON request bytes -> `Request::parse` -> decide, against the example
//! policy (`rules/example.toml`).
//!
//! `Request::parse` must return a request or a typed `RequestError` for
//! any input (invalid UTF-8 is read lossily); it must never panic. When it
//! returns a request, the compiled engine and the reference interpreter
//! must make the same decision, and the decision must render as JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use tollgate_engine::{compile, CompiledPolicy};
use tollgate_engine::{decide_reference, to_json, Request};
use tollgate_lang::{load_str, LoadOptions};

const EXAMPLE: &str = include_str!("../../rules/example.toml");

fn engine() -> &'static CompiledPolicy {
    static ENGINE: OnceLock<CompiledPolicy> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let loaded = load_str("rules/example.toml", EXAMPLE, &LoadOptions::default())
            .expect("the example policy loads");
        compile(loaded.policy).expect("the example policy compiles")
    })
}

fuzz_target!(|data: &[u8]| {
    let compiled = engine();
    let policy = compiled.policy();
    let text = String::from_utf8_lossy(data);
    match Request::parse(policy.schema(), &text) {
        Ok(req) => {
            let ctx = req.context(policy.schema());
            let got = compiled.decide(&ctx);
            let want = decide_reference(policy, &ctx);
            assert_eq!(got, want, "compiled and reference disagree on {text}");
            let _ = to_json(policy, &got, &ctx);
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
