//! Shared test fixtures: a small policy with every section the cost crate
//! reads, and a throwaway `redis-server`.
#![allow(dead_code, clippy::unwrap_used, clippy::panic)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tollgate_engine::{decide_reference, Decision, Request};
use tollgate_lang::{load_str, LoadOptions, Policy};

pub const POLICY: &str = r#"
[policy]
name = "cost-test"
default_model = "sonnet"
redact = ["user.email"]

[attributes]
feature = "string"
tenant = "string"
app = "string"
use_case = "string"
"user.id" = "string"
"user.email" = "string"
"user.tier" = "string"
input_tokens = "int"
prompt = "string"
retrieval_ids = "list<string>"
experiments = "list<int>"
complexity = "float"
has_tools = "bool"
latency = "string"
"spend.feature_today_usd" = "float"
"spend.global_today_usd" = "float"

[models.sonnet]
id = "us.anthropic.claude-sonnet-4-20250514-v1:0"

[models.haiku]
id = "us.anthropic.claude-3-5-haiku-20241022-v1:0"

[models.sonnet45]
id = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"

[models.sonnet45g]
id = "global.anthropic.claude-sonnet-4-5-20250929-v1:0"

[[route]]
name = "docs-over-spend"
when = 'feature == "docs" && spend.feature_today_usd > 2.0'
model = "haiku"

[[route]]
name = "kb-small"
when = 'feature == "kb" && input_tokens < 1000'
model = "haiku"
max_output_tokens = 500

[[route]]
name = "long"
when = 'feature == "long"'
model = "sonnet45"

[[route]]
name = "long-global"
when = 'feature == "longg"'
model = "sonnet45g"

[[cache]]
name = "kb-answers"
when = 'feature == "kb"'
key = ["system", "messages"]
scope = "tenant"
ttl = "10m"

[[batch]]
name = "nightly"
when = 'latency == "tolerant"'

[[limit]]
name = "default-guard"
max_output_tokens = 1000
max_attempts = 2

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

[[budget]]
name = "tenant-daily"
when = 'feature == "agent"'
daily_usd = 0.5
group_by = "tenant"
action = "reject"

[alerts.spend_spike]
factor = 2.0
trailing_days = 7
min_daily_usd = 5.0
group_by = "feature"
"#;

pub fn policy() -> Policy {
    match load_str("cost-test.toml", POLICY, &LoadOptions::default()) {
        Ok(l) => l.policy,
        Err(e) => panic!("test policy does not load:\n{}", e.render()),
    }
}

pub fn request(policy: &Policy, json: &str) -> Request {
    Request::parse(policy.schema(), json).unwrap()
}

pub fn decide(policy: &Policy, req: &Request) -> Decision {
    decide_reference(policy, &req.context(policy.schema()))
}

/// A `redis-server` on a free loopback port, killed on drop.
pub struct RedisServer {
    child: Child,
    pub port: u16,
}

impl RedisServer {
    /// Starts one; fails with a clear message when `redis-server` is not
    /// installed (`scripts/ensure-tools` installs it).
    pub fn start() -> RedisServer {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start redis-server (run scripts/ensure-tools): {e}")
            });
        let server = RedisServer { child, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !server.ping() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not answer PING"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    fn ping(&self) -> bool {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
        if s.write_all(b"PING\r\n").is_err() {
            return false;
        }
        let mut buf = [0u8; 7];
        s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("tollgate-cost-{}-{name}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A kb call event at `ts` (RFC 3339) with a request id.
pub fn event_at(ts: &str, request_id: &str) -> tollgate_cost::CallEvent {
    let p = policy();
    let req = request(
        &p,
        r#"{"feature": "kb", "tenant": "acme", "app": "assistant", "input_tokens": 800,
            "user": {"id": "u-7", "tier": "pro"}}"#,
    );
    let ctx = req.context(p.schema());
    let d = decide(&p, &req);
    tollgate_cost::CallEvent::builder(&p, &d, &ctx)
        .timestamp(tollgate_cost::Timestamp::parse_rfc3339(ts).unwrap())
        .request_id(request_id)
        .mode(tollgate_cost::Mode::Stream)
        .usage(tollgate_cost::Usage {
            input_tokens: 800,
            output_tokens: 310,
            cache_read_input_tokens: 2048,
            cache_write_input_tokens: 0,
            cache_write_1h_input_tokens: 0,
        })
        .latency_ms(812)
        .build()
}
