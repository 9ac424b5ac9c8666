//! The one retry rule, through the real SDK client against the loopback
//! Bedrock: which model each attempt goes to, how many attempts, and that
//! a `Retry-After` / `x-amz-retry-after` header sets the wait.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{client, delta, event, exception, handle, Collect, Reply, Server, POLICY};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tollgate_bedrock::Timeouts;
use tollgate_bedrock::{Backoff, ChatRequest, Gate, GateError, StreamOptions};
use tollgate_cost::{Status, Tags};

const HAIKU: &str = "/model/us.anthropic.claude-3-5-haiku-20241022-v1%3A0/converse";
const SONNET: &str = "/model/us.anthropic.claude-sonnet-4-20250514-v1%3A0/converse";
const HAIKU_STREAM: &str = "/model/us.anthropic.claude-3-5-haiku-20241022-v1%3A0/converse-stream";
const SONNET_STREAM: &str = "/model/us.anthropic.claude-sonnet-4-20250514-v1%3A0/converse-stream";

fn tags(feature: &str) -> Tags {
    Tags {
        feature: Some(feature.into()),
        ..Tags::default()
    }
}

fn rig(server: &Server, timeouts: Timeouts) -> (Gate, Arc<Collect>) {
    let events = Arc::new(Collect::default());
    let gate = Gate::builder(client(&server.url), handle(POLICY))
        .sink(events.clone())
        .backoff(Backoff::none())
        .timeouts(timeouts)
        .build();
    (gate, events)
}

fn paths(server: &Server) -> Vec<String> {
    server.requests().into_iter().map(|r| r.path).collect()
}

async fn converse_errors(gate: &Gate) -> Vec<Option<String>> {
    let resp = gate
        .converse(&ChatRequest::user("hi"), &tags("chat"))
        .await
        .unwrap();
    resp.attempts.into_iter().map(|a| a.error).collect()
}

#[tokio::test]
async fn internal_error_retries_the_same_model_first_then_the_fallback() {
    let server = Server::start().await;
    let (gate, _) = rig(&server, Timeouts::default());
    server.push(Reply::error(500, "InternalServerException", "oops"));
    server.push(Reply::error(424, "ModelErrorException", "model failed"));
    server.push(Reply::ok("ok", 10, 2));
    let errors = converse_errors(&gate).await;
    assert_eq!(paths(&server), vec![HAIKU, HAIKU, SONNET]);
    assert_eq!(
        errors,
        vec![
            Some("InternalServerException".to_string()),
            Some("ModelErrorException".to_string()),
            None
        ]
    );
}

#[tokio::test]
async fn unavailable_and_not_ready_move_to_the_fallback_model() {
    for code in ["ServiceUnavailableException", "ModelNotReadyException"] {
        let server = Server::start().await;
        let (gate, _) = rig(&server, Timeouts::default());
        server.push(Reply::error(503, code, "later"));
        server.push(Reply::ok("ok", 10, 2));
        let errors = converse_errors(&gate).await;
        assert_eq!(paths(&server), vec![HAIKU, SONNET], "{code}");
        assert_eq!(errors, vec![Some(code.to_string()), None]);
    }
}

#[tokio::test]
async fn validation_and_access_denied_are_not_retried() {
    for (status, code) in [(400, "ValidationException"), (403, "AccessDeniedException")] {
        let server = Server::start().await;
        let (gate, events) = rig(&server, Timeouts::default());
        server.push(Reply::error(status, code, "no"));
        let err = gate
            .converse(&ChatRequest::user("hi"), &tags("chat"))
            .await
            .unwrap_err();
        assert_eq!(err.error_type(), code);
        assert_eq!(paths(&server), vec![HAIKU]);
        assert_eq!(events.events()[0].attempts, 1);
    }
}

#[tokio::test]
async fn a_dropped_connection_is_retried_on_the_same_model() {
    let server = Server::start().await;
    let (gate, _) = rig(&server, Timeouts::default());
    server.push(Reply::Reset);
    server.push(Reply::ok("ok", 10, 2));
    let errors = converse_errors(&gate).await;
    assert_eq!(paths(&server), vec![HAIKU, HAIKU]);
    assert_eq!(errors, vec![Some("TransportError".to_string()), None]);
}

#[tokio::test]
async fn an_attempt_past_its_time_limit_is_retried_on_the_same_model() {
    let server = Server::start().await;
    let (gate, _) = rig(
        &server,
        Timeouts {
            attempt: Duration::from_millis(200),
            ..Timeouts::default()
        },
    );
    server.push(Reply::Stall(Duration::from_secs(3)));
    server.push(Reply::ok("ok", 10, 2));
    let errors = converse_errors(&gate).await;
    assert_eq!(paths(&server), vec![HAIKU, HAIKU]);
    assert_eq!(errors, vec![Some("AttemptTimeout".to_string()), None]);
}

#[tokio::test]
async fn the_last_timed_out_attempt_is_a_timeout_error() {
    let server = Server::start().await;
    let (gate, events) = rig(
        &server,
        Timeouts {
            attempt: Duration::from_millis(100),
            ..Timeouts::default()
        },
    );
    for _ in 0..3 {
        server.push(Reply::Stall(Duration::from_secs(3)));
    }
    let err = gate
        .converse(&ChatRequest::user("hi"), &tags("chat"))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        GateError::Timeout {
            after_ms: 100,
            attempts: 3
        }
    );
    assert_eq!(paths(&server), vec![HAIKU, HAIKU, SONNET]);
    let ev = &events.events()[0];
    assert_eq!(ev.error_type.as_deref(), Some("AttemptTimeout"));
    assert_eq!(ev.attempts, 3);
}

