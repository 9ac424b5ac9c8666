//! Bedrock faults through the real SDK client: malformed JSON, a truncated
//! event stream (a frame cut in half), a reset connection, response
//! headers slower than the configured timeout, and a sink whose disk is
//! full. Each ends in a typed error (or, for the sink, a successful call),
//! with the call event recorded and costed, and no panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use aws_sdk_bedrockruntime::config::timeout::TimeoutConfig;
use aws_sdk_bedrockruntime::config::{BehaviorVersion, Credentials, Region};
use common::{client, delta, handle, Collect, Reply, Server, POLICY};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tollgate_bedrock::{text_delta, Backoff, ChatRequest, Gate, GateError, StreamOptions};
use tollgate_cost::EmfConfig;
use tollgate_cost::{AsyncSink, EmfSink, Status, Tags};

fn tags(feature: &str) -> Tags {
    Tags {
        feature: Some(feature.into()),
        ..Tags::default()
    }
}

async fn rig() -> (Server, Gate, Arc<Collect>) {
    let server = Server::start().await;
    let events = Arc::new(Collect::default());
    let gate = Gate::builder(client(&server.url), handle(POLICY))
        .sink(events.clone())
        .backoff(Backoff::none())
        .build();
    (server, gate, events)
}

#[tokio::test]
async fn malformed_json_body_is_typed_and_recorded() {
    let (server, gate, events) = rig().await;
    for body in [
        "{\"output\": {\"message\": ",
        "[]",
        "{\"output\": 7}",
        "\u{0}\u{1}garbage",
    ] {
        server.push(Reply::Json {
            status: 200,
            error_type: None,
            body: body.into(),
        });
    }
    for i in 0..4 {
        let err = gate
            .converse(&ChatRequest::user("hi"), &tags("kb"))
            .await
            .unwrap_err();
        assert!(matches!(err, GateError::Malformed(_)), "{i}: {err:?}");
        assert_eq!(err.error_type(), "MalformedResponse");
    }
    let evs = events.events();
    assert_eq!(evs.len(), 4);
    for ev in &evs {
        assert_eq!(ev.status, Status::Error);
        assert_eq!(ev.error_type.as_deref(), Some("MalformedResponse"));
        assert_eq!(ev.attempts, 1);
        assert!(ev.model_id.ends_with("claude-3-5-haiku-20241022-v1:0"));
    }
    assert_eq!(
        server.requests().len(),
        4,
        "a malformed answer is not retried"
    );
}

#[tokio::test]
async fn truncated_event_stream_is_a_typed_error_and_the_partial_output_is_billed() {
    let (server, gate, events) = rig().await;
    let whole = delta("ijkl");
    let half = whole[..whole.len() / 2].to_vec();
    server.push(Reply::Stream {
        frames: vec![delta("abcd"), delta("efgh"), half],
        complete: false,
    });
    let mut s = gate
        .converse_stream(
            ChatRequest::user("hi"),
            tags("chat"),
            StreamOptions::default(),
        )
        .await
        .unwrap();
    let mut text = String::new();
    let mut failed = None;
    while let Some(ev) = s.next().await {
        match ev {
            Ok(ev) => text.push_str(text_delta(&ev).unwrap_or("")),
            Err(e) => failed = Some(e),
        }
    }
    assert_eq!(text, "abcdefgh", "only whole frames are delivered");
    let err = failed.expect("a truncated stream is an error");
    assert!(
        matches!(
            err,
            GateError::Transport(_) | GateError::Malformed(_) | GateError::Stream { .. }
        ),
        "{err:?}"
    );
    let evs = events.events();
    assert_eq!(evs.len(), 1);
    let ev = &evs[0];
    assert_eq!(ev.status, Status::Error);
    // The 8 characters received are billed as an estimate (4 chars a token).
    assert_eq!(ev.usage.output_tokens, 2);
    assert!(ev.usage.input_tokens > 0);
    assert!(ev.cost_nanos > 0);
    assert_eq!(ev.cost_nanos, ev.cost_breakdown.total_nanos);
}

