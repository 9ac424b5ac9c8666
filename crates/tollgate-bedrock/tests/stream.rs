//! `Gate::converse_stream` against the loopback Bedrock's event stream.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{client, delta, event, exception, handle, Collect, Reply, Server, POLICY};
use serde_json::json;
use std::sync::Arc;
use tollgate_bedrock::{
    text_delta, Backoff, ChatRequest, Gate, GateError, StopCause, StreamEvent, StreamOptions,
};
use tollgate_cost::{CancelReason, Mode, Status, Tags};

async fn rig() -> (Server, Gate, Arc<Collect>) {
    let server = Server::start().await;
    let events = Arc::new(Collect::default());
    let handle = handle(POLICY);
    let gate = Gate::builder(client(&server.url), handle)
        .sink(events.clone())
        .backoff(Backoff::none())
        .build();
    (server, gate, events)
}

fn tags(feature: &str) -> Tags {
    Tags {
        feature: Some(feature.into()),
        ..Tags::default()
    }
}

fn stop_and_metadata(input: i32, output: i32) -> Vec<Vec<u8>> {
    vec![
        event("contentBlockStop", json!({"contentBlockIndex": 0})),
        event("messageStop", json!({"stopReason": "end_turn"})),
        event(
            "metadata",
            json!({"usage": {"inputTokens": input, "outputTokens": output, "totalTokens": input + output},
                   "metrics": {"latencyMs": 12}}),
        ),
    ]
}

#[tokio::test]
async fn stream_delivers_deltas_and_bills_metadata_usage() {
    let (server, gate, events) = rig().await;
    let mut frames = vec![
        event("messageStart", json!({"role": "assistant"})),
        delta("Hello"),
        delta(", world"),
    ];
    frames.extend(stop_and_metadata(20, 3));
    server.push(Reply::Stream {
        frames,
        complete: true,
    });
    let mut s = gate
        .converse_stream(
            ChatRequest::user("hi").max_tokens(100),
            tags("chat"),
            StreamOptions::default(),
        )
        .await
        .unwrap();
    let mut got = Vec::new();
    while let Some(ev) = s.next().await {
        got.push(ev.unwrap());
    }
    // Every event reaches the caller, in order, as the SDK's own.
    let kinds: Vec<String> = got.iter().map(event_kind).collect();
    let deltas: Vec<&str> = kinds
        .iter()
        .map(String::as_str)
        .filter(|k| k.starts_with("delta:") || k.starts_with("messageStop"))
        .collect();
    assert_eq!(
        deltas,
        vec!["delta:Hello", "delta:, world", "messageStop:end_turn"]
    );
    let sum = s.take_summary().unwrap();
    assert_eq!(sum.text, "Hello, world");
    assert_eq!(sum.stop_reason.as_deref(), Some("end_turn"));
    assert_eq!(sum.cause, StopCause::Finished);
    assert!(!sum.usage_estimated);
    assert_eq!((sum.usage.input_tokens, sum.usage.output_tokens), (20, 3));
    let req = &server.requests()[0];
    assert_eq!(
        req.path,
        "/model/us.anthropic.claude-3-5-haiku-20241022-v1%3A0/converse-stream"
    );
    assert_eq!(req.json()["inferenceConfig"]["maxTokens"], json!(100));
    drop(s);
    let evs = events.events();
    assert_eq!(evs.len(), 1, "one event per stream, even after drop");
    assert_eq!(evs[0].mode, Mode::Stream);
    assert_eq!(evs[0].status, Status::Ok);
    assert_eq!(evs[0].cost_nanos, 20 * 800 + 3 * 4000);
    assert!(!evs[0].usage_estimated);
    let line = String::from_utf8(evs[0].to_json_line().unwrap()).unwrap();
    assert!(!line.contains("usage_estimated"), "{line}");
}

