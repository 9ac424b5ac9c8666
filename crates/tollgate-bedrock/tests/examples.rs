//! The workspace's Bedrock examples, run as a user runs them, against
//! the loopback Bedrock: `bedrock_chat` (one gated call; the answer on
//! stderr, the call event as the last line of stdout), `agent_tools` (a
//! tool-use loop; one event line per call) and `axum_service` (an HTTP
//! service whose policy file is reloaded when it changes).
//!
//! Each example is built with the test run's profile and features, which
//! `cargo test --workspace --all-features` has already done, so the build
//! here finds it up to date.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Reply, Server};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const HAIKU: &str = "us.anthropic.claude-3-5-haiku-20241022-v1:0";
const SONNET: &str = "us.anthropic.claude-sonnet-4-20250514-v1:0";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Builds example `name` of the workspace and returns its executable.
fn example(name: &str) -> PathBuf {
    let out = Command::new(env!("CARGO"))
        .current_dir(root())
        .args(["build", "-q", "--workspace", "--all-features"])
        .args(["--profile", "test", "--example", name])
        .arg("--message-format=json-render-diagnostics")
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    assert!(out.status.success(), "cargo build --example {name} failed");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == name)
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .unwrap_or_else(|| panic!("cargo named no executable for example {name}"))
}

