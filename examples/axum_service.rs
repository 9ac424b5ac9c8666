//! tollgate inside an HTTP service: an axum server whose `POST /chat` goes
//! through the Bedrock gate, with the policy file hot-reloaded on change.
//!
//! ```text
//! cargo run --example axum_service -- --policy rules/example.toml \
//!     [--endpoint http://127.0.0.1:4566] [--listen 127.0.0.1:8080]
//! ```
//!
//! - `POST /chat` `{"prompt": "...", "system": "...", "max_tokens": 300,
//!   "feature": "chat", "tenant": "acme", "user": "u-1",
//!   "attributes": {"task": "summarize"}}` answers
//!   `{"text", "stop_reason", "model_id", "usage", "cost_usd", "rules"}`;
//!   string, integer, float and boolean `attributes` reach the policy.
//! - `GET /healthz` answers `ok`.
//! - `GET /policy` answers `{"name", "hash", "version", "loaded_at_unix"}`:
//!   the version goes up each time an edit of the file is loaded (a broken
//!   edit is refused and the old policy keeps serving).
//!
//! Credentials and region come from the default AWS chain (`aws-config`:
//! environment, shared config and credentials files, SSO, IMDS; region
//! `us-east-1` when none is set). With `--endpoint` the client calls any
//! server that speaks Bedrock's wire format (a test double, a proxy).

use aws_config::BehaviorVersion;
use aws_sdk_bedrockruntime::config::{Credentials, ProvideCredentials, Region};
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::UNIX_EPOCH;
use tollgate::engine::PolicyHandle;
use tollgate::engine::WatchOptions;
use tollgate::lang::LoadOptions;
use tollgate_bedrock::{AttrValue, ChatRequest, Gate, GateError};
use tollgate_cost::{CallEvent, Ledger, Sink, SinkError, Tags};

/// Call events as JSON lines on standard output.
struct StdoutSink;

impl Sink for StdoutSink {
    fn write(&self, event: &CallEvent) -> Result<(), SinkError> {
        use std::io::Write;
        let line = event.to_json_line()?;
        std::io::stdout().lock().write_all(&line)?;
        Ok(())
    }
}

struct Args {
    policy: String,
    endpoint: Option<String>,
    listen: String,
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        policy: "rules/example.toml".into(),
        endpoint: None,
        listen: "127.0.0.1:8080".into(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--policy" => a.policy = value()?,
            "--endpoint" => a.endpoint = Some(value()?),
            "--listen" => a.listen = value()?,
            other => {
                return Err(format!(
                    "unknown argument `{other}` (use --policy, --endpoint, --listen)"
                ))
            }
        }
    }
    Ok(a)
}

/// A Bedrock Runtime client from the default AWS chain (environment,
/// shared files, SSO, IMDS); with `--endpoint` and no credentials anywhere,
/// static test credentials, so a local server can be called.
async fn client(endpoint: Option<&str>) -> aws_sdk_bedrockruntime::Client {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(url) = endpoint {
        loader = loader.endpoint_url(url);
    }
    let shared = loader.load().await;
    let mut conf = aws_sdk_bedrockruntime::config::Builder::from(&shared);
    if shared.region().is_none() {
        conf = conf.region(Region::new("us-east-1"));
    }
    let has_creds = match shared.credentials_provider() {
        Some(p) => p.provide_credentials().await.is_ok(),
        None => false,
    };
    if endpoint.is_some() && !has_creds {
        conf = conf.credentials_provider(Credentials::new("test", "test", None, None, "static"));
    }
    aws_sdk_bedrockruntime::Client::from_conf(conf.build())
}

type App = Arc<Gate>;

fn text(v: &Value, k: &str) -> Option<String> {
    v.get(k).and_then(Value::as_str).map(str::to_owned)
}

