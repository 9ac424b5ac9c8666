//! Budget reservations reserve the smaller of the decision's output cap and
//! the model's maximum output from the price table; an entry without a
//! maximum output is reserved at its context window.
#![allow(clippy::unwrap_used, clippy::panic)]

use tollgate_cost::{Day, Ledger};
use tollgate_engine::{decide_reference, Request};
use tollgate_lang::PriceTable;
use tollgate_lang::{load_str, LoadOptions, Policy};

const POLICY: &str = r#"
[policy]
name = "reserve"
default_model = "llama"

[attributes]
feature = "string"
input_tokens = "int"

# Llama 3.1 70B: $0.72 / $0.72 per Mtok, max_output_tokens 2048.
[models.llama]
id = "meta.llama3-1-70b-instruct-v1:0"

# From the user's table below: no max_output_tokens, context_window 32000.
[models.user]
id = "acme.user-model-v1"

[[route]]
name = "user"
when = 'feature == "user"'
model = "user"

[[route]]
name = "capped-small"
when = 'feature == "small"'
model = "llama"
max_output_tokens = 500

[[route]]
name = "capped-large"
when = 'feature == "large"'
model = "llama"
max_output_tokens = 100000

[[budget]]
name = "all"
when = 'true'
daily_usd = 1000.0
action = "reject"
"#;

/// The built-in table plus one user entry without a maximum output.
fn table() -> PriceTable {
    let mut t = PriceTable::builtin().clone();
    t.override_with(
        PriceTable::parse(
            r#"
[models."acme.user-model-v1"]
input_per_mtok = 1.0
output_per_mtok = 2.0
context_window = 32000
"#,
        )
        .unwrap(),
    );
    t
}

fn policy() -> Policy {
    let opts = LoadOptions {
        prices: Some(table()),
        ..LoadOptions::default()
    };
    load_str("reserve.toml", POLICY, &opts)
        .unwrap_or_else(|e| panic!("{}", e.render()))
        .policy
}

/// The nano-dollars reserved for a call of 1,000 input tokens.
fn reserved(p: &Policy, feature: &str) -> u64 {
    let req = Request::parse(
        p.schema(),
        &format!(r#"{{"feature": "{feature}", "input_tokens": 1000}}"#),
    )
    .unwrap();
    let ctx = req.context(p.schema());
    let d = decide_reference(p, &ctx);
    let ledger = Ledger::in_memory();
    let t = ledger
        .begin(p, &d, &ctx, Day::from_ymd(2026, 12, 5).unwrap())
        .unwrap();
    let r = t.reserved_nanos();
    t.cancel();
    r
}

#[test]
fn an_uncapped_call_reserves_the_model_maximum_output_not_4096() {
    // $0.72 per Mtok is 720 nano-dollars a token: (1,000 + 2,048) x 720
    // (a 4,096-token guess would reserve 3,669,120).
    assert_eq!(reserved(&policy(), "chat"), 2_194_560);
}

#[test]
fn a_cap_below_the_maximum_is_reserved() {
    // (1,000 + 500) x 720.
    assert_eq!(reserved(&policy(), "small"), 1_080_000);
}

#[test]
fn a_cap_above_the_maximum_reserves_the_maximum() {
    assert_eq!(reserved(&policy(), "large"), 2_194_560);
}

#[test]
fn an_entry_without_maximum_output_reserves_its_context_window() {
    // 1,000 x 1,000 + 32,000 x 2,000 nano-dollars.
    assert_eq!(reserved(&policy(), "user"), 65_000_000);
}
