//! `[[budget]]` rules in the gate: reserve before the call, settle after,
//! under concurrency, with the in-process ledger and (feature `redis`) the
//! Redis ledger, against the loopback Bedrock.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
// The cache crate's test support: a real `redis-server` on a free port.
#[cfg(feature = "redis")]
#[allow(dead_code, clippy::panic)]
#[path = "../../tollgate-cache/tests/support/redis_server.rs"]
mod redis_server;

use common::{client, delta, event, handle, Collect, Reply, Server};
use serde_json::json;
use std::sync::Arc;
use tollgate_bedrock::{Backoff, ChatRequest, Gate, GateError, StreamOptions};
use tollgate_cost::{Day, GroupKey, Ledger, Mode, Status, Tags};

const POLICY: &str = r#"
[policy]
name = "budget-test"
default_model = "haiku"

[attributes]
feature = "string"
input_tokens = "int"

[models.haiku]
id = "us.anthropic.claude-3-5-haiku-20241022-v1:0"

[models.sonnet]
id = "us.anthropic.claude-sonnet-4-20250514-v1:0"

[[route]]
name = "big"
when = 'feature == "kb" || feature == "chat"'
model = "sonnet"
max_output_tokens = 100

[[budget]]
name = "kb-daily"
when = 'feature == "kb"'
daily_usd = 1.0
group_by = "feature"
action = "reject"

[[budget]]
name = "chat-daily"
when = 'feature == "chat"'
daily_usd = 1.0
group_by = "feature"
action = "downgrade:haiku"
"#;

const LIMIT: i64 = 1_000_000_000;
/// "hello there": 11 chars -> 3 tokens + 4 per message = 7 input tokens;
/// Sonnet 4 at $3 / $15 per Mtok with the route's 100-token cap.
const ESTIMATE: i64 = 7 * 3_000 + 100 * 15_000;
/// What the loopback answers: 7 in, 50 out on Sonnet 4.
const REAL: i64 = 7 * 3_000 + 50 * 15_000;

fn gate(server: &Server, ledger: Ledger) -> (Gate, Arc<Collect>) {
    let events = Arc::new(Collect::default());
    let handle = handle(POLICY);
    let gate = Gate::builder(client(&server.url), handle)
        .sink(events.clone())
        .backoff(Backoff::none())
        .ledger(ledger)
        .build();
    (gate, events)
}

fn tags(feature: &str) -> Tags {
    Tags {
        feature: Some(feature.into()),
        ..Tags::default()
    }
}

