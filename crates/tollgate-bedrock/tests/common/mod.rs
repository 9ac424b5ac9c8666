//! A loopback Bedrock: a hand-written HTTP/1.1 server on 127.0.0.1 that
//! speaks Converse's wire format, records every request, and answers from
//! a script. The real SDK client talks to it.
#![allow(
    deprecated,
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use aws_sdk_bedrockruntime::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_bedrockruntime::Client;
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tollgate_cost::{CallEvent, Sink, SinkError};

/// One scripted answer.
#[derive(Debug, Clone)]
pub enum Reply {
    /// A JSON response (errors carry `x-amzn-errortype`).
    Json {
        status: u16,
        error_type: Option<String>,
        body: String,
    },
    /// A 200 JSON response with extra headers (InvokeModel's token
    /// counts arrive in headers).
    Headed {
        headers: Vec<(String, String)>,
        body: String,
    },
    /// Close the connection with a reset, no response.
    Reset,
    /// Read the request, answer nothing for this long, then close.
    Stall(std::time::Duration),
    /// A JSON response with extra headers (an error's `Retry-After`).
    Full {
        status: u16,
        error_type: Option<String>,
        headers: Vec<(String, String)>,
        body: String,
    },
    /// An event stream that sends `frames`, then nothing for `stall`,
    /// then drops the connection.
    StreamStall {
        frames: Vec<Vec<u8>>,
        stall: std::time::Duration,
    },
    /// An event stream, chunked; `complete = false` drops the connection
    /// after the frames without ending the body.
    Stream {
        frames: Vec<Vec<u8>>,
        complete: bool,
    },
}

impl Reply {
    pub fn ok(text: &str, input: i32, output: i32) -> Reply {
        Reply::ok_usage(text, input, output, 0, 0)
    }

    pub fn ok_usage(text: &str, input: i32, output: i32, read: i32, write: i32) -> Reply {
        Reply::Json {
            status: 200,
            error_type: None,
            body: serde_json::json!({
                "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
                "stopReason": "end_turn",
                "usage": {"inputTokens": input, "outputTokens": output,
                          "totalTokens": input + output + read + write,
                          "cacheReadInputTokens": read, "cacheWriteInputTokens": write},
                "metrics": {"latencyMs": 42}
            })
            .to_string(),
        }
    }

    /// A 200 answer with this JSON body (add headers with [`Reply::header`]).
    pub fn json(body: serde_json::Value) -> Reply {
        Reply::Headed {
            headers: Vec::new(),
            body: body.to_string(),
        }
    }

    /// Adds a response header to a [`Reply::json`] answer or an
    /// [`Reply::error`].
    pub fn header(self, k: &str, v: &str) -> Reply {
        match self {
            Reply::Headed { mut headers, body } => {
                headers.push((k.to_string(), v.to_string()));
                Reply::Headed { headers, body }
            }
            Reply::Json {
                status,
                error_type,
                body,
            } => Reply::Full {
                status,
                error_type,
                headers: vec![(k.to_string(), v.to_string())],
                body,
            },
            Reply::Full {
                status,
                error_type,
                mut headers,
                body,
            } => {
                headers.push((k.to_string(), v.to_string()));
                Reply::Full {
                    status,
                    error_type,
                    headers,
                    body,
                }
            }
            other => other,
        }
    }

    pub fn error(status: u16, kind: &str, message: &str) -> Reply {
        Reply::Json {
            status,
            error_type: Some(kind.to_string()),
            body: serde_json::json!({ "message": message }).to_string(),
        }
    }
}

/// A recorded request.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub body: String,
}

impl Recorded {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).expect("request body is JSON")
    }
}

/// What Bedrock refuses in a request, as a test states it: the model id
/// (decoded from the path) and the JSON body to `Some(message)` for a
/// `ValidationException`.
pub type Check = fn(&str, &serde_json::Value) -> Option<String>;

