//! `tollgate explain` on a time rule: the built binary prints, under a
//! rule that came out false, the value of each sub-expression.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::process::Command;

const POLICY: &str = r#"[policy]
name = "explain-time"
default_model = "sonnet"

[attributes]
feature = "string"
request_time = "timestamp"

[models.haiku]
id = "us.anthropic.claude-3-5-haiku-20241022-v1:0"

[models.sonnet]
id = "us.anthropic.claude-sonnet-4-20250514-v1:0"

[[route]]
name = "reports-off-peak"
when = 'feature == "report" && (request_time.getHours("Europe/Berlin") >= 22 || request_time.getDayOfWeek("Europe/Berlin") in [0, 6])'
model = "haiku"
"#;

#[test]
fn explain_prints_the_values_under_a_false_time_rule() {
    let path = std::env::temp_dir().join(format!("tollgate-explain-{}.toml", std::process::id()));
    std::fs::write(&path, POLICY).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .arg("explain")
        .arg(&path)
        .args([
            "--request",
            r#"{"feature": "report", "request_time": "2026-01-06T12:00:00Z"}"#,
        ])
        .output()
        .unwrap_or_else(|e| panic!("runs: {e}"));
    let _ = std::fs::remove_file(&path);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = text.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with("  reports-off-peak"))
        .unwrap_or_else(|| panic!("{text}"));
    // Tuesday 12:00 UTC is 13:00 in Berlin.
    assert_eq!(
        lines[at + 1..at + 6],
        [
            r#"      request_time.getHours("Europe/Berlin") >= 22 = false"#,
            r#"      request_time.getHours("Europe/Berlin") = 13"#,
            r#"      request_time = timestamp("2026-01-06T12:00:00Z")"#,
            r#"      request_time.getDayOfWeek("Europe/Berlin") in [0, 6] = false"#,
            r#"      request_time.getDayOfWeek("Europe/Berlin") = 2"#,
        ]
    );
    assert_eq!(lines.get(at + 6).copied(), Some(""), "{text}");
}

const MAPS_POLICY: &str = r#"[policy]
name = "explain-json"
default_model = "sonnet"

[attributes]
feature = "string"
quota = "map<string, int>"
tags = "map<string,string>"
ratio = "float"
ids = "list<string>"
request_time = "timestamp"

[models.haiku]
id = "us.anthropic.claude-3-5-haiku-20241022-v1:0"

[models.sonnet]
id = "us.anthropic.claude-sonnet-4-20250514-v1:0"

[[route]]
name = "quota"
when = 'quota["gpu"] > 2 && size(quota) >= 1'
model = "haiku"

[[route]]
name = "tags"
when = 'tags["team"] == "search" || "kb-9" in ids'
model = "haiku"

[[route]]
name = "errs"
when = '!(quota["tpu"] > 1 || ratio < 1.0) || ratio / 0.0 < 1.0'
model = "haiku"

[[route]]
name = "time"
when = 'request_time - timestamp("2026-01-06T00:00:00Z") > duration("13h")'
model = "haiku"

[[route]]
name = "missing-key"
when = 'quota["tpu"] > 1'
model = "haiku"

[[route]]
name = "kb"
when = 'feature == "kb"'
model = "haiku"
"#;