#[tokio::test]
async fn retry_after_headers_set_the_wait() {
    for (header, value, least) in [
        ("Retry-After", "1", Duration::from_secs(1)),
        ("x-amz-retry-after", "400", Duration::from_millis(400)),
    ] {
        let server = Server::start().await;
        let (gate, _) = rig(&server, Timeouts::default());
        server.push(Reply::error(429, "ThrottlingException", "slow down").header(header, value));
        server.push(Reply::ok("ok", 10, 2));
        let started = Instant::now();
        let errors = converse_errors(&gate).await;
        let took = started.elapsed();
        assert!(took >= least, "{header}: took {took:?}");
        assert_eq!(paths(&server), vec![HAIKU, SONNET]);
        assert_eq!(errors, vec![Some("ThrottlingException".to_string()), None]);
    }
}

fn whole_stream(text: &str) -> Reply {
    Reply::Stream {
        frames: vec![
            event("messageStart", json!({"role": "assistant"})),
            delta(text),
            event("messageStop", json!({"stopReason": "end_turn"})),
            event(
                "metadata",
                json!({"usage": {"inputTokens": 5, "outputTokens": 1, "totalTokens": 6},
                       "metrics": {"latencyMs": 3}}),
            ),
        ],
        complete: true,
    }
}

#[tokio::test]
async fn a_stream_is_retried_up_to_its_first_event() {
    let server = Server::start().await;
    let (gate, events) = rig(
        &server,
        Timeouts {
            first_event: Duration::from_millis(200),
            ..Timeouts::default()
        },
    );
    // Throttled answer -> fallback; an exception frame before any event
    // (internal) -> same model; no first event in time -> same model
    // again is past max_attempts, so: throttle, internal, then the answer.
    server.push(Reply::error(429, "ThrottlingException", "slow"));
    server.push(Reply::Stream {
        frames: vec![exception("internalServerException", "oops")],
        complete: true,
    });
    server.push(whole_stream("hello"));
    let s = gate
        .converse_stream(
            ChatRequest::user("hi"),
            tags("chat"),
            StreamOptions::default(),
        )
        .await
        .unwrap();
    let summary = s.collect().await.unwrap();
    assert_eq!(summary.text, "hello");
    assert_eq!(
        paths(&server),
        vec![HAIKU_STREAM, SONNET_STREAM, SONNET_STREAM]
    );
    assert_eq!(events.events()[0].attempts, 3);
}

#[tokio::test]
async fn a_stream_without_a_first_event_in_time_is_retried() {
    let server = Server::start().await;
    let (gate, _) = rig(
        &server,
        Timeouts {
            first_event: Duration::from_millis(200),
            ..Timeouts::default()
        },
    );
    server.push(Reply::StreamStall {
        frames: Vec::new(),
        stall: Duration::from_secs(3),
    });
    server.push(whole_stream("late"));
    let s = gate
        .converse_stream(
            ChatRequest::user("hi"),
            tags("chat"),
            StreamOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(s.collect().await.unwrap().text, "late");
    assert_eq!(paths(&server), vec![HAIKU_STREAM, HAIKU_STREAM]);
}

#[tokio::test]
async fn a_stall_between_events_ends_the_stream_unretried() {
    let server = Server::start().await;
    let (gate, events) = rig(
        &server,
        Timeouts {
            idle: Duration::from_millis(200),
            ..Timeouts::default()
        },
    );
    server.push(Reply::StreamStall {
        frames: vec![
            event("messageStart", json!({"role": "assistant"})),
            delta("abcd"),
        ],
        stall: Duration::from_secs(3),
    });
    let s = gate
        .converse_stream(
            ChatRequest::user("hi"),
            tags("chat"),
            StreamOptions::default(),
        )
        .await
        .unwrap();
    let err = s.collect().await.unwrap_err();
    assert_eq!(
        err,
        GateError::Timeout {
            after_ms: 200,
            attempts: 1
        }
    );
    assert_eq!(paths(&server), vec![HAIKU_STREAM]);
    let ev = &events.events()[0];
    assert_eq!(ev.status, Status::Error);
    assert_eq!(ev.error_type.as_deref(), Some("AttemptTimeout"));
    assert_eq!(ev.usage.output_tokens, 1);
}

const EMBED_POLICY: &str = r#"
[policy]
name = "embed-retry"
default_model = "titan"

[models.titan]
id = "amazon.titan-embed-text-v2:0"

[models.cohere]
id = "cohere.embed-english-v3"

[[route]]
name = "all"
when = 'true'
model = "titan"
fallback = ["cohere"]
"#;

#[tokio::test]
async fn embeddings_retry_the_same_model_and_never_fall_back() {
    let server = Server::start().await;
    let events = Arc::new(Collect::default());
    let gate = Gate::builder(client(&server.url), handle(EMBED_POLICY))
        .sink(events.clone())
        .backoff(Backoff::none())
        .build();
    server.push(Reply::error(429, "ThrottlingException", "slow"));
    server.push(Reply::error(503, "ServiceUnavailableException", "busy"));
    server.push(Reply::json(
        json!({"embedding": [0.5, 0.25], "inputTextTokenCount": 3}),
    ));
    let out = gate.embed(&["hello"], &Tags::default()).await.unwrap();
    assert_eq!(out.vectors, vec![vec![0.5, 0.25]]);
    assert_eq!(out.model_id, "amazon.titan-embed-text-v2:0");
    let titan = "/model/amazon.titan-embed-text-v2%3A0/invoke";
    assert_eq!(paths(&server), vec![titan, titan, titan]);
    assert_eq!(out.event.attempts, 3);
}
