//! `tollgate route-eval` end to end on the hand-made eval set of
//! tollgate-analysis's tests (figures computed by hand there).
#![allow(clippy::unwrap_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn evals() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tollgate-analysis/tests/fixtures/evals")
}

fn run(extra: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .arg("route-eval")
        .arg("--rules")
        .arg(evals().join("policy.toml"))
        .args(extra)
        .arg(evals())
        .output()
        .unwrap_or_else(|e| panic!("runs: {e}"));
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn route_eval_json_has_the_hand_computed_overall_figures() {
    let v: serde_json::Value = serde_json::from_str(&run(&["--split", "all", "--json"])).unwrap();
    let o = &v["overall"];
    assert_eq!(o["prompts"], 5);
    assert_eq!(o["policy"]["cost_nanos"], 6_626_000);
    assert_eq!(o["all_strong"]["cost_nanos"], 9_072_000);
    assert_eq!(o["all_weak"]["cost_nanos"], 3_703_000);
    assert_eq!(o["policy"]["strong_share"], 0.6);
    assert_eq!(o["policy"]["quality"], 0.95);
    assert_eq!(o["all_strong"]["quality"], 0.98);
    assert_eq!(o["all_weak"]["quality"], 0.47);
    // serde_json's default float parser is not correctly rounded in the
    // last place: compare to 1e-12.
    let saved = o["policy"]["saved_pct"].as_f64().unwrap();
    assert!((saved - (9_072_000.0 - 6_626_000.0) / 9_072_000.0 * 100.0).abs() < 1e-12);
    assert_eq!(v["split"], "all");
    assert_eq!(v["by_dataset"][2]["name"], "mt_bench");
}

#[test]
fn route_eval_text_prints_the_table() {
    let text = run(&["--split", "all"]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "policy `route-eval-test` on the all split, 5 prompts"
    );
    assert_eq!(
        lines[3],
        "dataset    router      prompts  strong%  quality   kept%        cost  saved%"
    );
    // A coin weighted to the policy's quality: the overall row's expected
    // strong share (0.95 - 0.47) / (0.98 - 0.47) = 94.1 %.
    assert_eq!(
        lines[16],
        "overall    random            5     94.1    0.950    96.9       $0.01     3.5"
    );
    assert_eq!(
        lines[17],
        "overall    policy            5     60.0    0.950    96.9       $0.01    27.0"
    );
    assert_eq!(
        lines[24],
        "  long-writing                     1    100.0    1.000    1.000    0.600"
    );
    assert_eq!(
        lines[25],
        "note: 1 prompt listed in contaminated_prompts.jsonl left out (as upstream)"
    );
}

#[test]
fn route_eval_refuses_a_file_of_another_kind() {
    let out = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .arg("route-eval")
        .arg("--rules")
        .arg(evals().join("policy.toml"))
        .arg(evals().join("policy.toml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr)
        .ends_with("policy.toml` is not RouteLLM eval data (expected `mmlu_*.csv`, `gsm8k*.csv`, `judgements.jsonl` or `contaminated_prompts.jsonl`)\n"));
}

#[test]
fn routing_rules_reproduce_the_readme_figures() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .arg("route-eval")
        .arg("--rules")
        .arg(root.join("rules/routing.toml"))
        .arg("--json")
        .arg(root.join("data/routellm-evals"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let o = &v["overall"];
    assert_eq!(o["prompts"], 7730);
    let r1 = |x: &serde_json::Value| format!("{:.1}", x.as_f64().unwrap());
    assert_eq!(r1(&o["policy"]["quality_kept_pct"]), "93.9");
    assert_eq!(r1(&o["policy"]["saved_pct"]), "28.7");
    assert_eq!(
        r1(&(o["policy"]["strong_share"].as_f64().unwrap() * 100.0).into()),
        "40.3"
    );
    assert_eq!(r1(&o["all_weak"]["quality_kept_pct"]), "83.5");
    assert_eq!(r1(&o["all_weak"]["saved_pct"]), "75.1");
}

#[test]
fn routing_rules_check_clean_and_pass_their_tests() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    for args in [&["check", "--deny-warnings"][..], &["test"][..]] {
        let out = Command::new(env!("CARGO_BIN_EXE_tollgate"))
            .args(args)
            .arg(root.join("rules/routing.toml"))
            .output()
            .unwrap();
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
