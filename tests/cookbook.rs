//! Every policy in docs/cookbook.md loads without warnings (`tollgate check
//! --deny-warnings`) and passes its own `[[test]]` cases with the compiled
//! engine (`tollgate test`), as the cookbook promises its readers.

use std::path::PathBuf;

use tollgate::engine::compile;
use tollgate::engine::run_tests;
use tollgate::lang::{load_path, LoadOptions};

/// The ```toml blocks of the cookbook, each with the recipe (`## ` heading)
/// it belongs to.
fn recipes() -> Vec<(String, String)> {
    let text = include_str!("../docs/cookbook.md");
    let mut out = Vec::new();
    let mut heading = String::new();
    let mut block: Option<String> = None;
    for line in text.lines() {
        match &mut block {
            Some(b) if line == "```" => {
                out.push((heading.clone(), std::mem::take(b)));
                block = None;
            }
            Some(b) => {
                b.push_str(line);
                b.push('\n');
            }
            None if line == "```toml" => block = Some(String::new()),
            None => {
                if let Some(h) = line.strip_prefix("## ") {
                    heading = h.to_string();
                }
            }
        }
    }
    out
}

#[test]
fn every_cookbook_policy_checks_clean_and_passes_its_tests() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    // Recipes name model files relative to themselves, as the shipped rules do.
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cookbook");
    std::fs::create_dir_all(dir.join("routers")).expect("scratch directory");
    std::fs::copy(
        root.join("rules/routers/routellm.model"),
        dir.join("routers/routellm.model"),
    )
    .expect("the shipped router model");

    let recipes = recipes();
    let headings: Vec<&str> = recipes.iter().map(|(h, _)| h.as_str()).collect();
    assert_eq!(
        headings,
        [
            "Route by feature, tier and size",
            "Mix a learned score with plain rules",
            "Cache a knowledge base per tenant",
            "Batch nightly work",
            "Flex for agents",
            "Budgets",
            "Retries and fallbacks",
            "Spike alerts",
            "Off-peak work by the clock",
        ]
    );
    for (i, (heading, text)) in recipes.iter().enumerate() {
        let path = dir.join(format!("recipe-{i}.toml"));
        std::fs::write(&path, text).expect("write the recipe");
        let loaded = match load_path(&path, &LoadOptions::default()) {
            Ok(l) => l,
            Err(e) => panic!("{heading}: does not load:\n{e}"),
        };
        assert!(
            loaded.warnings.is_empty(),
            "{heading}: warnings: {:?}",
            loaded.warnings
        );
        let compiled = compile(loaded.policy).expect("compiles");
        let results = run_tests(compiled.policy(), &|ctx| compiled.decide(ctx));
        // The alerts recipe routes nothing (every call takes the default
        // model); the ledger's tests cover what it configures.
        if heading != "Spike alerts" {
            assert!(!results.is_empty(), "{heading}: the recipe has no [[test]]");
        }
        for r in &results {
            assert!(r.passed(), "{heading}: {} failed: {r:?}", r.name);
        }
    }
}