/// `explain --json`: each trace entry carries `values`, the sub-expressions
/// the text format prints under a false rule, typed as JSON (numbers,
/// strings, arrays, objects; non-finite floats, timestamps and durations as
/// CEL text), with an error in words instead of a value; empty for a rule
/// that matched or errored.
#[test]
fn explain_json_carries_the_values_under_false_rules() {
    let path =
        std::env::temp_dir().join(format!("tollgate-explain-json-{}.toml", std::process::id()));
    std::fs::write(&path, MAPS_POLICY).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .arg("explain")
        .arg(&path)
        .arg("--json")
        .args([
            "--request",
            r#"{"feature": "kb", "quota": {"gpu": 1, "cpu": 4}, "tags": {"team": "ads"}, "ratio": 0.5, "ids": ["kb-1"], "request_time": "2026-01-06T12:00:00Z"}"#,
        ])
        .output()
        .unwrap_or_else(|e| panic!("runs: {e}"));
    let _ = std::fs::remove_file(&path);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    let values: Vec<(&str, &str, &serde_json::Value)> = v["trace"]
        .as_array()
        .unwrap_or_else(|| panic!("{text}"))
        .iter()
        .map(|t| {
            (
                t["rule"].as_str().unwrap_or(""),
                t["outcome"].as_str().unwrap_or(""),
                &t["values"],
            )
        })
        .collect();
    let v = |expr: &str, ty: &str, value: serde_json::Value| serde_json::json!({"expr": expr, "type": ty, "value": value, "error": null});
    let e = |expr: &str, ty: &str, error: &str| serde_json::json!({"expr": expr, "type": ty, "value": null, "error": error});
    let quota = serde_json::json!({"gpu": 1, "cpu": 4});
    let expected = [
        (
            "quota",
            "false",
            serde_json::json!([
                v(r#"quota["gpu"]"#, "int", 1.into()),
                v("quota", "map<string, int>", quota.clone()),
            ]),
        ),
        (
            "tags",
            "false",
            serde_json::json!([
                v(r#"tags["team"] == "search""#, "bool", false.into()),
                v(r#"tags["team"]"#, "string", "ads".into()),
                v(
                    "tags",
                    "map<string, string>",
                    serde_json::json!({"team": "ads"})
                ),
                v(r#""kb-9" in ids"#, "bool", false.into()),
                v("ids", "list<string>", serde_json::json!(["kb-1"])),
            ]),
        ),
        (
            "errs",
            "false",
            serde_json::json!([
                v(
                    r#"!(quota["tpu"] > 1 || ratio < 1.0)"#,
                    "bool",
                    false.into()
                ),
                v(r#"(quota["tpu"] > 1 || ratio < 1.0)"#, "bool", true.into()),
                e(r#"quota["tpu"] > 1"#, "bool", r#"the map has no key "tpu""#),
                e(r#"quota["tpu"]"#, "int", r#"the map has no key "tpu""#),
                v("quota", "map<string, int>", quota.clone()),
                v("ratio < 1.0", "bool", true.into()),
                v("ratio", "float", 0.5.into()),
                v("ratio / 0.0 < 1.0", "bool", false.into()),
                v("ratio / 0.0", "float", "+Inf".into()),
            ]),
        ),
        (
            "time",
            "false",
            serde_json::json!([
                v(
                    r#"request_time - timestamp("2026-01-06T00:00:00Z")"#,
                    "duration",
                    r#"duration("43200s")"#.into()
                ),
                v(
                    "request_time",
                    "timestamp",
                    r#"timestamp("2026-01-06T12:00:00Z")"#.into()
                ),
            ]),
        ),
        ("missing-key", "error", serde_json::json!([])),
        ("kb", "matched", serde_json::json!([])),
    ];
    let expected: Vec<(&str, &str, &serde_json::Value)> =
        expected.iter().map(|(r, o, j)| (*r, *o, j)).collect();
    assert_eq!(values, expected, "{text}");
}

const TIER_POLICY: &str = r#"[policy]
name = "explain-tier"
default_model = "sonnet"

[attributes]
feature = "string"

[models.sonnet]
id = "us.anthropic.claude-sonnet-4-20250514-v1:0"

[[route]]
name = "agent"
when = 'feature == "agent"'
model = "sonnet"
service_tier = "flex"
latency = "optimized"
"#;

#[test]
fn explain_shows_the_route_tier_and_latency() {
    let path =
        std::env::temp_dir().join(format!("tollgate-explain-tier-{}.toml", std::process::id()));
    std::fs::write(&path, TIER_POLICY).unwrap();
    let run = |feature: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_tollgate"))
            .arg("explain")
            .arg(&path)
            .args(["--request", &format!(r#"{{"feature": "{feature}"}}"#)])
            .output()
            .unwrap_or_else(|e| panic!("runs: {e}"));
        assert!(out.status.success(), "{out:?}");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.lines()
            .find(|l| l.starts_with("decision: "))
            .unwrap_or_else(|| panic!("{text}"))
            .to_string()
    };
    let agent = run("agent");
    let other = run("chat");
    let _ = std::fs::remove_file(&path);
    assert_eq!(
        agent,
        "decision: model `sonnet` (us.anthropic.claude-sonnet-4-20250514-v1:0), \
         max_output_tokens none, service_tier flex, latency optimized"
    );
    assert_eq!(
        other,
        "decision: model `sonnet` (us.anthropic.claude-sonnet-4-20250514-v1:0), \
         max_output_tokens none"
    );
}
