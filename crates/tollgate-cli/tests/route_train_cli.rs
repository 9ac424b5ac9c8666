//! `tollgate route-train` end to end: records in the documented JSON Lines
//! format train a model file, the same records and options give the same
//! file byte for byte, the printed rules paste into a policy that names the
//! file and checks clean, and `tollgate explain` scores a request's prompt
//! with it and routes the prompt the records taught it to need the strong
//! model to the strong model.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const POLICY: &str = r#"[policy]
name = "learned"
default_model = "weak"

[attributes]
feature = "string"

[models.strong]
id = "us.anthropic.claude-sonnet-4-20250514-v1:0"
[models.weak]
id = "us.anthropic.claude-3-5-haiku-20241022-v1:0"
"#;

fn dir() -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("route-train-cli");
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// 200 records: in both features, the "prove ..." prompts need the strong
/// model (the weak one scores 0) and the "say hello ..." prompts do not.
fn records(path: &Path) {
    let mut s = String::new();
    for i in 0..200 {
        let hard = i % 2 == 0;
        let feature = if i % 4 < 2 { "math" } else { "chat" };
        let prompt = if hard {
            format!("prove the theorem number {i} about integrals rigorously")
        } else {
            format!("say hello to friend number {i} politely")
        };
        let weak = if hard { 0.0 } else { 1.0 };
        writeln!(
            s,
            r#"{{"id": "r{i}", "prompt": "{prompt}", "feature": "{feature}", "strong_score": 1.0, "weak_score": {weak:?}, "strong_output_tokens": 100, "weak_output_tokens": 100}}"#
        )
        .unwrap();
    }
    std::fs::write(path, s).unwrap();
}

fn tollgate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("runs: {e}"))
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn train(d: &Path, out: &str) -> serde_json::Value {
    let s = |p: PathBuf| p.to_str().unwrap().to_owned();
    let stdout = ok(tollgate(&[
        "route-train",
        "--records",
        &s(d.join("records.jsonl")),
        "--rules",
        &s(d.join("base.toml")),
        "--out",
        &s(d.join(out)),
        "--hash-bits",
        "10",
        "--router",
        "learned",
        "--floor",
        "math=0.99",
        "--default-floor",
        "0.9",
        "--json",
    ]));
    serde_json::from_str(&stdout).unwrap()
}

