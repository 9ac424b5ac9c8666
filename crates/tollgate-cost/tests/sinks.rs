//! Sinks: JSON Lines rotation and crash tolerance, the exact EMF shape, the
//! tracing span's OpenTelemetry fields, and the background queue.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use common::{event_at, TempDir};
use std::collections::{BTreeMap, HashMap};
use std::fs::OpenOptions;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tollgate_cost::{read_event_file, Skipped};
use tollgate_cost::{
    AsyncSink, CallEvent, EmfSink, JsonlSink, MultiSink, Sink, SinkError, TracingSink,
};
use tollgate_cost::{Dimension, EmfConfig, FlushPolicy, JsonlConfig};

const DAY1: &str = "2026-11-26T10:15:30.123Z";

fn names(dir: &std::path::Path) -> Vec<String> {
    JsonlSink::files(dir, "calls")
        .unwrap()
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect()
}

fn lines(path: &std::path::Path) -> usize {
    std::fs::read_to_string(path).unwrap().lines().count()
}

#[test]
fn jsonl_rotates_by_utc_day() {
    let dir = TempDir::new("day");
    let sink = JsonlSink::new(JsonlConfig::new(dir.path())).unwrap();
    sink.write(&event_at("2026-11-26T23:59:59.999Z", "a"))
        .unwrap();
    sink.write(&event_at("2026-11-26T10:00:00Z", "b")).unwrap();
    // 01:00 on the 27th at UTC+2 is 23:00 on the 26th in UTC.
    sink.write(&event_at("2026-11-27T01:00:00+02:00", "c"))
        .unwrap();
    sink.write(&event_at("2026-11-27T00:00:00Z", "d")).unwrap();
    // A late event from the 26th goes to the current (27th) file.
    sink.write(&event_at("2026-11-26T12:00:00Z", "e")).unwrap();
    drop(sink);
    assert_eq!(
        names(dir.path()),
        ["calls-2026-11-26.jsonl", "calls-2026-11-27.jsonl"]
    );
    let day1 = read_event_file(&dir.path().join("calls-2026-11-26.jsonl")).unwrap();
    let ids: Vec<_> = day1.events.iter().map(|e| e.request_id.as_str()).collect();
    assert_eq!(ids, ["a", "b", "c"]);
    let day2 = read_event_file(&dir.path().join("calls-2026-11-27.jsonl")).unwrap();
    let ids: Vec<_> = day2.events.iter().map(|e| e.request_id.as_str()).collect();
    assert_eq!(ids, ["d", "e"]);
}

#[test]
fn jsonl_rotates_by_size_without_splitting_lines() {
    let dir = TempDir::new("size");
    let line_len = event_at(DAY1, "r-000").to_json_line().unwrap().len() as u64;
    let mut cfg = JsonlConfig::new(dir.path());
    cfg.max_file_bytes = 3 * line_len + 10; // three lines per file
    let sink = JsonlSink::new(cfg).unwrap();
    for i in 0..8 {
        sink.write(&event_at(DAY1, &format!("r-{i:03}"))).unwrap();
    }
    drop(sink);
    let files = names(dir.path());
    // Oldest first: by day, then sequence.
    assert_eq!(
        files,
        [
            "calls-2026-11-26.jsonl",
            "calls-2026-11-26.1.jsonl",
            "calls-2026-11-26.2.jsonl"
        ]
    );
    let counts: Vec<_> = files.iter().map(|n| lines(&dir.path().join(n))).collect();
    assert_eq!(counts, [3, 3, 2]);
    // A restarted sink appends to the newest file of the day.
    let mut cfg = JsonlConfig::new(dir.path());
    cfg.max_file_bytes = 3 * line_len + 10;
    let sink = JsonlSink::new(cfg).unwrap();
    sink.write(&event_at(DAY1, "r-008")).unwrap();
    assert_eq!(
        sink.current_path()
            .unwrap()
            .file_name()
            .unwrap()
            .to_string_lossy(),
        "calls-2026-11-26.2.jsonl"
    );
}