async fn chat(State(gate): State<App>, Json(body): Json<Value>) -> (StatusCode, Json<Value>) {
    let Some(prompt) = text(&body, "prompt") else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "the body needs a string `prompt`"})),
        );
    };
    let mut req = ChatRequest::user(prompt);
    if let Some(s) = text(&body, "system") {
        req = req.system(s);
    }
    if let Some(n) = body.get("max_tokens").and_then(Value::as_u64) {
        req = req.max_tokens(u32::try_from(n).unwrap_or(u32::MAX));
    }
    if let Some(attrs) = body.get("attributes").and_then(Value::as_object) {
        for (k, v) in attrs {
            let a = match v {
                Value::Bool(b) => AttrValue::Bool(*b),
                Value::String(s) => AttrValue::Str(s.clone()),
                Value::Number(n) => match n.as_i64() {
                    Some(i) => AttrValue::Int(i),
                    None => AttrValue::Float(n.as_f64().unwrap_or(0.0)),
                },
                _ => continue,
            };
            req = req.attr(k.clone(), a);
        }
    }
    let tags = Tags {
        app: Some("axum-service".into()),
        feature: text(&body, "feature").map(Into::into),
        user: text(&body, "user").map(Into::into),
        tenant: text(&body, "tenant").map(Into::into),
        use_case: None,
    };
    match gate.converse(&req, &tags).await {
        Ok(r) => (
            StatusCode::OK,
            Json(json!({
                "text": r.text(),
                "stop_reason": r.stop_reason().as_str(),
                "model_id": r.model_id,
                "usage": r.usage,
                "cost_usd": r.event.cost_usd,
                "rules": r.event.rules,
            })),
        ),
        Err(e) => {
            let status = match &e {
                GateError::BudgetExceeded { .. } => StatusCode::TOO_MANY_REQUESTS,
                GateError::Request(_) => StatusCode::BAD_REQUEST,
                _ => StatusCode::BAD_GATEWAY,
            };
            (
                status,
                Json(json!({"error": e.to_string(), "type": e.error_type()})),
            )
        }
    }
}

async fn policy(State(gate): State<App>) -> Json<Value> {
    let live = gate.policy().current();
    let loaded = live
        .loaded_at()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    Json(json!({
        "name": live.policy().name(),
        "hash": live.hash_hex(),
        "version": live.version(),
        "loaded_at_unix": loaded,
    }))
}

#[tokio::main]
async fn main() -> ExitCode {
    let a = match args() {
        Ok(a) => a,
        Err(msg) => {
            eprintln!("{msg}");
            return ExitCode::from(2);
        }
    };
    match serve(a).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("{}", msg.trim_end());
            ExitCode::FAILURE
        }
    }
}

/// Runs the service; an error comes back as the text to print (a policy
/// that does not load: its located diagnostics).
async fn serve(a: Args) -> Result<(), String> {
    let handle = PolicyHandle::load(&a.policy, LoadOptions::default()).map_err(|e| e.render())?;
    let handle = Arc::new(handle);
    // Reloads the file when it changes; dropping the watcher stops it.
    let _watcher = handle
        .watch(WatchOptions::default())
        .map_err(|e| format!("error: watching {}: {e}", a.policy))?;
    let gate = Gate::builder(client(a.endpoint.as_deref()).await, handle)
        .sink(Arc::new(StdoutSink))
        // [[budget]] rules apply with a ledger (in process here; RedisStore
        // with the `redis` feature for a fleet).
        .ledger(Ledger::in_memory())
        .build();
    let app = Router::new()
        .route("/chat", post(chat))
        .route("/healthz", get(|| async { "ok" }))
        .route("/policy", get(policy))
        .with_state(Arc::new(gate));
    let listener = tokio::net::TcpListener::bind(&a.listen)
        .await
        .map_err(|e| format!("error: listening on {}: {e}", a.listen))?;
    let addr = listener.local_addr().map_err(|e| format!("error: {e}"))?;
    eprintln!("listening on http://{addr}");
    axum::serve(listener, app)
        .await
        .map_err(|e| format!("error: serving: {e}"))
}