/// `cmd` with no AWS configuration from this machine: no credentials, no
/// shared files, no instance metadata, no region. The examples then use
/// static test credentials for the `--endpoint` and `us-east-1`.
fn isolated(mut cmd: Command, dir: &Path) -> Command {
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("AWS_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("AWS_CONFIG_FILE", dir.join("no-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", dir.join("no-credentials"))
        .env("AWS_EC2_METADATA_DISABLED", "true");
    cmd
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tollgate-examples-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bedrock_chat_makes_one_gated_call_and_prints_its_event_last() {
    let server = Server::start().await;
    server.push(Reply::ok("hi from the loopback", 11, 5));
    let dir = scratch("chat");
    let exe = example("bedrock_chat");
    let mut cmd = isolated(Command::new(exe), &dir);
    cmd.current_dir(root()).args([
        "--endpoint",
        &server.url,
        "--rules",
        "rules/example.toml",
        "--attr",
        "feature=chat",
        "--attr",
        "has_images=false",
        "--prompt",
        "Say hi in five words.",
    ]);
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(out.status.success(), "exit {:?}\n{stderr}", out.status);
    assert_eq!(stderr.trim_end(), "hi from the loopback");

    // One Converse call, on the model and output cap of rule `chat-free`.
    let sent = server.requests();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].method, "POST");
    assert_eq!(
        sent[0].path,
        "/model/us.anthropic.claude-3-5-haiku-20241022-v1%3A0/converse"
    );
    let body = sent[0].json();
    assert_eq!(body["inferenceConfig"]["maxTokens"], 600);
    assert_eq!(
        body["messages"][0]["content"][0]["text"],
        "Say hi in five words."
    );

    // The event is the last line of stdout: one JSON object.
    let last = stdout.lines().last().expect("stdout has the event");
    let event: Value = serde_json::from_str(last).unwrap();
    assert_eq!(event["model_id"], HAIKU, "{event}");
    assert_eq!(event["usage"]["input_tokens"], 11, "{event}");
    assert_eq!(event["usage"]["output_tokens"], 5, "{event}");
    assert_eq!(event["max_output_tokens"], 600, "{event}");
    assert_eq!(event["cost_nanos"], 28_800, "{event}");
    assert_eq!(event["tags"]["feature"], "chat", "{event}");
    assert_eq!(event["rules"]["route"], "chat-free", "{event}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Bedrock's answer asking for `get_weather(city)`.
fn weather_tool_use(id: &str, city: &str) -> Reply {
    Reply::json(serde_json::json!({
        "output": {"message": {"role": "assistant", "content": [
            {"toolUse": {"toolUseId": id, "name": "get_weather", "input": {"city": city}}}
        ]}},
        "stopReason": "tool_use",
        "usage": {"inputTokens": 400, "outputTokens": 30, "totalTokens": 430},
        "metrics": {"latencyMs": 10}
    }))
}

fn agent_tools(server: &Server, dir: &Path) -> Command {
    let mut cmd = isolated(Command::new(example("agent_tools")), dir);
    cmd.current_dir(root()).args([
        "--endpoint",
        &server.url,
        "--rules",
        "rules/example.toml",
        "--attr",
        "feature=chat",
        "--prompt",
        "What is the weather in Paris?",
    ]);
    cmd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_tools_answers_the_tool_and_prints_one_priced_event_per_call() {
    let server = Server::start().await;
    server.push(weather_tool_use("tu-1", "Paris"));
    server.push(Reply::ok("Sunny and 21 degrees in Paris.", 480, 9));
    let dir = scratch("agent");
    let mut cmd = agent_tools(&server, &dir);
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(
        stderr.lines().last(),
        Some("Sunny and 21 degrees in Paris.")
    );

    // Two Converse calls: the question with the tool, then the toolUse
    // turn and its json toolResult.
    let sent = server.requests();
    assert_eq!(sent.len(), 2, "{sent:?}");
    let first = sent[0].json();
    assert_eq!(
        first["toolConfig"]["tools"][0]["toolSpec"]["name"],
        "get_weather"
    );
    let second = sent[1].json();
    assert_eq!(
        second["messages"],
        serde_json::json!([
            {"role": "user", "content": [{"text": "What is the weather in Paris?"}]},
            {"role": "assistant", "content": [
                {"toolUse": {"toolUseId": "tu-1", "name": "get_weather", "input": {"city": "Paris"}}}
            ]},
            {"role": "user", "content": [{"toolResult": {"toolUseId": "tu-1", "content": [
                {"json": {"city": "Paris", "forecast": "sunny", "celsius": 21}}
            ]}}]}
        ])
    );

    // One event per call, in order, each priced at Haiku 3.5's list price.
    let events: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 2, "{stdout}");
    let costs: Vec<u64> = events
        .iter()
        .map(|e| e["cost_nanos"].as_u64().unwrap())
        .collect();
    assert_eq!(costs, [400 * 800 + 30 * 4000, 480 * 800 + 9 * 4000]);
    for e in &events {
        assert_eq!(e["model_id"], HAIKU, "{e}");
        assert_eq!(e["status"], "ok", "{e}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_tools_gives_up_with_exit_3_when_the_fifth_call_still_asks_for_a_tool() {
    let server = Server::start().await;
    for i in 1..=5 {
        server.push(weather_tool_use(&format!("tu-{i}"), "Paris"));
    }
    let dir = scratch("agent-loop");
    let mut cmd = agent_tools(&server, &dir);
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert_eq!(server.requests().len(), 5);
    assert_eq!(stdout.lines().count(), 5, "{stdout}");
    assert_eq!(
        stderr.lines().last(),
        Some("error: call 5 still asks for a tool; giving up")
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Kills the service when the test ends, however it ends.
struct Service(Child);

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One HTTP/1.1 request to the service: (status, JSON body).
fn http(addr: &str, method: &str, path: &str, body: &str) -> (u16, Value) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let (head, body) = resp.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

const POLICY: &str = r#"
[policy]
name = "service"
default_model = "sonnet"

[attributes]
feature = "string"

[models.haiku]
id = "us.anthropic.claude-3-5-haiku-20241022-v1:0"

[models.sonnet]
id = "us.anthropic.claude-sonnet-4-20250514-v1:0"

[[route]]
name = "chat"
when = 'feature == "chat"'
model = "MODEL"
max_output_tokens = 300
"#;

/// Replaces the policy file in one step, as an editor's save does.
fn write_policy(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn wait_for_version(addr: &str, version: u64) {
    let start = Instant::now();
    loop {
        let (_, p) = http(addr, "GET", "/policy", "");
        if p["version"].as_u64() == Some(version) {
            return;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "still {p}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axum_service_routes_through_the_gate_and_follows_edits_of_its_policy() {
    let server = Server::start().await;
    server.set_default(Reply::ok("answered", 9, 4));
    let dir = scratch("service");
    let policy = dir.join("policy.toml");
    write_policy(&policy, &POLICY.replace("MODEL", "haiku"));
    let exe = example("axum_service");
    let mut cmd = isolated(Command::new(exe), &dir);
    cmd.arg("--policy")
        .arg(&policy)
        .args(["--endpoint", &server.url, "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let stdout = tokio::task::spawn_blocking(move || {
        let mut service = Service(cmd.spawn().unwrap());
        let mut err = BufReader::new(service.0.stderr.take().unwrap());
        let mut line = String::new();
        err.read_line(&mut line).unwrap();
        let addr = line
            .trim()
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("first stderr line: {line:?}"))
            .to_string();
        // Drain the rest of stderr so the service never blocks on it.
        std::thread::spawn(move || std::io::copy(&mut err, &mut std::io::sink()));

        let chat = r#"{"prompt": "hello", "feature": "chat", "tenant": "acme"}"#;
        assert_eq!(http(&addr, "GET", "/policy", "").1["version"], 1);
        let (status, r) = http(&addr, "POST", "/chat", chat);
        assert_eq!(status, 200, "{r}");
        assert_eq!(r["text"], "answered");
        assert_eq!(r["model_id"], HAIKU);
        assert_eq!(r["rules"]["route"], "chat");

        // The file changes: the next call follows the new rule.
        write_policy(&policy, &POLICY.replace("MODEL", "sonnet"));
        wait_for_version(&addr, 2);
        let (status, r) = http(&addr, "POST", "/chat", chat);
        assert_eq!(status, 200, "{r}");
        assert_eq!(r["model_id"], SONNET);

        // A broken edit is refused; the last good policy keeps serving.
        write_policy(&policy, &POLICY.replace("MODEL", "no-such-model"));
        std::thread::sleep(Duration::from_millis(300));
        let (_, p) = http(&addr, "GET", "/policy", "");
        assert_eq!(p["version"], 2, "{p}");
        let (status, r) = http(&addr, "POST", "/chat", chat);
        assert_eq!(status, 200, "{r}");
        assert_eq!(r["model_id"], SONNET);

        // A request without a prompt is the caller's error.
        let (status, r) = http(&addr, "POST", "/chat", r#"{"feature": "chat"}"#);
        assert_eq!(status, 400, "{r}");

        let mut out = service.0.stdout.take().unwrap();
        drop(service);
        let mut events = String::new();
        out.read_to_string(&mut events).unwrap();
        events
    })
    .await
    .unwrap();

    // Three calls reached Bedrock, each with its event on stdout.
    let models: Vec<String> = stdout
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["model_id"].to_string())
        .collect();
    assert_eq!(
        models,
        [HAIKU, SONNET, SONNET].map(|m| format!("\"{m}\"")),
        "{stdout}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn both_examples_report_a_policy_that_does_not_load_at_its_line_and_column() {
    let dir = scratch("broken");
    let policy = dir.join("policy.toml");
    write_policy(&policy, &POLICY.replace("MODEL", "hiaku"));
    let want = format!(
        "{}:18:9: error[unknown-model]: unknown model `hiaku`",
        policy.display()
    );
    for (name, args) in [
        ("bedrock_chat", ["--rules", "--prompt", "hi"]),
        ("axum_service", ["--policy", "--listen", "127.0.0.1:0"]),
    ] {
        let mut cmd = isolated(Command::new(example(name)), &dir);
        cmd.arg(args[0])
            .arg(&policy)
            .args(&args[1..])
            .args(["--endpoint", "http://127.0.0.1:9"]);
        let out = cmd.output().unwrap();
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(1), "{name}: {stderr}");
        assert_eq!(
            stderr.lines().next(),
            Some(want.as_str()),
            "{name}: {stderr}"
        );
        assert!(out.stdout.is_empty(), "{name}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