#[test]
fn a_torn_last_line_is_the_only_one_readers_skip() {
    let dir = TempDir::new("torn");
    let sink = JsonlSink::new(JsonlConfig::new(dir.path())).unwrap();
    for i in 0..5 {
        sink.write(&event_at(DAY1, &format!("r-{i}"))).unwrap();
    }
    let path = sink.current_path().unwrap();
    drop(sink);
    let whole = std::fs::read(&path).unwrap();
    let last_start = whole[..whole.len() - 1]
        .iter()
        .rposition(|&b| b == b'\n')
        .unwrap()
        + 1;
    // A crash can stop the last write anywhere: try every cut.
    for cut in last_start + 1..whole.len() {
        std::fs::write(&path, &whole[..cut]).unwrap();
        let out = read_event_file(&path).unwrap();
        let keep_all = cut == whole.len() - 1; // only the newline lost: the JSON is whole
        assert_eq!(
            out.events.len(),
            if keep_all { 5 } else { 4 },
            "cut at {cut}"
        );
        if !keep_all {
            assert_eq!(out.skipped.len(), 1);
            assert_eq!(
                (out.skipped[0].line, out.skipped[0].unterminated),
                (5, true)
            );
        }
    }
    // The process restarts and appends: the torn line is ended first, so the
    // new lines stay whole and only the torn one is skipped.
    std::fs::write(&path, &whole[..last_start + 40]).unwrap();
    let sink = JsonlSink::new(JsonlConfig::new(dir.path())).unwrap();
    sink.write(&event_at(DAY1, "r-5")).unwrap();
    sink.write(&event_at(DAY1, "r-6")).unwrap();
    drop(sink);
    let out = read_event_file(&path).unwrap();
    let ids: Vec<_> = out.events.iter().map(|e| e.request_id.as_str()).collect();
    assert_eq!(ids, ["r-0", "r-1", "r-2", "r-3", "r-5", "r-6"]);
    assert_eq!(out.skipped.len(), 1);
    let Skipped {
        line, unterminated, ..
    } = &out.skipped[0];
    assert_eq!((*line, *unterminated), (5, false));
}

#[test]
fn appending_garbage_does_not_hide_later_lines() {
    let dir = TempDir::new("garbage");
    let sink = JsonlSink::new(JsonlConfig::new(dir.path())).unwrap();
    sink.write(&event_at(DAY1, "a")).unwrap();
    let path = sink.current_path().unwrap();
    drop(sink);
    let mut f = OpenOptions::new().append(true).open(&path).unwrap();
    f.write_all(b"{\"version\":1,\"timest\n\n").unwrap();
    drop(f);
    let sink = JsonlSink::new(JsonlConfig::new(dir.path())).unwrap();
    sink.write(&event_at(DAY1, "b")).unwrap();
    drop(sink);
    let out = read_event_file(&path).unwrap();
    assert_eq!(
        out.events
            .iter()
            .map(|e| e.request_id.as_str())
            .collect::<Vec<_>>(),
        ["a", "b"]
    );
    assert_eq!(out.skipped.len(), 1);
}

#[test]
fn buffered_lines_reach_the_file_whole_on_flush() {
    let dir = TempDir::new("buffered");
    let mut cfg = JsonlConfig::new(dir.path());
    cfg.flush = FlushPolicy::Buffered { max_bytes: 1 << 20 };
    let sink = JsonlSink::new(cfg).unwrap();
    for i in 0..3 {
        sink.write(&event_at(DAY1, &format!("r-{i}"))).unwrap();
    }
    let path = sink.current_path().unwrap();
    assert_eq!(std::fs::read(&path).unwrap().len(), 0, "still buffered");
    sink.flush().unwrap();
    assert_eq!(lines(&path), 3);
    // A small buffer writes whenever it fills, always on a line boundary.
    let mut cfg = JsonlConfig::new(dir.path());
    cfg.prefix = "small".into();
    cfg.flush = FlushPolicy::Buffered { max_bytes: 2000 };
    let sink = JsonlSink::new(cfg).unwrap();
    for i in 0..10 {
        sink.write(&event_at(DAY1, &format!("s-{i}"))).unwrap();
        let bytes = std::fs::read(sink.current_path().unwrap()).unwrap();
        assert!(bytes.is_empty() || bytes.ends_with(b"\n"));
    }
}

