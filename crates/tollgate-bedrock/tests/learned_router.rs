//! A policy with a learned router, through the gate: the gate scores the
//! last user turn with the policy's model file before deciding, so a rule
//! on `NAME.gain_per_usd` sends a prompt the router scores high to the
//! strong model and one it scores low to the weak model, and the call
//! event records the scores it decided on. The model file is the shipped
//! one (`rules/routers/routellm.model`), loaded relative to the policy file
//! as a user's would be.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use aws_sdk_bedrockruntime::types::{ContentBlock, ConversationRole, Message};
use common::{client, Collect, Reply, Server};
use std::path::PathBuf;
use std::sync::Arc;
use tollgate_bedrock::{Backoff, ChatRequest, Gate};
use tollgate_cost::Tags;
use tollgate_engine::PolicyHandle;
use tollgate_lang::LoadOptions;
use tollgate_lang::RouterModel;

const STRONG_PATH: &str = "/model/us.anthropic.claude-sonnet-4-20250514-v1%3A0/converse";
const WEAK_PATH: &str = "/model/us.anthropic.claude-3-5-haiku-20241022-v1%3A0/converse";

const HARD: &str = "Natalia sold clips to 48 of her friends in April, and then she sold \
half as many clips in May. How many clips did Natalia sell altogether in April and May? \
Show each step of the calculation.";
const EASY: &str = "Say hello.";

fn shipped_model() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../rules/routers/routellm.model")
}

/// A policy directory with the shipped model under `routers/` and one
/// rule: the strong model at or above `threshold` gain per dollar.
fn policy(threshold: f64) -> Arc<PolicyHandle> {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("learned-router");
    std::fs::create_dir_all(dir.join("routers")).unwrap();
    std::fs::copy(shipped_model(), dir.join("routers/routellm.model")).unwrap();
    let text = format!(
        r#"
[policy]
name = "learned"
default_model = "weak"

[attributes]
feature = "string"
prompt = "string"

[routers.routellm]
model = "routers/routellm.model"

[models.strong]
id = "us.anthropic.claude-sonnet-4-20250514-v1:0"
[models.weak]
id = "us.anthropic.claude-3-5-haiku-20241022-v1:0"

[[route]]
name = "learned"
when = 'routellm.gain_per_usd >= {threshold:?}'
model = "strong"
"#
    );
    let path = dir.join("policy.toml");
    std::fs::write(&path, text).unwrap();
    Arc::new(PolicyHandle::load(&path, LoadOptions::default()).unwrap())
}

fn text_message(role: ConversationRole, text: &str) -> Message {
    Message::builder()
        .role(role)
        .content(ContentBlock::Text(text.into()))
        .build()
        .unwrap()
}

#[tokio::test]
async fn the_gate_routes_on_the_learned_score_of_the_last_user_turn() {
    let model = RouterModel::from_bytes(&std::fs::read(shipped_model()).unwrap()).unwrap();
    let (hard, easy) = (model.score(HARD), model.score(EASY));
    assert!(
        hard.gain_per_usd > easy.gain_per_usd,
        "the shipped router should value the math word problem more: {hard:?} vs {easy:?}"
    );
    // Between the two scores: only the hard prompt clears it.
    let threshold = (hard.gain_per_usd + easy.gain_per_usd) / 2.0;

    let server = Server::start().await;
    let events = Arc::new(Collect::default());
    let gate = Gate::builder(client(&server.url), policy(threshold))
        .sink(events.clone())
        .backoff(Backoff::none())
        .build();
    let tags = Tags {
        feature: Some("chat".into()),
        ..Tags::default()
    };
    for (prompt, path) in [(HARD, STRONG_PATH), (EASY, WEAK_PATH)] {
        server.clear();
        server.push(Reply::ok("ok", 40, 5));
        // An earlier turn that alone would score otherwise does not count:
        // the router reads the last user turn.
        let other = if prompt == HARD { EASY } else { HARD };
        let req = ChatRequest::user(other)
            .message(text_message(ConversationRole::Assistant, "ok"))
            .message(text_message(ConversationRole::User, prompt))
            .max_tokens(100);
        gate.converse(&req, &tags).await.unwrap();
        let reqs = server.requests();
        assert_eq!(reqs.len(), 1);
        assert_eq!(reqs[0].path, path, "prompt {prompt:?}");
    }
    let evs = events.events();
    assert_eq!(evs.len(), 2);
    assert_eq!(evs[0].model, "strong");
    assert_eq!(evs[0].rules.route.as_deref(), Some("learned"));
    assert_eq!(evs[1].model, "weak");
    assert_eq!(evs[1].rules.route, None);
    // The events carry the scores each decision read.
    for (ev, s) in evs.iter().zip([hard, easy]) {
        assert_eq!(
            ev.attributes["routellm.gain_per_usd"],
            serde_json::json!(s.gain_per_usd)
        );
        assert_eq!(ev.attributes["routellm.gain"], serde_json::json!(s.gain));
    }
}
