//! The operations behind each figure, set up the way their criterion
//! benches set them up (`benches/decide.rs`, `tollgate-cache`'s `key/4KiB`,
//! `tollgate-cost`'s `price_exact`), so an instruction count here and a
//! wall time there describe the same work.

use std::hint::black_box;
use tollgate_cache::{FieldSet, KeyInput, KeySpec, Message, Part, Role, ScopeValue};
use tollgate_cost::{Mode, Usage};
use tollgate_engine::compile;
use tollgate_engine::synth::{policy_text, request_json, Rng, SynthOptions};
use tollgate_engine::{Context, Request, Slot, StrList};
use tollgate_lang::KeyField;
use tollgate_lang::PriceTable;
use tollgate_lang::{load_str, AttrId, LoadOptions};

/// Measures `n` runs of an operation after `warm` unmeasured ones (the
/// binary's `run`).
pub type Run = fn(u64, u64, &mut dyn FnMut());

/// Which policy a decide figure uses.
pub enum Policy {
    /// `rules/example.toml` with `examples/requests/sample.jsonl`.
    Example,
    /// The generated policy of this many rules with 512 generated requests.
    Generated(usize),
}

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

/// Decisions per decide figure: every request, as many times as it takes.
const DECISIONS: usize = 10_240;

/// Builds each request's context from borrowed values and decides, as
/// `benches/decide.rs` does.
pub fn decide(which: Policy, run: Run) {
    let (text, reqs) = match which {
        Policy::Example => {
            let text = std::fs::read_to_string(format!("{ROOT}/rules/example.toml")).unwrap();
            let reqs = std::fs::read_to_string(format!("{ROOT}/examples/requests/sample.jsonl"))
                .unwrap()
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(String::from)
                .collect::<Vec<_>>();
            (text, reqs)
        }
        Policy::Generated(n) => {
            let text = policy_text(SynthOptions {
                routes: n,
                string_functions: true,
                seed: 42,
            });
            let mut rng = Rng::new(7);
            let reqs = (0..512).map(|_| request_json(&mut rng, n)).collect();
            (text, reqs)
        }
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
    let mut next = 0usize;
    run(slots.len() as u64, DECISIONS as u64, &mut || {
        let s = &slots[next];
        next = (next + 1) % slots.len();
        let mut ctx = Context::new(policy.schema());
        for (id, v) in s {
            let _ = ctx.set(*id, *v);
        }
        black_box(compiled.decide(black_box(&ctx)));
    });
}

/// Parses, checks and compiles the generated policy of `rules` rules.
pub fn load(rules: usize, run: Run) {
    let text = policy_text(SynthOptions {
        routes: rules,
        string_functions: false,
        seed: 42,
    });
    run(1, 2, &mut || {
        let policy = load_str("bench.toml", black_box(&text), &LoadOptions::default())
            .unwrap_or_else(|e| panic!("{}", e.render()))
            .policy;
        black_box(compile(policy).unwrap());
    });
}

/// Prose-like text of `n` bytes, as the cache bench writes it.
fn text(n: usize, seed: u8) -> String {
    let words = [
        "policy", "cache", "tenant", "the", "answer", "of", "bedrock", "token",
    ];
    let mut s = String::with_capacity(n + 16);
    let mut i = usize::from(seed);
    while s.len() < n {
        s.push_str(words[i % words.len()]);
        s.push(if i % 13 == 0 { '\n' } else { ' ' });
        i = i.wrapping_mul(31).wrapping_add(7);
    }
    s.truncate(n);
    s
}

/// The key of a 4 KiB prompt (a 1 KiB system prompt, one 3 KiB turn) with
/// retrieval ids and a tenant scope: the cache bench's `key/4KiB`.
pub fn key_4k(run: Run) {
    let system = [text(1024, 1)];
    let system = [system[0].as_str()];
    let turn = text(3072, 2);
    let content = [Part::Text(&turn)];
    let messages = [Message {
        role: Role::User,
        content: &content,
    }];
    let ids = ["kb:1029", "kb:5521", "kb:7710", "kb:9001"];
    let input = KeyInput {
        system: &system,
        messages: &messages,
        retrieval_ids: StrList::Strs(&ids),
        ..KeyInput::default()
    };
    let spec = KeySpec {
        rule: "kb-answers",
        version: 2,
        fields: FieldSet::of(&[KeyField::System, KeyField::Messages, KeyField::RetrievalIds]),
        normalize: None,
        scope: ScopeValue::Attr {
            name: "tenant",
            value: "acme",
        },
    };
    run(3, 1000, &mut || {
        black_box(tollgate_cache::cache_key(&spec, black_box(&input)));
    });
}

/// Prices one call's usage at on-demand rates, over the cost bench's 64
/// usages (some with prompt-cache reads and writes).
pub fn pricing(run: Run) {
    let sonnet = PriceTable::builtin()
        .lookup("us.anthropic.claude-sonnet-4-5-20250929-v1:0")
        .unwrap();
    let usages: Vec<Usage> = (0..64u64)
        .map(|i| Usage {
            input_tokens: 500 + i * 37,
            output_tokens: 200 + i * 11,
            cache_read_input_tokens: if i % 3 == 0 { 4096 } else { 0 },
            cache_write_input_tokens: if i % 5 == 0 { 2048 } else { 0 },
            cache_write_1h_input_tokens: if i % 10 == 0 { 2048 } else { 0 },
        })
        .collect();
    let mut next = 0usize;
    run(64, 6400, &mut || {
        let u = &usages[next];
        next = (next + 1) % usages.len();
        black_box(
            tollgate_cost::price(black_box(&sonnet), black_box(u), Mode::Realtime)
                .map(|c| c.total_nanos),
        )
        .ok();
    });
}

/// Scores the router bench's 4 KiB prompt (`tollgate-lang`'s
/// `benches/router.rs`) with the shipped learned router,
/// `rules/routers/routellm.model`.
pub fn router_4k(run: Run) {
    let base = "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. \
How many clips did Natalia sell altogether in April and May? Explain your reasoning step by step.\n";
    let mut text = String::new();
    while text.len() + base.len() <= 4096 {
        text.push_str(base);
    }
    while text.len() < 4096 {
        text.push('x');
    }
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../rules/routers/routellm.model"
    );
    let bytes = std::fs::read(path).unwrap();
    let model = tollgate_lang::RouterModel::from_bytes(&bytes).unwrap();
    run(3, 200, &mut || {
        black_box(model.score(black_box(&text)));
    });
}