fn emf_event() -> CallEvent {
    let mut ev = event_at(DAY1, "req-42");
    ev.tags.use_case = Some("support".into());
    ev
}

#[test]
fn emf_line_has_the_exact_cloudwatch_shape() {
    let sink = EmfSink::new(EmfConfig::default(), Vec::new());
    sink.write(&emf_event()).unwrap();
    let out = String::from_utf8(sink.into_inner()).unwrap();
    assert_eq!(
        out,
        concat!(
            r#"{"_aws":{"Timestamp":1795688130123,"CloudWatchMetrics":[{"Namespace":"Tollgate","#,
            r#""Dimensions":[["Feature","Model"]],"Metrics":[{"Name":"InputTokens","Unit":"Count"},"#,
            r#"{"Name":"OutputTokens","Unit":"Count"},{"Name":"CacheReadTokens","Unit":"Count"},"#,
            r#"{"Name":"CacheWriteTokens","Unit":"Count"},{"Name":"CostUSD","Unit":"None"},"#,
            r#"{"Name":"LatencyMs","Unit":"Milliseconds"}]}]},"Feature":"kb","Model":"haiku","#,
            r#""InputTokens":800,"OutputTokens":310,"CacheReadTokens":2048,"CacheWriteTokens":0,"#,
            r#""CostUSD":0.00204384,"LatencyMs":812,"requestId":"req-42"}"#,
            "\n"
        )
    );
    // The README shows the same line.
    let readme = include_str!("../README.md");
    assert!(
        readme.contains(out.trim_end()),
        "README's EMF example is stale"
    );
}

#[test]
fn emf_namespace_and_dimensions_are_configurable() {
    let cfg = EmfConfig {
        namespace: "Acme/Bedrock".into(),
        dimensions: vec![
            Dimension::App,
            Dimension::UseCase,
            Dimension::Tenant,
            Dimension::Route,
        ],
    };
    let sink = EmfSink::new(cfg, Vec::new());
    let mut ev = emf_event();
    ev.tags.tenant = None;
    let v = sink.line(&ev);
    let aws = &v["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(aws["Namespace"], "Acme/Bedrock");
    assert_eq!(
        aws["Dimensions"],
        serde_json::json!([["App", "UseCase", "Tenant", "Route"]])
    );
    assert_eq!(v["App"], "assistant");
    assert_eq!(v["UseCase"], "support");
    assert_eq!(
        v["Tenant"], "none",
        "a missing dimension value is written, not left out"
    );
    assert_eq!(v["Route"], "kb-small");
    assert!(v.get("Feature").is_none());
    // Every referenced name is a top-level member.
    for m in aws["Metrics"].as_array().unwrap() {
        assert!(v.get(m["Name"].as_str().unwrap()).is_some());
    }
}

// ---------------------------------------------------------------------------
// tracing

type Fields = BTreeMap<String, String>;

#[derive(Clone, Default)]
struct Capture {
    spans: Arc<Mutex<HashMap<u64, (String, Fields)>>>,
    events: Arc<Mutex<Vec<(String, Fields)>>>,
}

struct Visitor<'a>(&'a mut Fields);

impl tracing::field::Visit for Visitor<'_> {
    fn record_debug(&mut self, f: &tracing::field::Field, v: &dyn std::fmt::Debug) {
        self.0.insert(f.name().to_owned(), format!("{v:?}"));
    }
    fn record_str(&mut self, f: &tracing::field::Field, v: &str) {
        self.0.insert(f.name().to_owned(), v.to_owned());
    }
    fn record_u64(&mut self, f: &tracing::field::Field, v: u64) {
        self.0.insert(f.name().to_owned(), format!("u64:{v}"));
    }
    fn record_i64(&mut self, f: &tracing::field::Field, v: i64) {
        self.0.insert(f.name().to_owned(), format!("i64:{v}"));
    }
    fn record_f64(&mut self, f: &tracing::field::Field, v: f64) {
        self.0.insert(f.name().to_owned(), format!("f64:{v}"));
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Capture {
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        _: tracing_subscriber::layer::Context<'_, S>,
    ) {
        let mut f = Fields::new();
        attrs.record(&mut Visitor(&mut f));
        let name = format!("{}:{}", attrs.metadata().target(), attrs.metadata().name());
        self.spans.lock().unwrap().insert(id.into_u64(), (name, f));
    }

    fn on_record(
        &self,
        id: &tracing::span::Id,
        values: &tracing::span::Record<'_>,
        _: tracing_subscriber::layer::Context<'_, S>,
    ) {
        if let Some((_, f)) = self.spans.lock().unwrap().get_mut(&id.into_u64()) {
            values.record(&mut Visitor(f));
        }
    }

    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        let mut f = Fields::new();
        event.record(&mut Visitor(&mut f));
        let level = event.metadata().level().to_string();
        self.events.lock().unwrap().push((level, f));
    }
}