#[tokio::test]
async fn exception_frame_mid_stream_bills_the_partial_output_as_estimated() {
    let (server, gate, events) = rig().await;
    let frames = vec![
        event("messageStart", json!({"role": "assistant"})),
        delta("abcdefgh"),
        exception("modelStreamErrorException", "model broke"),
    ];
    server.push(Reply::Stream {
        frames,
        complete: true,
    });
    // "hi": 1 token + 4 overhead = 5 input tokens (estimate).
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
        GateError::Stream {
            code: "ModelStreamErrorException".into(),
            message: "model broke".into()
        }
    );
    let ev = &events.events()[0];
    assert_eq!(ev.status, Status::Error);
    assert_eq!(ev.error_type.as_deref(), Some("ModelStreamErrorException"));
    assert_eq!((ev.usage.input_tokens, ev.usage.output_tokens), (5, 2));
    assert_eq!(ev.cost_nanos, 5 * 800 + 2 * 4000);
    assert!(ev.usage_estimated);
    let line = String::from_utf8(ev.to_json_line().unwrap()).unwrap();
    assert!(line.contains(r#""usage_estimated":true"#), "{line}");
    assert_eq!(
        tollgate_cost::CallEvent::from_json_line(line.as_bytes()).unwrap(),
        *ev
    );
}

#[tokio::test]
async fn dropped_connection_mid_stream_bills_the_partial_output() {
    let (server, gate, events) = rig().await;
    let frames = vec![delta("abcd"), delta("efgh")];
    server.push(Reply::Stream {
        frames,
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
    let mut texts = String::new();
    let mut failed = None;
    while let Some(ev) = s.next().await {
        match ev {
            Ok(ev) => texts.push_str(text_delta(&ev).unwrap_or("")),
            Err(e) => failed = Some(e),
        }
    }
    assert_eq!(texts, "abcdefgh");
    let err = failed.expect("a dropped connection is an error");
    assert!(
        matches!(err, GateError::Transport(_) | GateError::Malformed(_)),
        "{err:?}"
    );
    let sum = s.summary().unwrap();
    assert!(sum.usage_estimated);
    assert_eq!(sum.cause, StopCause::Error);
    assert_eq!(sum.usage.output_tokens, 2);
    assert_eq!(events.events()[0].usage.output_tokens, 2);
    assert!(events.events()[0].usage_estimated);
}

#[tokio::test]
async fn repetition_cancels_the_stream_and_records_why() {
    let (server, gate, events) = rig().await;
    let mut frames = vec![event("messageStart", json!({"role": "assistant"}))];
    for _ in 0..10 {
        frames.push(delta("the same words "));
    }
    frames.extend(stop_and_metadata(5, 999));
    server.push(Reply::Stream {
        frames,
        complete: true,
    });
    let mut s = gate
        .converse_stream(
            ChatRequest::user("hi"),
            tags("chat"),
            StreamOptions::default(),
        )
        .await
        .unwrap();
    let mut n = 0;
    while let Some(ev) = s.next().await {
        if text_delta(&ev.unwrap()).is_some() {
            n += 1;
        }
    }
    // ngram 3, repeats 3: fires on the third copy (the text deltas; the
    // stream's other events reach the caller too).
    assert_eq!(n, 3);
    let sum = s.summary().unwrap();
    assert_eq!(sum.cause, StopCause::Repetition);
    assert!(sum.usage_estimated);
    let ev = &events.events()[0];
    assert_eq!(ev.status, Status::Cancelled);
    assert_eq!(ev.cancel_reason, Some(CancelReason::Repetition));
    assert!(ev.usage_estimated);
    // "the same words " x3 = 45 chars -> 12 tokens (estimate).
    assert_eq!(ev.usage.output_tokens, 12);
}

#[tokio::test]
async fn output_budget_cancels_the_stream() {
    let (server, gate, events) = rig().await;
    let mut frames = vec![];
    for i in 0..10 {
        frames.push(delta(&format!("word{i} ")));
    }
    frames.extend(stop_and_metadata(5, 20));
    server.push(Reply::Stream {
        frames,
        complete: true,
    });
    let opts = StreamOptions {
        output_budget_tokens: Some(4),
    };
    let sum = gate
        .converse_stream(ChatRequest::user("hi"), tags("other"), opts)
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(sum.cause, StopCause::OutputBudget);
    assert_eq!(sum.text, "word0 word1 word2 ");
    let ev = &events.events()[0];
    assert_eq!(ev.status, Status::Cancelled);
    assert_eq!(ev.cancel_reason, Some(CancelReason::OutputBudget));
    assert!(ev.usage_estimated);
    // "word0 word1 word2 " = 18 chars -> 5 tokens (estimate).
    assert_eq!(ev.usage.output_tokens, 5);
    let line = String::from_utf8(ev.to_json_line().unwrap()).unwrap();
    assert!(
        line.contains(r#""cancel_reason":"output_budget""#),
        "{line}"
    );
}

#[tokio::test]
async fn throttled_stream_request_falls_back_before_streaming() {
    let (server, gate, _events) = rig().await;
    server.push(Reply::error(429, "ThrottlingException", "slow"));
    let mut frames = vec![delta("ok")];
    frames.extend(stop_and_metadata(1, 1));
    server.push(Reply::Stream {
        frames,
        complete: true,
    });
    let sum = gate
        .converse_stream(
            ChatRequest::user("hi"),
            tags("chat"),
            StreamOptions::default(),
        )
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    assert_eq!(sum.event.attempts, 2);
    assert_eq!(sum.event.model, "sonnet");
    let paths: Vec<String> = server.requests().iter().map(|r| r.path.clone()).collect();
    assert_eq!(
        paths,
        vec![
            "/model/us.anthropic.claude-3-5-haiku-20241022-v1%3A0/converse-stream",
            "/model/us.anthropic.claude-sonnet-4-20250514-v1%3A0/converse-stream"
        ]
    );
}

/// An event as `kind` or `kind:text`.
fn event_kind(ev: &StreamEvent) -> String {
    use aws_sdk_bedrockruntime::types::ConverseStreamOutput as E;
    match ev {
        E::MessageStart(_) => "messageStart".into(),
        E::ContentBlockStart(_) => "contentBlockStart".into(),
        E::ContentBlockDelta(_) => format!("delta:{}", text_delta(ev).unwrap_or("?")),
        E::ContentBlockStop(_) => "contentBlockStop".into(),
        E::MessageStop(m) => format!("messageStop:{}", m.stop_reason().as_str()),
        E::Metadata(_) => "metadata".into(),
        _ => "unknown".into(),
    }
}
