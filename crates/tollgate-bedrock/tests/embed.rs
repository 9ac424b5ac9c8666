//! `Gate::embed` over InvokeModel (Titan Text Embeddings V2, Cohere Embed)
//! against a loopback Bedrock, with the embedding cache.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
// The cache crate's test support: a real `redis-server` on a free port.
#[cfg(feature = "redis")]
#[allow(dead_code, clippy::panic)]
#[path = "../../tollgate-cache/tests/support/redis_server.rs"]
mod redis_server;

use common::{client, handle, Collect, Reply, Server};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tollgate_bedrock::{EmbedOptions, Gate, GateError, InputType};
use tollgate_cache::{MemoryConfig, MemoryStore, Store};
use tollgate_cost::{CacheOutcome, Mode, Operation, Status, Tags};

const POLICY: &str = r#"
[policy]
name = "embed-test"
default_model = "titan"

[attributes]
feature = "string"

[models.titan]
id = "amazon.titan-embed-text-v2:0"

[models.cohere]
id = "cohere.embed-english-v3"

[[route]]
name = "cohere"
when = 'feature == "search"'
model = "cohere"
"#;

fn gate(server: &Server, store: Option<Arc<dyn Store>>) -> (Gate, Arc<Collect>) {
    let events = Arc::new(Collect::default());
    let handle = handle(POLICY);
    let mut b = Gate::builder(client(&server.url), handle)
        .sink(events.clone())
        .embed_options(EmbedOptions {
            dimensions: 256,
            normalize: true,
            input_type: InputType::SearchQuery,
            ttl: Duration::from_secs(600),
        });
    if let Some(s) = store {
        b = b.embed_cache(s);
    }
    (b.build(), events)
}

fn tags(feature: &str) -> Tags {
    Tags {
        feature: Some(feature.into()),
        ..Tags::default()
    }
}

fn memory() -> Arc<dyn Store> {
    Arc::new(MemoryStore::new(MemoryConfig::default()))
}

/// Titan V2: $0.02 per Mtok = 20 nano-dollars per token.
const TITAN_NANOS: u64 = 20;
/// Cohere Embed v3: $0.10 per Mtok = 100 nano-dollars per token.
const COHERE_NANOS: u64 = 100;