#[test]
fn tracing_span_uses_opentelemetry_genai_names() {
    use tracing_subscriber::layer::SubscriberExt;
    let capture = Capture::default();
    let subscriber = tracing_subscriber::registry().with(capture.clone());
    let mut ev = emf_event();
    ev.usage.cache_write_input_tokens = 100;
    ev.error_type = Some("ThrottlingException".into());
    tracing::subscriber::with_default(subscriber, || TracingSink.write(&ev).unwrap());
    let spans = capture.spans.lock().unwrap();
    assert_eq!(spans.len(), 1);
    let (name, fields) = spans.values().next().unwrap();
    assert_eq!(name, "tollgate::call:gen_ai");
    let expected: Fields = [
        (
            "otel.name",
            "chat us.anthropic.claude-3-5-haiku-20241022-v1:0",
        ),
        ("otel.kind", "client"),
        ("gen_ai.provider.name", "aws.bedrock"),
        ("gen_ai.operation.name", "chat"),
        (
            "gen_ai.request.model",
            "us.anthropic.claude-3-5-haiku-20241022-v1:0",
        ),
        ("gen_ai.request.max_tokens", "u64:500"),
        (
            "gen_ai.response.model",
            "us.anthropic.claude-3-5-haiku-20241022-v1:0",
        ),
        // 800 uncached + 2048 read + 100 written: OTel counts the whole prompt.
        ("gen_ai.usage.input_tokens", "u64:2948"),
        ("gen_ai.usage.output_tokens", "u64:310"),
        ("gen_ai.usage.cache_read.input_tokens", "u64:2048"),
        ("gen_ai.usage.cache_creation.input_tokens", "u64:100"),
        ("error.type", "ThrottlingException"),
        ("tollgate.request_id", "req-42"),
        ("tollgate.model", "haiku"),
        ("tollgate.mode", "stream"),
        ("tollgate.status", "ok"),
        ("tollgate.cache", "miss"),
        ("tollgate.attempts", "u64:1"),
        ("tollgate.latency_ms", "u64:812"),
        ("tollgate.cost_usd", "f64:0.00204384"),
        ("tollgate.cost_nanos", "u64:2043840"),
        ("tollgate.cost_avoided_usd", "f64:0"),
        ("tollgate.policy_hash", ev.policy_hash.as_str()),
        ("tollgate.rule.route", "kb-small"),
        ("tollgate.feature", "kb"),
        ("tollgate.tenant", "acme"),
        ("tollgate.app", "assistant"),
        ("tollgate.use_case", "support"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    assert_eq!(fields, &expected);
    let events = capture.events.lock().unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].0, "INFO");
    assert_eq!(events[0].1["message"], "bedrock call recorded");
}

#[test]
fn the_response_model_is_the_routers_choice_when_given() {
    use tracing_subscriber::layer::SubscriberExt;
    let capture = Capture::default();
    let subscriber = tracing_subscriber::registry().with(capture.clone());
    let mut ev = emf_event();
    ev.response_model_id = Some("anthropic.claude-3-haiku-20240307-v1:0".into());
    tracing::subscriber::with_default(subscriber, || TracingSink.write(&ev).unwrap());
    let spans = capture.spans.lock().unwrap();
    let (_, fields) = spans.values().next().unwrap();
    assert_eq!(
        fields["gen_ai.response.model"],
        "anthropic.claude-3-haiku-20240307-v1:0"
    );
}