#[test]
fn route_train_writes_the_same_file_twice_and_its_rules_route_through_explain() {
    let d = dir();
    records(&d.join("records.jsonl"));
    std::fs::write(d.join("base.toml"), POLICY).unwrap();

    let a = train(&d, "a.model");
    let b = train(&d, "b.model");
    let (fa, fb) = (
        std::fs::read(d.join("a.model")).unwrap(),
        std::fs::read(d.join("b.model")).unwrap(),
    );
    assert_eq!(fa, fb, "same records and options, same file");
    assert_eq!(a, b);
    assert_eq!(a["records"], 200);
    assert_eq!(a["hash_bits"], 10);
    assert_eq!(a["file_bytes"], fa.len());
    let features: Vec<&str> = a["features"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["feature"].as_str())
        .collect();
    assert_eq!(features, ["chat", "math", "*"], "{a}");
    // Every threshold keeps its feature's floor on the training records.
    for f in a["features"].as_array().unwrap() {
        let (kept, floor) = (&f["chosen"]["quality_kept"], &f["floor"]);
        assert!(kept.as_f64().unwrap() >= floor.as_f64().unwrap(), "{f}");
    }
    assert_eq!(a["features"][1]["floor"], 0.99);

    // The printed rules, pasted under a policy that names the file.
    let rules = a["rules"].as_str().unwrap();
    assert!(rules.contains("name = \"learned-math\""), "{rules}");
    let policy = format!("{POLICY}\n[routers.learned]\nmodel = \"a.model\"\n\n{rules}");
    let path = d.join("policy.toml");
    std::fs::write(&path, policy).unwrap();
    let p = path.to_str().unwrap();
    ok(tollgate(&["check", p, "--deny-warnings"]));

    let explain = |prompt: &str| -> serde_json::Value {
        let req = format!(r#"{{"feature": "math", "prompt": "{prompt}"}}"#);
        serde_json::from_str(&ok(tollgate(&["explain", p, "--request", &req, "--json"]))).unwrap()
    };
    let hard = explain("prove the theorem number 7 about integrals rigorously");
    let easy = explain("say hello to friend number 7 politely");
    assert_eq!(hard["route"]["rule"], "learned-math", "{hard}");
    assert_eq!(hard["route"]["model"], "strong", "{hard}");
    assert_eq!(easy["route"]["model"], "weak", "{easy}");
    let gain = |v: &serde_json::Value| v["routers"]["learned"]["gain"].as_f64().unwrap();
    assert!(gain(&hard) > 0.9 && gain(&easy) < 0.1, "{hard} {easy}");
}

#[test]
fn route_train_with_a_target_chooses_the_thresholds_together() {
    let d = dir().join("target");
    std::fs::create_dir_all(&d).unwrap();
    records(&d.join("records.jsonl"));
    std::fs::write(d.join("base.toml"), POLICY).unwrap();
    let s = |p: PathBuf| p.to_str().unwrap().to_owned();
    let stdout = ok(tollgate(&[
        "route-train",
        "--records",
        &s(d.join("records.jsonl")),
        "--rules",
        &s(d.join("base.toml")),
        "--out",
        &s(d.join("t.model")),
        "--hash-bits",
        "10",
        "--default-floor",
        "0.5",
        "--target",
        "0.75",
        "--json",
    ]));
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    // Half the prompts need the strong model; 75 % kept together needs
    // half of those, a quarter of all prompts, and no more.
    assert_eq!(v["joint"]["target"], 0.75, "{v}");
    assert_eq!(v["joint"]["chosen"]["strong_share"], 0.25, "{v}");
    assert!(v["joint"]["chosen"]["quality_kept"].as_f64().unwrap() >= 0.75);
    let text = ok(tollgate(&[
        "route-train",
        "--records",
        &s(d.join("records.jsonl")),
        "--rules",
        &s(d.join("base.toml")),
        "--out",
        &s(d.join("t.model")),
        "--hash-bits",
        "10",
        "--default-floor",
        "0.5",
        "--target",
        "0.75",
    ]));
    assert!(
        text.contains("features together, target 75.0% kept: out-of-fold 25.0% strong"),
        "{text}"
    );
}

/// One recorded call event of the eval run: `model` answered `prompt`
/// (fingerprinted as `fp`), with `request_id` `id`.
fn event(
    id: &str,
    model: &str,
    fp: &str,
    prompt: Option<&str>,
    feature: &str,
    output: u64,
) -> String {
    let prompt = prompt
        .map(|p| format!(r#","prompt_text":"{p}""#))
        .unwrap_or_default();
    format!(
        concat!(
            r#"{{"version":1,"timestamp":"2026-11-01T09:12:03.120Z","request_id":"{id}","policy":"evals","#,
            r#""policy_hash":"5f0c2a9e81d34b7aa6c1e0f29d8b4c17","rules":{{"route":null,"cache":null,"prompt_cache":null,"batch":null,"limit":null,"budget":null}},"#,
            r#""tags":{{"feature":"{feature}"}},"model":"{model}","model_id":"x","operation":"chat","mode":"realtime","status":"ok","attempts":1,"cache":"bypass","#,
            r#""usage":{{"input_tokens":30,"output_tokens":{output},"cache_read_input_tokens":10,"cache_write_input_tokens":2,"cache_write_1h_input_tokens":0}},"#,
            r#""latency_ms":100,"cost_usd":0.0,"cost_nanos":0,"cost_breakdown":{{"input_nanos":0,"output_nanos":0,"cache_write_5m_nanos":0,"cache_write_1h_nanos":0,"cache_read_nanos":0,"total_nanos":0,"long_context":false}},"#,
            r#""cost_avoided_usd":0.0,"cost_avoided_nanos":0,"attributes":{{}},"redacted":[],"fingerprint":{{"system":null,"messages":"{fp}"}}{prompt}}}"#
        ),
        id = id,
        model = model,
        fp = fp,
        feature = feature,
        output = output,
        prompt = prompt
    )
}

#[test]
fn route_train_on_scored_call_events_equals_training_on_the_same_records() {
    let d = dir().join("events");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("base.toml"), POLICY).unwrap();
    let (mut events, mut scores, mut records) = (String::new(), String::new(), String::new());
    for i in 0..200 {
        let hard = i % 2 == 0;
        let feature = if i % 4 < 2 { "math" } else { "chat" };
        let prompt = if hard {
            format!("prove the theorem number {i} about integrals rigorously")
        } else {
            format!("say hello to friend number {i} politely")
        };
        let weak = if hard { 0.0 } else { 1.0 };
        let fp = format!("{:032x}", 1000 + i);
        // The weak answer is recorded first: records follow the strong events.
        writeln!(
            events,
            "{}",
            event(&format!("w{i}"), "weak", &fp, Some(&prompt), feature, 90)
        )
        .unwrap();
        writeln!(
            events,
            "{}",
            event(&format!("s{i}"), "strong", &fp, Some(&prompt), feature, 110)
        )
        .unwrap();
        writeln!(scores, r#"{{"request_id": "s{i}", "score": 1.0}}"#).unwrap();
        writeln!(scores, r#"{{"request_id": "w{i}", "score": {weak:?}}}"#).unwrap();
        writeln!(
            records,
            r#"{{"id": "{fp}", "prompt": "{prompt}", "feature": "{feature}", "strong_score": 1.0, "weak_score": {weak:?}, "strong_output_tokens": 110, "weak_output_tokens": 90, "input_tokens": 42}}"#
        )
        .unwrap();
    }
    // Left out: a prompt scored on the strong model only, a pair recorded
    // without prompt text, a second scored strong answer of prompt 0, and a
    // third model's answer.
    let lone = format!("{:032x}", 1);
    let blind = format!("{:032x}", 2);
    let first = format!("{:032x}", 1000);
    for (id, model, fp, prompt) in [
        ("lone-s", "strong", &lone, Some("what is 2 + 2")),
        ("lone-w", "weak", &lone, Some("what is 2 + 2")),
        ("blind-s", "strong", &blind, None),
        ("blind-w", "weak", &blind, None),
        ("again-s", "strong", &first, Some("prove it again")),
        ("other", "opus", &first, Some("prove it again")),
    ] {
        writeln!(events, "{}", event(id, model, fp, prompt, "math", 5)).unwrap();
    }
    for id in ["lone-s", "blind-s", "blind-w", "again-s", "other"] {
        writeln!(scores, r#"{{"request_id": "{id}", "score": 0.5}}"#).unwrap();
    }
    std::fs::write(d.join("events.jsonl"), events).unwrap();
    std::fs::write(d.join("scores.jsonl"), scores).unwrap();
    std::fs::write(d.join("records.jsonl"), records).unwrap();

    let s = |p: PathBuf| p.to_str().unwrap().to_owned();
    let common = |out: &str| {
        vec![
            "route-train".to_owned(),
            "--rules".to_owned(),
            s(d.join("base.toml")),
            "--out".to_owned(),
            s(d.join(out)),
            "--hash-bits".to_owned(),
            "10".to_owned(),
            "--default-floor".to_owned(),
            "0.9".to_owned(),
            "--json".to_owned(),
        ]
    };
    let mut from_events = common("events.model");
    from_events.extend([
        "--events".to_owned(),
        s(d.join("events.jsonl")),
        "--scores".to_owned(),
        s(d.join("scores.jsonl")),
    ]);
    let mut from_records = common("records.model");
    from_records.extend(["--records".to_owned(), s(d.join("records.jsonl"))]);
    let run = |args: &[String]| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        tollgate(&args)
    };
    let ev = run(&from_events);
    let stderr = String::from_utf8_lossy(&ev.stderr).into_owned();
    let a: serde_json::Value = serde_json::from_str(&ok(ev)).unwrap();
    let b: serde_json::Value = serde_json::from_str(&ok(run(&from_records))).unwrap();
    assert_eq!(
        stderr.lines().last().unwrap_or(""),
        "events: 200 prompts scored on both `strong` and `weak`; left out: 1 scored on one model only, 1 without prompt text, 1 repeated"
    );
    assert_eq!(a["records"], 200, "{a}");
    assert_eq!(a, b);
    assert_eq!(
        std::fs::read(d.join("events.model")).unwrap(),
        std::fs::read(d.join("records.model")).unwrap(),
        "the joined events train the same model as the equivalent records"
    );

    // `--events` alone is refused before any work.
    let alone = tollgate(&[
        "route-train",
        "--events",
        "x.jsonl",
        "--rules",
        "r.toml",
        "--out",
        "o",
    ]);
    assert!(!alone.status.success());
    let msg = String::from_utf8_lossy(&alone.stderr);
    assert!(msg.contains("--scores"), "{msg}");
}
