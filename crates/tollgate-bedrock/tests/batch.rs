//! `Gate::send`, the batch JSON Lines queue and the output reader, against
//! the loopback Bedrock and real files.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{client, handle, Collect, Reply, Server};
use serde_json::json;
use std::io::Cursor;
use std::sync::Arc;
use tollgate_bedrock::{BatchLimits, BatchQueue, ChatRequest, Gate, GateError, Sent};
use tollgate_cost::{Day, GroupKey, Ledger, Mode, Status, Tags};

const POLICY: &str = r#"
[policy]
name = "batch-test"
default_model = "haiku"

[attributes]
feature = "string"

[models.haiku]
id = "us.anthropic.claude-3-5-haiku-20241022-v1:0"

[models.sonnet]
id = "us.anthropic.claude-sonnet-4-20250514-v1:0"

[[route]]
name = "enrich"
when = 'feature == "enrich"'
model = "sonnet"
max_output_tokens = 200

[[batch]]
name = "nightly"
when = 'feature == "nightly" || feature == "enrich"'
"#;

const HAIKU: &str = "us.anthropic.claude-3-5-haiku-20241022-v1:0";
const SONNET: &str = "us.anthropic.claude-sonnet-4-20250514-v1:0";

fn tmpdir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!(
        "tollgate-batch-{name}-{}-{}",
        std::process::id(),
        fastrand::u64(..)
    ));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn gate(server: &Server, queue: Arc<BatchQueue>, ledger: Ledger) -> (Gate, Arc<Collect>) {
    let events = Arc::new(Collect::default());
    let handle = handle(POLICY);
    let gate = Gate::builder(client(&server.url), handle)
        .sink(events.clone())
        .batch_queue(queue)
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

#[tokio::test]
async fn send_queues_batch_requests_per_model_and_answers_the_rest() {
    let server = Server::start().await;
    let dir = tmpdir("send");
    let limits = BatchLimits {
        max_records_per_file: 2,
        max_bytes_per_file: 1_000_000,
    };
    let queue = Arc::new(BatchQueue::with_prefix(&dir, limits, "TST").unwrap());
    let (gate, events) = gate(&server, queue.clone(), Ledger::in_memory());

    server.push(Reply::ok("now", 5, 2));
    let answered = gate
        .send(&ChatRequest::user("right away"), &tags("chat"))
        .await
        .unwrap();
    let Sent::Answered(r) = answered else {
        panic!("a request without a batch rule is answered now")
    };
    assert_eq!(r.text(), "now");

    let mut ids = Vec::new();
    for (i, f) in ["nightly", "nightly", "enrich", "nightly"]
        .iter()
        .enumerate()
    {
        let req = ChatRequest::user(format!("doc {i}"))
            .system("Summarise.")
            .max_tokens(50);
        match gate.send(&req, &tags(f)).await.unwrap() {
            Sent::Queued {
                record_id,
                model_id,
                file,
            } => ids.push((record_id, model_id, file)),
            other => panic!("expected queued, got {other:?}"),
        }
    }
    // Only the realtime request reached Bedrock.
    assert_eq!(server.requests().len(), 1);
    assert_eq!(events.events().len(), 1);
    let haiku_stem = "us.anthropic.claude-3-5-haiku-20241022-v1_0";
    let sonnet_stem = "us.anthropic.claude-sonnet-4-20250514-v1_0";
    assert_eq!(ids[0].0, "TST00000001");
    assert_eq!(ids[0].1, HAIKU);
    assert_eq!(ids[0].2, dir.join(format!("{haiku_stem}-00001.jsonl")));
    assert_eq!(ids[1].2, dir.join(format!("{haiku_stem}-00001.jsonl")));
    assert_eq!(ids[2].1, SONNET);
    assert_eq!(ids[2].2, dir.join(format!("{sonnet_stem}-00001.jsonl")));
    // Two records per file: the third haiku record opens file 2.
    assert_eq!(ids[3].0, "TST00000004");
    assert_eq!(ids[3].2, dir.join(format!("{haiku_stem}-00002.jsonl")));

    let files = queue.close().unwrap();
    let names: Vec<(String, usize)> = files
        .iter()
        .map(|f| {
            (
                f.path.file_name().unwrap().to_string_lossy().into_owned(),
                f.records,
            )
        })
        .collect();
    assert_eq!(
        names,
        vec![
            (format!("{haiku_stem}-00001.jsonl"), 2),
            (format!("{haiku_stem}-00002.jsonl"), 1),
            (format!("{sonnet_stem}-00001.jsonl"), 1),
        ]
    );
    let first = std::fs::read_to_string(&files[0].path).unwrap();
    assert_eq!(files[0].bytes, first.len() as u64);
    assert_eq!(
        first,
        concat!(
            r#"{"recordId":"TST00000001","modelInput":{"messages":[{"role":"user","content":[{"text":"doc 0"}]}],"system":[{"text":"Summarise."}],"inferenceConfig":{"maxTokens":50}}}"#,
            "\n",
            r#"{"recordId":"TST00000002","modelInput":{"messages":[{"role":"user","content":[{"text":"doc 1"}]}],"system":[{"text":"Summarise."}],"inferenceConfig":{"maxTokens":50}}}"#,
            "\n"
        )
    );
    // The route's cap (200) and the request's (50): the smaller is sent.
    let sonnet = std::fs::read_to_string(&files[2].path).unwrap();
    assert_eq!(
        sonnet,
        concat!(
            r#"{"recordId":"TST00000003","modelInput":{"messages":[{"role":"user","content":[{"text":"doc 2"}]}],"system":[{"text":"Summarise."}],"inferenceConfig":{"maxTokens":50}}}"#,
            "\n"
        )
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn files_rotate_at_the_byte_limit() {
    let server = Server::start().await;
    let dir = tmpdir("bytes");
    // One record of "doc N" is 135 bytes with its newline: two do not fit in 200.
    let limits = BatchLimits {
        max_records_per_file: 50_000,
        max_bytes_per_file: 200,
    };
    let queue = Arc::new(BatchQueue::with_prefix(&dir, limits, "B01").unwrap());
    let (gate, _events) = gate(&server, queue.clone(), Ledger::in_memory());
    for i in 0..3 {
        let req = ChatRequest::user(format!("doc {i}")).max_tokens(50);
        gate.send(&req, &tags("nightly")).await.unwrap();
    }
    let files = queue.close().unwrap();
    assert_eq!(files.len(), 3);
    for f in &files {
        assert_eq!(f.records, 1);
        assert!(f.bytes <= 200, "{f:?}");
    }
    let line = std::fs::read_to_string(&files[0].path).unwrap();
    assert_eq!(line.len() as u64, files[0].bytes);
    // A record bigger than a whole file is refused, not written.
    let huge = ChatRequest::user("x".repeat(500));
    let err = gate.send(&huge, &tags("nightly")).await.unwrap_err();
    assert!(
        matches!(&err, GateError::Request(m) if m.contains("larger than the file limit of 200 bytes")),
        "{err:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn output_records_map_back_and_are_priced_at_the_batch_rate() {
    let server = Server::start().await;
    let dir = tmpdir("read");
    let queue = Arc::new(BatchQueue::with_prefix(&dir, BatchLimits::default(), "RD1").unwrap());
    let ledger = Ledger::in_memory();
    let (gate, events) = gate(&server, queue.clone(), ledger.clone());
    for (i, f) in ["nightly", "enrich", "nightly"].iter().enumerate() {
        let req = ChatRequest::user(format!("doc {i}"));
        gate.send(&req, &tags(f)).await.unwrap();
    }
    assert_eq!(queue.pending(), 3);
    // Out of order, one failed record; Bedrock echoes modelInput.
    let output = [
        json!({"recordId": "RD100000002", "modelInput": {},
               "modelOutput": {"output": {"message": {"role": "assistant", "content": [{"text": "enriched"}]}},
                               "stopReason": "end_turn",
                               "usage": {"inputTokens": 1000, "outputTokens": 100, "totalTokens": 1100}}}),
        json!({"recordId": "RD100000001", "modelInput": {},
               "error": {"errorCode": 400, "errorMessage": "Malformed input request"}}),
        json!({"recordId": "RD100000003", "modelInput": {},
               "modelOutput": {"output": {"message": {"role": "assistant", "content": [{"text": "sum"}, {"text": "mary"}]}},
                               "stopReason": "max_tokens",
                               "usage": {"inputTokens": 2000, "outputTokens": 300, "totalTokens": 2300}}}),
    ]
    .iter()
    .map(|v| v.to_string())
    .collect::<Vec<_>>()
    .join("\n");
    let records = gate
        .read_batch_output(&queue, Cursor::new(output.into_bytes()))
        .unwrap();
    assert_eq!(records.len(), 3);
    assert_eq!(queue.pending(), 0);

    // Sonnet 4 batch: $1.50 / $7.50 per Mtok.
    let r = &records[0];
    assert_eq!(r.record_id, "RD100000002");
    let a = r.outcome.as_ref().unwrap();
    assert_eq!(
        (a.text.as_str(), a.stop_reason.as_str()),
        ("enriched", "end_turn")
    );
    assert_eq!(r.event.mode, Mode::Batch);
    assert_eq!(r.event.model, "sonnet");
    assert_eq!(r.event.request_id, "RD100000002");
    assert_eq!(r.event.rules.batch.as_deref(), Some("nightly"));
    assert_eq!(r.event.cost_nanos, 1000 * 1_500 + 100 * 7_500);

    let r = &records[1];
    assert_eq!(
        r.outcome,
        Err(GateError::Bedrock {
            code: "400".into(),
            message: "Malformed input request".into(),
            attempts: 1
        })
    );
    assert_eq!(r.event.status, Status::Error);
    assert_eq!(r.event.cost_nanos, 0);

    // Claude 3.5 Haiku batch: $0.40 / $2.00 per Mtok.
    let r = &records[2];
    assert_eq!(r.outcome.as_ref().unwrap().text, "summary");
    assert_eq!(r.event.model, "haiku");
    assert_eq!(r.event.cost_nanos, 2000 * 400 + 300 * 2_000);

    let evs = events.events();
    assert_eq!(evs.len(), 3);
    assert!(evs.iter().all(|e| e.mode == Mode::Batch));
    let line = String::from_utf8(evs[0].to_json_line().unwrap()).unwrap();
    assert!(line.contains(r#""mode":"batch""#), "{line}");
    // The ledger counts the batch spend (global group).
    let total: u64 = records.iter().map(|r| r.event.cost_nanos).sum();
    assert_eq!(total, 2_250_000 + 1_400_000);
    assert_eq!(
        ledger
            .total(GroupKey::new("feature", "nightly"), Day::today())
            .unwrap(),
        1_400_000
    );

    // A record the queue did not write: a located error.
    let err = gate
        .read_batch_output(
            &queue,
            Cursor::new(b"\n{\"recordId\":\"ZZZ00000001\"}\n".to_vec()),
        )
        .unwrap_err();
    assert!(
        matches!(&err, GateError::Malformed(m) if m.starts_with("batch output line 2: record `ZZZ00000001`")),
        "{err:?}"
    );
    let err = gate
        .read_batch_output(&queue, Cursor::new(b"{not json".to_vec()))
        .unwrap_err();
    assert!(
        matches!(&err, GateError::Malformed(m) if m.starts_with("batch output line 1: ")),
        "{err:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_bad_output_line_leaves_every_record_pending_and_writes_nothing() {
    let server = Server::start().await;
    let dir = tmpdir("atomic");
    let queue = Arc::new(BatchQueue::with_prefix(&dir, BatchLimits::default(), "AT1").unwrap());
    let ledger = Ledger::in_memory();
    let (gate, events) = gate(&server, queue.clone(), ledger.clone());
    for i in 0..2 {
        let req = ChatRequest::user(format!("doc {i}"));
        gate.send(&req, &tags("nightly")).await.unwrap();
    }
    let good = |id: &str| {
        json!({"recordId": id, "modelInput": {},
               "modelOutput": {"output": {"message": {"role": "assistant", "content": [{"text": "x"}]}},
                               "stopReason": "end_turn",
                               "usage": {"inputTokens": 10, "outputTokens": 1, "totalTokens": 11}}})
        .to_string()
    };
    // The first line is good, the second has no outcome: nothing is taken.
    let broken = format!(
        "{}\n{}\n",
        good("AT100000001"),
        json!({"recordId": "AT100000002"})
    );
    let err = gate
        .read_batch_output(&queue, Cursor::new(broken.into_bytes()))
        .unwrap_err();
    assert!(
        matches!(&err, GateError::Malformed(m) if m == "batch output line 2: neither `modelOutput` nor `error`"),
        "{err:?}"
    );
    assert_eq!(queue.pending(), 2);
    assert!(events.events().is_empty());
    let spent = |l: &Ledger| {
        l.total(GroupKey::new("feature", "nightly"), Day::today())
            .unwrap()
    };
    assert_eq!(spent(&ledger), 0);

    // The mended file reads in full.
    let mended = format!("{}\n{}\n", good("AT100000001"), good("AT100000002"));
    let records = gate
        .read_batch_output(&queue, Cursor::new(mended.into_bytes()))
        .unwrap();
    assert_eq!(records.len(), 2);
    assert_eq!(queue.pending(), 0);
    assert_eq!(events.events().len(), 2);
    // Claude 3.5 Haiku batch: $0.40 / $2.00 per Mtok.
    assert_eq!(spent(&ledger), 2 * (10 * 400 + 2_000));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_batch_request_answered_now_is_priced_on_demand() {
    // A gate without a queue answers a `[[batch]]` request in real time:
    // it is billed at on-demand prices, not batch ones.
    let server = Server::start().await;
    let events = Arc::new(Collect::default());
    let gate = Gate::builder(client(&server.url), handle(POLICY))
        .sink(events.clone())
        .ledger(Ledger::in_memory())
        .build();
    server.push(Reply::ok("now", 1000, 100));
    let sent = gate
        .send(&ChatRequest::user("hi"), &tags("nightly"))
        .await
        .unwrap();
    let Sent::Answered(r) = sent else {
        panic!("queued without a queue")
    };
    // Claude 3.5 Haiku on demand: $0.80 / $4.00 per Mtok.
    assert_eq!(r.event.mode, Mode::Realtime);
    assert_eq!(r.event.rules.batch.as_deref(), Some("nightly"));
    assert_eq!(r.event.cost_nanos, 1000 * 800 + 100 * 4_000);
    assert_eq!(events.events()[0].cost_nanos, 1_200_000);
}

#[tokio::test]
async fn a_request_holding_a_block_the_sdk_does_not_know_is_refused_for_batch() {
    use aws_sdk_bedrockruntime::operation::converse::ConverseInput;
    use aws_sdk_bedrockruntime::types::{ContentBlock, ConversationRole, Message};
    let server = Server::start().await;
    let dir = tmpdir("unknown");
    let limits = BatchLimits {
        max_records_per_file: 10,
        max_bytes_per_file: 1_000_000,
    };
    let queue = Arc::new(BatchQueue::with_prefix(&dir, limits, "UNK").unwrap());
    let (gate, _events) = gate(&server, queue.clone(), Ledger::in_memory());
    // A realtime answer holding a block a newer Bedrock sends.
    server.push(Reply::json(json!({
        "output": {"message": {"role": "assistant", "content": [
            {"text": "Here it is."},
            {"someFutureBlock": {"payload": 1}}
        ]}},
        "stopReason": "end_turn",
        "usage": {"inputTokens": 30, "outputTokens": 4, "totalTokens": 34}
    })));
    let a = gate
        .converse(&ChatRequest::user("Show me."), &tags("chat"))
        .await
        .unwrap();
    let answer = a.message().unwrap().clone();
    assert!(answer.content()[1].is_unknown());
    // The next turn carries it in its history, and a batch rule matches.
    let user = |t: &str| {
        Message::builder()
            .role(ConversationRole::User)
            .content(ContentBlock::Text(t.into()))
            .build()
            .unwrap()
    };
    let next = ChatRequest::from(
        ConverseInput::builder()
            .messages(user("Show me."))
            .messages(answer)
            .messages(user("And again, overnight."))
            .build()
            .unwrap(),
    );
    let err = gate.send(&next, &tags("nightly")).await.unwrap_err();
    assert!(matches!(err, GateError::Request(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        "invalid request: cannot write a batch record: `content block` holds a variant this SDK version does not know"
    );
    assert_eq!(queue.pending(), 0, "nothing is queued");
    assert_eq!(server.requests().len(), 1, "nor sent to Bedrock");
}