// ---------------------------------------------------------------------------
// background queue

struct FailingSink(AtomicU64);

impl Sink for FailingSink {
    fn write(&self, _: &CallEvent) -> Result<(), SinkError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Err(SinkError::Io(std::io::Error::other("disk full")))
    }
}

/// Blocks every write until the test opens the gate.
struct BlockingSink {
    gate: Mutex<mpsc::Receiver<()>>,
    written: Arc<AtomicU64>,
}

impl Sink for BlockingSink {
    fn write(&self, _: &CallEvent) -> Result<(), SinkError> {
        let _ = self.gate.lock().unwrap().recv();
        self.written.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

#[test]
fn a_failing_sink_never_fails_a_call_and_failures_are_counted() {
    let sink = AsyncSink::new(FailingSink(AtomicU64::new(0)), 256).unwrap();
    let ev = event_at(DAY1, "x");
    for _ in 0..100 {
        assert!(sink.write(&ev).is_ok());
    }
    assert!(sink.flush_timeout(Duration::from_secs(5)));
    let s = sink.stats();
    assert_eq!(
        (s.accepted, s.written, s.failed, s.dropped),
        (100, 0, 100, 0)
    );
    assert_eq!(s.lost(), 100);
}

#[test]
fn a_blocked_sink_never_blocks_a_call_and_drops_are_counted() {
    let (open, gate) = mpsc::channel();
    let written = Arc::new(AtomicU64::new(0));
    let sink = AsyncSink::new(
        BlockingSink {
            gate: Mutex::new(gate),
            written: Arc::clone(&written),
        },
        16,
    )
    .unwrap()
    .with_drain_timeout(Duration::from_secs(5));
    let ev = event_at(DAY1, "x");
    let started = Instant::now();
    let mut slowest = Duration::ZERO;
    for _ in 0..1000 {
        let t = Instant::now();
        assert!(sink.write(&ev).is_ok());
        slowest = slowest.max(t.elapsed());
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "1000 calls took {:?}",
        started.elapsed()
    );
    assert!(
        slowest < Duration::from_millis(100),
        "a call waited {slowest:?}"
    );
    let s = sink.stats();
    // 16 queued, at most one more taken by the blocked thread; the rest dropped.
    assert!(s.accepted <= 17 && s.accepted >= 16, "{s:?}");
    assert_eq!(s.accepted + s.dropped, 1000);
    for _ in 0..1000 {
        let _ = open.send(());
    }
    assert!(sink.flush_timeout(Duration::from_secs(5)));
    let s = sink.stats();
    assert_eq!(s.written, s.accepted);
    assert_eq!(written.load(Ordering::Relaxed), s.accepted);
    assert_eq!(s.written + s.dropped, 1000);
}

#[test]
fn the_background_sink_writes_everything_when_it_keeps_up() {
    let dir = TempDir::new("async");
    let mut cfg = JsonlConfig::new(dir.path());
    cfg.flush = FlushPolicy::Buffered {
        max_bytes: 64 << 10,
    };
    let sink = AsyncSink::new(JsonlSink::new(cfg).unwrap(), 4096).unwrap();
    for i in 0..1000 {
        assert!(sink.submit(event_at(DAY1, &format!("r-{i}"))));
    }
    drop(sink); // drains and flushes
    let out = read_event_file(&dir.path().join("calls-2026-11-26.jsonl")).unwrap();
    assert_eq!(out.events.len(), 1000);
    assert!(out.skipped.is_empty());
}

#[test]
fn multi_sink_gives_every_sink_every_event() {
    let failing = Arc::new(FailingSink(AtomicU64::new(0)));
    let dir = TempDir::new("multi");
    let multi = MultiSink::new()
        .with(Arc::clone(&failing))
        .with(JsonlSink::new(JsonlConfig::new(dir.path())).unwrap());
    assert!(multi.write(&event_at(DAY1, "a")).is_err());
    assert_eq!(failing.0.load(Ordering::Relaxed), 1);
    drop(multi);
    assert_eq!(lines(&dir.path().join("calls-2026-11-26.jsonl")), 1);
}
