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