/// 32 concurrent calls at a budget with room for 5.5 estimates: every
/// call is answered or refused, refused calls never reach Bedrock, and the
/// settled total stays within the limit (reservations are atomic; real
/// costs are below their estimates).
async fn concurrent_calls_stay_within_the_budget(ledger: Ledger) {
    let server = Server::start().await;
    let day = Day::today();
    let kb = GroupKey::new("feature", "kb");
    let already = LIMIT - ESTIMATE * 11 / 2;
    ledger.store().add(kb, day, already).unwrap();
    for _ in 0..32 {
        server.push(Reply::ok("fine", 7, 50));
    }
    let (gate, events) = gate(&server, ledger.clone());
    let gate = Arc::new(gate);
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let g = gate.clone();
        tasks.push(tokio::spawn(async move {
            g.converse(&ChatRequest::user("hello there"), &tags("kb"))
                .await
        }));
    }
    let mut ok = 0i64;
    let mut refused = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(r) => {
                assert_eq!(r.event.cost_nanos, REAL as u64);
                ok += 1;
            }
            Err(GateError::BudgetExceeded {
                rule,
                group_by,
                group,
                limit_nanos,
                estimate_nanos,
                ..
            }) => {
                assert_eq!(rule, "kb-daily");
                assert_eq!((group_by.as_str(), group.as_str()), ("feature", "kb"));
                assert_eq!(limit_nanos, LIMIT as u64);
                assert_eq!(estimate_nanos, ESTIMATE as u64);
                refused += 1;
            }
            Err(e) => panic!("unexpected error {e:?}"),
        }
    }
    assert_eq!(ok + refused, 32);
    assert!(ok >= 5, "room for 5 estimates, {ok} answered");
    // Refused calls never reached Bedrock.
    let reqs = server.requests();
    assert_eq!(reqs.len() as i64, ok);
    for r in &reqs {
        assert_eq!(
            r.path,
            "/model/us.anthropic.claude-sonnet-4-20250514-v1%3A0/converse"
        );
        assert_eq!(r.json()["inferenceConfig"]["maxTokens"], json!(100));
    }
    let total = ledger.total(kb, day).unwrap();
    assert_eq!(total, already + ok * REAL, "settled to the real cost");
    assert!(total <= LIMIT + ESTIMATE, "total {total} over the budget");
    let evs = events.events();
    assert_eq!(evs.len(), 32);
    let rejected: Vec<_> = evs
        .iter()
        .filter(|e| e.status == Status::Rejected)
        .collect();
    assert_eq!(rejected.len() as i64, refused);
    for e in rejected {
        assert_eq!(e.attempts, 0);
        assert_eq!(e.cost_nanos, 0);
        assert_eq!(e.error_type.as_deref(), Some("BudgetExceeded"));
        assert_eq!(e.rules.budget.as_deref(), Some("kb-daily"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_calls_at_a_nearly_spent_budget_in_process() {
    concurrent_calls_stay_within_the_budget(Ledger::in_memory()).await;
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_calls_at_a_nearly_spent_budget_in_redis() {
    use tollgate_cost::LedgerConfig;
    use tollgate_cost::{RedisConfig, RedisStore};
    let redis = redis_server::RedisServer::start();
    let store = RedisStore::open(RedisConfig::new(redis.url())).unwrap();
    concurrent_calls_stay_within_the_budget(Ledger::new(store, LedgerConfig::default())).await;
}

#[tokio::test]
async fn a_spent_budget_downgrades_to_the_named_model() {
    let server = Server::start().await;
    let ledger = Ledger::in_memory();
    let day = Day::today();
    let chat = GroupKey::new("feature", "chat");
    ledger.store().add(chat, day, LIMIT).unwrap();
    server.push(Reply::ok("cheaper", 7, 50));
    let (gate, events) = gate(&server, ledger.clone());
    let r = gate
        .converse(&ChatRequest::user("hello there"), &tags("chat"))
        .await
        .unwrap();
    let req = &server.requests()[0];
    assert_eq!(
        req.path,
        "/model/us.anthropic.claude-3-5-haiku-20241022-v1%3A0/converse"
    );
    assert_eq!(r.model_id, "us.anthropic.claude-3-5-haiku-20241022-v1:0");
    let haiku_cost = 7 * 800 + 50 * 4_000;
    let ev = &events.events()[0];
    assert_eq!(ev.model, "haiku");
    assert_eq!(ev.downgraded_from.as_deref(), Some("sonnet"));
    assert_eq!(ev.cost_nanos, haiku_cost as u64);
    assert_eq!(ledger.total(chat, day).unwrap(), LIMIT + haiku_cost);
}

#[tokio::test]
async fn a_failed_call_releases_its_reservation() {
    let server = Server::start().await;
    let ledger = Ledger::in_memory();
    let day = Day::today();
    let kb = GroupKey::new("feature", "kb");
    server.push(Reply::error(400, "ValidationException", "bad"));
    let (gate, events) = gate(&server, ledger.clone());
    let err = gate
        .converse(&ChatRequest::user("hello there"), &tags("kb"))
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "ValidationException");
    assert_eq!(ledger.total(kb, day).unwrap(), 0);
    assert_eq!(events.events()[0].status, Status::Error);
}

#[tokio::test]
async fn a_stream_reserves_then_settles_and_a_spent_budget_refuses_it() {
    let server = Server::start().await;
    let ledger = Ledger::in_memory();
    let day = Day::today();
    let kb = GroupKey::new("feature", "kb");
    let mut frames = vec![delta("abc")];
    frames.push(event("messageStop", json!({"stopReason": "end_turn"})));
    frames.push(event(
        "metadata",
        json!({"usage": {"inputTokens": 7, "outputTokens": 50, "totalTokens": 57},
               "metrics": {"latencyMs": 3}}),
    ));
    server.push(Reply::Stream {
        frames,
        complete: true,
    });
    let (gate, events) = gate(&server, ledger.clone());
    let sum = gate
        .converse_stream(
            ChatRequest::user("hello there"),
            tags("kb"),
            StreamOptions::default(),
        )
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(sum.event.cost_nanos, REAL as u64);
    assert_eq!(ledger.total(kb, day).unwrap(), REAL);
    // Spend the rest: the next stream is refused before it is sent.
    ledger.store().add(kb, day, LIMIT - REAL).unwrap();
    let err = gate
        .converse_stream(
            ChatRequest::user("hello there"),
            tags("kb"),
            StreamOptions::default(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, GateError::BudgetExceeded { .. }), "{err:?}");
    assert_eq!(server.requests().len(), 1);
    let evs = events.events();
    assert_eq!(evs.len(), 2);
    assert_eq!(evs[1].status, Status::Rejected);
    assert_eq!(evs[1].mode, Mode::Stream);
    assert_eq!(ledger.total(kb, day).unwrap(), LIMIT);
}