async fn titan_twice_pays_once(store: Arc<dyn Store>) {
    let server = Server::start().await;
    server.push(Reply::json(
        json!({"embedding": [0.25, -0.5, 0.125], "inputTextTokenCount": 7}),
    ));
    let (gate, events) = gate(&server, Some(store));
    let first = gate
        .embed(&["hello embeddings"], &tags("docs"))
        .await
        .unwrap();
    assert_eq!(first.vectors, vec![vec![0.25f32, -0.5, 0.125]]);
    assert_eq!(first.input_tokens, 7);
    assert_eq!(first.cached, 0);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].method, "POST");
    assert_eq!(reqs[0].path, "/model/amazon.titan-embed-text-v2%3A0/invoke");
    assert_eq!(
        reqs[0].body,
        r#"{"inputText":"hello embeddings","dimensions":256,"normalize":true}"#
    );

    // The same text again: no HTTP call, the cost avoided is reported.
    let second = gate
        .embed(&["hello embeddings"], &tags("docs"))
        .await
        .unwrap();
    assert_eq!(second.vectors, first.vectors);
    assert_eq!(second.cached, 1);
    assert_eq!(second.input_tokens, 0);
    assert_eq!(server.requests().len(), 1, "the second embed made no call");

    let evs = events.events();
    assert_eq!(evs.len(), 2);
    assert_eq!(evs[0].operation, Operation::Embeddings);
    assert_eq!(evs[0].mode, Mode::Embedding);
    assert_eq!(evs[0].status, Status::Ok);
    assert_eq!(evs[0].cache, CacheOutcome::Miss);
    assert_eq!(evs[0].usage.input_tokens, 7);
    assert_eq!(evs[0].cost_nanos, 7 * TITAN_NANOS);
    assert_eq!(evs[0].model_id, "amazon.titan-embed-text-v2:0");
    assert_eq!(evs[1].cache, CacheOutcome::Hit);
    assert_eq!(evs[1].attempts, 0);
    assert_eq!(evs[1].cost_nanos, 0);
    assert_eq!(evs[1].cost_avoided_nanos, 7 * TITAN_NANOS);
    let line = String::from_utf8(evs[1].to_json_line().unwrap()).unwrap();
    assert!(line.contains(r#""mode":"embedding""#), "{line}");
    assert!(line.contains(r#""operation":"embeddings""#), "{line}");
}

#[tokio::test]
async fn titan_embeds_once_and_serves_the_repeat_from_the_memory_cache() {
    titan_twice_pays_once(memory()).await;
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn titan_embeds_once_and_serves_the_repeat_from_redis() {
    let redis = redis_server::RedisServer::start();
    let store =
        tollgate_cache::RedisStore::open(tollgate_cache::RedisConfig::new(redis.url())).unwrap();
    titan_twice_pays_once(Arc::new(store)).await;
}

#[tokio::test]
async fn cohere_batches_texts_and_reads_the_token_header() {
    let server = Server::start().await;
    server.push(
        Reply::json(json!({
            "embeddings": [[1.0, 0.0], [0.0, 1.0]],
            "id": "e-1",
            "response_type": "embeddings_floats",
            "texts": ["alpha", "beta gamma"]
        }))
        .header("X-Amzn-Bedrock-Input-Token-Count", "9"),
    );
    server.push(
        Reply::json(json!({
            "embeddings": [[0.5, 0.5]],
            "id": "e-2",
            "response_type": "embeddings_floats",
            "texts": ["delta"]
        }))
        .header("X-Amzn-Bedrock-Input-Token-Count", "3"),
    );
    let (gate, events) = gate(&server, Some(memory()));
    let r = gate
        .embed(&["alpha", "beta gamma"], &tags("search"))
        .await
        .unwrap();
    assert_eq!(r.vectors, vec![vec![1.0f32, 0.0], vec![0.0, 1.0]]);
    assert_eq!(r.input_tokens, 9);
    assert_eq!(r.model_id, "cohere.embed-english-v3");
    let reqs = server.requests();
    assert_eq!(reqs[0].path, "/model/cohere.embed-english-v3/invoke");
    assert_eq!(
        reqs[0].body,
        r#"{"texts":["alpha","beta gamma"],"input_type":"search_query"}"#
    );
    // One cached, one new: only the new text is sent.
    let r2 = gate
        .embed(&["beta gamma", "delta"], &tags("search"))
        .await
        .unwrap();
    assert_eq!(r2.vectors, vec![vec![0.0f32, 1.0], vec![0.5, 0.5]]);
    assert_eq!(r2.cached, 1);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(
        reqs[1].json(),
        json!({"texts": ["delta"], "input_type": "search_query"})
    );
    let evs = events.events();
    assert_eq!(evs[0].cost_nanos, 9 * COHERE_NANOS);
    assert_eq!(evs[1].cost_nanos, 3 * COHERE_NANOS);
    assert_eq!(evs[1].cache, CacheOutcome::Miss);
    // "alpha" (5 bytes) and "beta gamma" (10 bytes) share 9 tokens: 3 and 6.
    assert_eq!(evs[1].cost_avoided_nanos, 6 * COHERE_NANOS);
}

#[tokio::test]
async fn an_invoke_error_is_typed_and_recorded() {
    let server = Server::start().await;
    server.push(Reply::error(400, "ValidationException", "bad dimensions"));
    let (gate, events) = gate(&server, None);
    let err = gate.embed(&["x"], &tags("docs")).await.unwrap_err();
    assert_eq!(
        err,
        GateError::Bedrock {
            code: "ValidationException".into(),
            message: "bad dimensions".into(),
            attempts: 1
        }
    );
    let ev = &events.events()[0];
    assert_eq!(ev.status, Status::Error);
    assert_eq!(ev.error_type.as_deref(), Some("ValidationException"));
    assert_eq!(ev.cost_nanos, 0);
}

#[tokio::test]
async fn a_chat_model_is_refused_for_embeddings() {
    let server = Server::start().await;
    let handle = handle(
        r#"
[policy]
name = "x"
default_model = "haiku"
[models.haiku]
id = "us.anthropic.claude-3-5-haiku-20241022-v1:0"
"#,
    );
    let gate = Gate::builder(client(&server.url), handle).build();
    let err = gate.embed(&["x"], &Tags::default()).await.unwrap_err();
    assert!(
        matches!(err, GateError::Request(ref m) if m.contains("not an embedding model")),
        "{err:?}"
    );
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn an_answered_embedding_call_with_a_bad_body_is_still_billed() {
    // Bedrock billed the call (200) even though tollgate cannot use it.
    let server = Server::start().await;
    let (gate, events) = gate(&server, None);
    server.push(
        Reply::json(json!({"embeddings": [[1.0, 0.0]], "texts": ["alpha", "beta"]}))
            .header("X-Amzn-Bedrock-Input-Token-Count", "40"),
    );
    let err = gate
        .embed(&["alpha", "beta"], &tags("search"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, GateError::Malformed(m) if m == "Cohere returned 1 embeddings for 2 texts"),
        "{err:?}"
    );
    server.push(Reply::json(json!({"inputTextTokenCount": 7})));
    let err = gate.embed(&["gamma"], &tags("docs")).await.unwrap_err();
    assert!(matches!(&err, GateError::Malformed(_)), "{err:?}");
    let evs = events.events();
    let billed: Vec<(Status, u64, u64)> = evs
        .iter()
        .map(|e| (e.status, e.usage.input_tokens, e.cost_nanos))
        .collect();
    assert_eq!(
        billed,
        [
            (Status::Error, 40, 40 * COHERE_NANOS),
            (Status::Error, 7, 7 * TITAN_NANOS)
        ]
    );
}

#[tokio::test]
async fn an_absurd_token_count_saturates_instead_of_overflowing() {
    let server = Server::start().await;
    let (gate, events) = gate(&server, Some(memory()));
    server.push(
        Reply::json(json!({"embeddings": [[1.0], [2.0]], "texts": ["alpha", "beta"]}))
            .header("X-Amzn-Bedrock-Input-Token-Count", &u64::MAX.to_string()),
    );
    let e = gate
        .embed(&["alpha", "beta"], &tags("search"))
        .await
        .unwrap();
    assert_eq!(e.input_tokens, u64::MAX);
    assert_eq!(events.events()[0].usage.input_tokens, u64::MAX);
    // The cached shares came out whole: the second call is served from cache.
    let again = gate
        .embed(&["alpha", "beta"], &tags("search"))
        .await
        .unwrap();
    assert_eq!(again.vectors, [vec![1.0], vec![2.0]]);
    assert_eq!(server.requests().len(), 1);
}
