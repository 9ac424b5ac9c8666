//! Policy text -> load -> decide / render.
//!
//! Any input (taken as lossy UTF-8) must either load or fail with
//! diagnostics; neither path may panic, and rendering the diagnostics
//! (terminal and JSON forms) must not panic either. A policy that loads is
//! then decided with the reference interpreter for an empty request and for
//! a request that sets every declared attribute to a default value, and its
//! own `[[test]]` cases are run.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tollgate_engine::{decide_reference, to_json, Context, IntPairs, Slot, StrList, StrPairs};
use tollgate_lang::Timestamp;
use tollgate_lang::{load_str, LoadOptions, Type};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match load_str("fuzz.toml", &text, &LoadOptions::default()) {
        Ok(loaded) => {
            let policy = &loaded.policy;
            for w in &loaded.warnings {
                let _ = w.render(policy.sources());
                let _ = w.to_json(policy.sources());
            }

            // An empty request: every attribute missing.
            let empty = Context::new(policy.schema());
            let d = decide_reference(policy, &empty);
            let _ = to_json(policy, &d, &empty);

            // Every attribute present with a default value.
            let strs: [&str; 1] = [""];
            let ints: [i64; 1] = [0];
            let pairs: [(&str, &str); 1] = [("", "")];
            let int_pairs: [(&str, i64); 1] = [("", 0)];
            let mut full = Context::new(policy.schema());
            for (id, def) in policy.schema().iter() {
                let slot = match def.ty {
                    Type::Bool => Slot::Bool(false),
                    Type::Int => Slot::Int(0),
                    Type::Float => Slot::Float(0.0),
                    Type::String => Slot::Str(""),
                    Type::List(tollgate_lang::Elem::Int) => Slot::IntList(&ints),
                    Type::List(_) => Slot::StrList(StrList::Strs(&strs)),
                    Type::StrMap => Slot::StrMap(StrPairs::Strs(&pairs)),
                    Type::IntMap => Slot::IntMap(IntPairs::Strs(&int_pairs)),
                    Type::Timestamp | Type::Duration => Slot::Timestamp(Timestamp::EPOCH),
                };
                let _ = full.set(id, slot);
            }
            let d = decide_reference(policy, &full);
            let _ = to_json(policy, &d, &full);

            // The policy's own [[test]] cases.
            let _ =
                tollgate_engine::run_tests(policy, &|ctx| decide_reference(policy, ctx));
        }
        Err(e) => {
            let _ = e.render();
            let _ = e.to_string();
            for d in &e.diagnostics {
                let _ = d.to_json(&e.sources);
            }
        }
    }
});