#[derive(Clone)]
pub struct Server {
    pub url: String,
    requests: Arc<Mutex<Vec<Recorded>>>,
    replies: Arc<Mutex<VecDeque<Reply>>>,
    fallback: Arc<Mutex<Option<Reply>>>,
    check: Arc<Mutex<Option<Check>>>,
    /// How long every answer waits before it is written, µs (0: none).
    latency_us: Arc<AtomicU64>,
}

impl Server {
    pub async fn start() -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let s = Server {
            url: format!("http://{addr}"),
            requests: Arc::default(),
            replies: Arc::default(),
            fallback: Arc::default(),
            check: Arc::default(),
            latency_us: Arc::default(),
        };
        let s2 = s.clone();
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let s3 = s2.clone();
                tokio::spawn(async move { s3.serve(sock).await });
            }
        });
        s
    }

    pub fn push(&self, r: Reply) {
        self.replies.lock().unwrap().push_back(r);
    }

    /// The reply when the script is empty (benchmarks); requests are then
    /// not recorded.
    pub fn set_default(&self, r: Reply) {
        *self.fallback.lock().unwrap() = Some(r);
    }

    /// Refuses every request `check` refuses, as Bedrock does: a 400
    /// `ValidationException` (recorded; the script is not consumed).
    pub fn check(&self, check: Check) {
        *self.check.lock().unwrap() = Some(check);
    }

    /// Every answer from now on waits `d` after its request is read, as
    /// a model's time to answer (load benchmarks).
    pub fn set_latency(&self, d: std::time::Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.latency_us.store(us, Ordering::Relaxed);
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    pub fn clear(&self) {
        self.requests.lock().unwrap().clear();
    }

    async fn serve(&self, mut sock: TcpStream) {
        let mut buf: Vec<u8> = Vec::new();
        loop {
            // Read one request: head, then Content-Length bytes of body.
            let head_end = loop {
                if let Some(i) = find(&buf, b"\r\n\r\n") {
                    break i;
                }
                let mut chunk = [0u8; 8192];
                match sock.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            };
            let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
            let mut lines = head.split("\r\n");
            let first = lines.next().unwrap_or("");
            let mut parts = first.split(' ');
            let method = parts.next().unwrap_or("").to_string();
            let path = parts.next().unwrap_or("").to_string();
            let len: usize = lines
                .filter_map(|l| l.split_once(':'))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
                .and_then(|(_, v)| v.trim().parse().ok())
                .unwrap_or(0);
            let body_start = head_end + 4;
            while buf.len() < body_start + len {
                let mut chunk = [0u8; 8192];
                match sock.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            let body = String::from_utf8_lossy(&buf[body_start..body_start + len]).to_string();
            buf.drain(..body_start + len);
            let latency = self.latency_us.load(Ordering::Relaxed);
            if latency > 0 {
                tokio::time::sleep(std::time::Duration::from_micros(latency)).await;
            }
            let refused = self.refused(&path, &body);
            let scripted = match refused {
                Some(_) => None,
                None => self.replies.lock().unwrap().pop_front(),
            };
            let reply = match (refused, scripted) {
                (Some(message), _) => {
                    self.requests
                        .lock()
                        .unwrap()
                        .push(Recorded { method, path, body });
                    Reply::error(400, "ValidationException", &message)
                }
                (None, scripted) => match scripted {
                    Some(r) => {
                        self.requests
                            .lock()
                            .unwrap()
                            .push(Recorded { method, path, body });
                        r
                    }
                    None => match self.fallback.lock().unwrap().clone() {
                        Some(r) => r,
                        None => {
                            self.requests
                                .lock()
                                .unwrap()
                                .push(Recorded { method, path, body });
                            Reply::error(500, "InternalServerException", "no scripted reply")
                        }
                    },
                },
            };
            // A JSON answer's extra headers.
            let (reply, extra) = match reply {
                Reply::Headed { headers, body } => (
                    Reply::Json {
                        status: 200,
                        error_type: None,
                        body,
                    },
                    headers,
                ),
                Reply::Full {
                    status,
                    error_type,
                    headers,
                    body,
                } => (
                    Reply::Json {
                        status,
                        error_type,
                        body,
                    },
                    headers,
                ),
                other => (other, Vec::new()),
            };
            match reply {
                Reply::Json {
                    status,
                    error_type,
                    body,
                } => {
                    let mut out = format!(
                        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nx-amzn-requestid: req-1\r\n",
                        body.len()
                    );
                    if let Some(t) = error_type {
                        out.push_str(&format!("x-amzn-errortype: {t}:http://internal.amazon.com/coral/com.amazon.bedrock/\r\n"));
                    }
                    for (k, v) in &extra {
                        out.push_str(&format!("{k}: {v}\r\n"));
                    }
                    out.push_str("\r\n");
                    out.push_str(&body);
                    if sock.write_all(out.as_bytes()).await.is_err() {
                        return;
                    }
                }
                Reply::Headed { .. } | Reply::Full { .. } => {}
                Reply::Stall(d) => {
                    tokio::time::sleep(d).await;
                    return;
                }
                Reply::StreamStall { frames, stall } => {
                    let head = "HTTP/1.1 200 OK\r\ncontent-type: application/vnd.amazon.eventstream\r\ntransfer-encoding: chunked\r\nx-amzn-requestid: req-3\r\n\r\n";
                    if sock.write_all(head.as_bytes()).await.is_err() {
                        return;
                    }
                    for f in frames {
                        let mut c = format!("{:x}\r\n", f.len()).into_bytes();
                        c.extend_from_slice(&f);
                        c.extend_from_slice(b"\r\n");
                        if sock.write_all(&c).await.is_err() {
                            return;
                        }
                    }
                    let _ = sock.flush().await;
                    tokio::time::sleep(stall).await;
                    return;
                }
                Reply::Reset => {
                    let _ = sock.set_linger(Some(std::time::Duration::ZERO));
                    return;
                }
                Reply::Stream { frames, complete } => {
                    let head = "HTTP/1.1 200 OK\r\ncontent-type: application/vnd.amazon.eventstream\r\ntransfer-encoding: chunked\r\nx-amzn-requestid: req-2\r\n\r\n";
                    if sock.write_all(head.as_bytes()).await.is_err() {
                        return;
                    }
                    for f in frames {
                        let mut c = format!("{:x}\r\n", f.len()).into_bytes();
                        c.extend_from_slice(&f);
                        c.extend_from_slice(b"\r\n");
                        if sock.write_all(&c).await.is_err() {
                            return;
                        }
                        let _ = sock.flush().await;
                    }
                    if !complete {
                        let _ = sock.set_linger(Some(std::time::Duration::ZERO));
                        return;
                    }
                    if sock.write_all(b"0\r\n\r\n").await.is_err() {
                        return;
                    }
                }
            }
        }
    }
}

impl Server {
    /// What the check says of a Converse request (`/model/{id}/converse`
    /// or `/converse-stream`), when one is set.
    fn refused(&self, path: &str, body: &str) -> Option<String> {
        let check = (*self.check.lock().unwrap())?;
        let id = path.strip_prefix("/model/")?.split('/').next()?;
        let json: serde_json::Value = serde_json::from_str(body).ok()?;
        check(&percent_decode(id), &json)
    }
}

/// `%XX` escapes of a path segment decoded.
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match (b[i], b.get(i + 1..i + 3)) {
            (b'%', Some(hex)) => {
                match u8::from_str_radix(std::str::from_utf8(hex).unwrap_or(""), 16) {
                    Ok(v) => {
                        out.push(v);
                        i += 3;
                    }
                    Err(_) => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn find(h: &[u8], n: &[u8]) -> Option<usize> {
    h.windows(n.len()).position(|w| w == n)
}

/// A policy handle over `text` (a test policy: it must load).
pub fn handle(text: &str) -> std::sync::Arc<tollgate_engine::PolicyHandle> {
    let opts = tollgate_lang::LoadOptions::default();
    let loaded = tollgate_lang::load_str("p.toml", text, &opts)
        .map_err(|e| e.render())
        .unwrap();
    std::sync::Arc::new(tollgate_engine::PolicyHandle::from_policy(loaded.policy, opts).unwrap())
}

/// The real SDK client pointed at the loopback server.
pub fn client(url: &str) -> Client {
    let conf = aws_sdk_bedrockruntime::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("AKID", "SECRET", None, None, "test"))
        .endpoint_url(url)
        .build();
    Client::from_conf(conf)
}

fn frame_with(headers: Vec<(&str, &str)>, payload: &serde_json::Value) -> Vec<u8> {
    let mut msg = Message::new(payload.to_string().into_bytes());
    for (k, v) in headers {
        msg = msg.add_header(Header::new(
            k.to_string(),
            HeaderValue::String(v.to_string().into()),
        ));
    }
    let mut buf = Vec::new();
    aws_smithy_eventstream::frame::write_message_to(&msg, &mut buf).unwrap();
    buf
}

/// An event frame.
pub fn event(kind: &str, payload: serde_json::Value) -> Vec<u8> {
    frame_with(
        vec![
            (":message-type", "event"),
            (":event-type", kind),
            (":content-type", "application/json"),
        ],
        &payload,
    )
}

/// A text delta frame.
pub fn delta(text: &str) -> Vec<u8> {
    event(
        "contentBlockDelta",
        serde_json::json!({"contentBlockIndex": 0, "delta": {"text": text}}),
    )
}

/// An exception frame.
pub fn exception(kind: &str, message: &str) -> Vec<u8> {
    frame_with(
        vec![
            (":message-type", "exception"),
            (":exception-type", kind),
            (":content-type", "application/json"),
        ],
        &serde_json::json!({ "message": message }),
    )
}

/// Events collected in memory.
#[derive(Default)]
pub struct Collect(pub Mutex<Vec<CallEvent>>);

impl Sink for Collect {
    fn write(&self, event: &CallEvent) -> Result<(), SinkError> {
        self.0.lock().unwrap().push(event.clone());
        Ok(())
    }
}

impl Collect {
    pub fn events(&self) -> Vec<CallEvent> {
        self.0.lock().unwrap().clone()
    }
}

pub const POLICY: &str = r#"
[policy]
name = "gate-test"
default_model = "haiku"

[attributes]
feature = "string"
tenant = "string"
input_tokens = "int"
system_tokens = "int"
message_count = "int"
prompt = "string"

[models.haiku]
id = "us.anthropic.claude-3-5-haiku-20241022-v1:0"

[models.sonnet]
id = "us.anthropic.claude-sonnet-4-20250514-v1:0"

[models.router]
id = "arn:aws:bedrock:us-east-1:123456789012:default-prompt-router/anthropic.claude:1"
input_per_mtok = 1.0
output_per_mtok = 5.0

[[route]]
name = "chat"
when = 'feature == "chat" || feature == "budgeted"'
model = "haiku"
max_output_tokens = 400
fallback = ["sonnet"]

[[route]]
name = "routed"
when = 'feature == "router"'
model = "router"

[[cache]]
name = "kb"
when = 'feature == "kb"'
key = ["system", "messages"]
scope = "tenant"
ttl = "10m"

[[prompt_cache]]
name = "long-system"
when = 'system_tokens >= 2048 && feature != "router"'
points = ["system"]
ttl = "5m"

[[limit]]
name = "chat-guard"
when = 'feature == "chat"'
max_output_tokens = 300
max_attempts = 3
cancel_on_repetition = true
repetition = { ngram = 3, repeats = 3 }

[[limit]]
name = "budgeted"
when = 'feature == "budgeted"'
max_attempts = 3
retry_budget_pct = 10
"#;