#[tokio::test]
async fn reset_connection_is_a_typed_error_and_the_next_call_goes_through() {
    let (server, gate, events) = rig().await;
    // A transport failure is retried (same model first, then the
    // fallback): every attempt is reset here.
    for _ in 0..3 {
        server.push(Reply::Reset);
    }
    let err = gate
        .converse(&ChatRequest::user("hi"), &tags("chat"))
        .await
        .unwrap_err();
    assert!(matches!(err, GateError::Transport(_)), "{err:?}");
    let evs = events.events();
    assert_eq!(evs.len(), 1);
    assert_eq!(evs[0].status, Status::Error);
    assert_eq!(evs[0].error_type.as_deref(), Some("TransportError"));
    assert_eq!(evs[0].attempts, 3);
    assert_eq!(evs[0].cost_nanos, 0, "no answer, no tokens billed");
    assert_eq!(server.requests().len(), 3);
    // The client recovers: the next call gets a fresh connection.
    server.push(Reply::ok("fine", 10, 2));
    let ok = gate
        .converse(&ChatRequest::user("hi"), &tags("chat"))
        .await
        .unwrap();
    assert_eq!(ok.event.attempts, 1);
    assert_eq!(ok.event.status, Status::Ok);
    assert_eq!(ok.event.usage.output_tokens, 2);
}

/// A server that reads each request and answers nothing for `delay`.
fn slow_headers_server(delay: Duration) -> (String, Arc<AtomicU32>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(AtomicU32::new(0));
    let s2 = seen.clone();
    std::thread::spawn(move || {
        for sock in listener.incoming() {
            let Ok(mut sock) = sock else { return };
            let seen = s2.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let _ = sock.read(&mut buf);
                seen.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(delay);
                let body = r#"{"output":{"message":{"role":"assistant","content":[{"text":"late"}]}},"stopReason":"end_turn","usage":{"inputTokens":1,"outputTokens":1,"totalTokens":2},"metrics":{"latencyMs":1}}"#;
                let _ = write!(
                    sock,
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    (url, seen)
}

#[tokio::test]
async fn slow_headers_past_the_timeout_are_a_typed_error() {
    let (url, seen) = slow_headers_server(Duration::from_secs(5));
    let conf = aws_sdk_bedrockruntime::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("AKID", "SECRET", None, None, "test"))
        .endpoint_url(&url)
        .timeout_config(
            TimeoutConfig::builder()
                .operation_attempt_timeout(Duration::from_millis(300))
                .build(),
        )
        .build();
    let events = Arc::new(Collect::default());
    let gate = Gate::builder(
        aws_sdk_bedrockruntime::Client::from_conf(conf),
        handle(POLICY),
    )
    .sink(events.clone())
    .backoff(Backoff::none())
    .build();
    let started = Instant::now();
    let err = gate
        .converse(&ChatRequest::user("hi"), &tags("chat"))
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert!(matches!(err, GateError::Transport(_)), "{err:?}");
    // Three attempts (a timeout is retried), each cut at 300 ms.
    assert!(took >= Duration::from_millis(900), "took {took:?}");
    assert_eq!(seen.load(Ordering::Relaxed), 3);
    let evs = events.events();
    assert_eq!(evs.len(), 1);
    assert_eq!(evs[0].error_type.as_deref(), Some("TransportError"));
    assert_eq!(evs[0].attempts, 3);
    assert_eq!(evs[0].status, Status::Error);
}

/// A writer whose disk is full.
struct NoSpace;

impl std::io::Write for NoSpace {
    fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
        Err(std::io::Error::from_raw_os_error(28))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Err(std::io::Error::from_raw_os_error(28))
    }
}

#[tokio::test]
async fn a_full_disk_sink_never_fails_a_call() {
    let server = Server::start().await;
    let sink = Arc::new(AsyncSink::new(EmfSink::new(EmfConfig::default(), NoSpace), 64).unwrap());
    // Straight to the failing writer, too: the gate ignores its error.
    let direct = Arc::new(EmfSink::new(EmfConfig::default(), NoSpace));
    for (i, s) in [
        sink.clone() as Arc<dyn tollgate_cost::Sink>,
        direct as Arc<dyn tollgate_cost::Sink>,
    ]
    .into_iter()
    .enumerate()
    {
        let gate = Gate::builder(client(&server.url), handle(POLICY))
            .sink(s)
            .backoff(Backoff::none())
            .build();
        for _ in 0..5 {
            server.push(Reply::ok("answer", 100, 20));
            let r = gate
                .converse(&ChatRequest::user("hi"), &tags("chat"))
                .await
                .unwrap_or_else(|e| panic!("sink {i}: {e}"));
            assert_eq!(r.event.status, Status::Ok);
            assert!(r.event.cost_nanos > 0);
        }
    }
    assert!(sink.flush_timeout(Duration::from_secs(10)) || sink.stats().pending() == 0);
    let st = sink.stats();
    assert_eq!((st.accepted, st.written, st.failed), (5, 0, 5));
}
