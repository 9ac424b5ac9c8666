//! `tollgate prices show` end to end on the built-in price table: exact
//! decimals (never float noise), regions, profiles, tiers and each error.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// (exit code, stdout, stderr) of `tollgate ARGS`.
fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("runs: {e}"));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn ok(args: &[&str]) -> String {
    let (code, out, err) = run(args);
    assert_eq!(code, 0, "stderr: {err}");
    assert_eq!(err, "");
    out
}

const HAIKU_US: &str = "us.anthropic.claude-haiku-4-5-20251001-v1:0";
const MICRO: &str = "amazon.nova-micro-v1:0";
const LLAMA_70B: &str = "meta.llama3-1-70b-instruct-v1:0";

#[test]
fn show_prints_each_model_at_the_default_region_and_tier() {
    assert_eq!(
        ok(&["prices", "show", HAIKU_US, MICRO, LLAMA_70B]),
        "region us-east-1 (default), tier default; USD per million tokens

us.anthropic.claude-haiku-4-5-20251001-v1:0
  input              1.1
  output             5.5
  cache read         0.11
  cache write 5m     1.375
  cache write 1h     2.2
  batch input        0.55
  batch output       2.75
  max output tokens  64000
  cache min tokens   4096

amazon.nova-micro-v1:0
  input              0.035
  output             0.14
  cache read         0.00875
  cache write 5m     0.035
  cache write 1h     -
  batch input        0.0175
  batch output       0.07
  max output tokens  10000
  cache min tokens   1000

meta.llama3-1-70b-instruct-v1:0
  input              0.72
  output             0.72
  cache read         -
  cache write 5m     -
  cache write 1h     -
  batch input        0.36
  batch output       0.36
  max output tokens  2048
  cache min tokens   -
"
    );
}

#[test]
fn show_json_writes_exact_decimals_in_the_order_given() {
    assert_eq!(
        ok(&["prices", "show", "--json", LLAMA_70B, MICRO, HAIKU_US]),
        concat!(
            r#"{"region":"us-east-1","tier":"default","models":["#,
            r#"{"id":"meta.llama3-1-70b-instruct-v1:0","input_per_mtok":0.72,"output_per_mtok":0.72,"cache_read_per_mtok":null,"cache_write_per_mtok":null,"cache_write_1h_per_mtok":null,"batch_input_per_mtok":0.36,"batch_output_per_mtok":0.36,"max_output_tokens":2048,"cache_min_tokens":null},"#,
            r#"{"id":"amazon.nova-micro-v1:0","input_per_mtok":0.035,"output_per_mtok":0.14,"cache_read_per_mtok":0.00875,"cache_write_per_mtok":0.035,"cache_write_1h_per_mtok":null,"batch_input_per_mtok":0.0175,"batch_output_per_mtok":0.07,"max_output_tokens":10000,"cache_min_tokens":1000},"#,
            r#"{"id":"us.anthropic.claude-haiku-4-5-20251001-v1:0","input_per_mtok":1.1,"output_per_mtok":5.5,"cache_read_per_mtok":0.11,"cache_write_per_mtok":1.375,"cache_write_1h_per_mtok":2.2,"batch_input_per_mtok":0.55,"batch_output_per_mtok":2.75,"max_output_tokens":64000,"cache_min_tokens":4096}"#,
            "]}\n"
        )
    );
}

#[test]
fn show_json_is_one_object_serde_reads_back() {
    let out = ok(&["prices", "show", "--json"]);
    assert_eq!(out.lines().count(), 1);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let models = v["models"].as_array().unwrap();
    // Every model of the built-in table, in table order.
    assert_eq!(
        models[0]["id"], "anthropic.claude-3-haiku-20240307-v1:0",
        "first model"
    );
    assert_eq!(
        models.len(),
        tollgate_lang_table_len(),
        "one row per model of the table"
    );
}

/// The number of `[models."ID"]` tables of the built-in table file.
fn tollgate_lang_table_len() -> usize {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules/pricing/bedrock.toml"),
    )
    .unwrap();
    text.lines().filter(|l| l.starts_with("[models.\"")).count()
}

#[test]
fn an_eu_profile_is_priced_at_the_eu_rate() {
    assert_eq!(
        ok(&[
            "prices",
            "show",
            "--region",
            "eu-west-1",
            "--json",
            "eu.amazon.nova-micro-v1:0"
        ]),
        concat!(
            r#"{"region":"eu-west-1","tier":"default","models":["#,
            r#"{"id":"eu.amazon.nova-micro-v1:0","input_per_mtok":0.046,"output_per_mtok":0.184,"cache_read_per_mtok":0.0115,"cache_write_per_mtok":0.046,"cache_write_1h_per_mtok":null,"batch_input_per_mtok":0.023,"batch_output_per_mtok":0.092,"max_output_tokens":10000,"cache_min_tokens":1000}"#,
            "]}\n"
        )
    );
    // The human output names the region, without "(default)".
    assert!(ok(&["prices", "show", "--region", "eu-west-1", MICRO])
        .starts_with("region eu-west-1, tier default; USD per million tokens\n"));
}

#[test]
fn a_tier_changes_on_demand_and_cache_prices_but_not_batch() {
    assert_eq!(
        ok(&["prices", "show", "--tier", "flex", "amazon.nova-pro-v1:0"]),
        "region us-east-1 (default), tier flex; USD per million tokens

amazon.nova-pro-v1:0
  input              0.4
  output             1.6
  cache read         0.1
  cache write 5m     0.4
  cache write 1h     -
  batch input        0.4
  batch output       1.6
  max output tokens  10000
  cache min tokens   1000
"
    );
}

#[test]
fn rules_use_the_policy_price_file() {
    let policy = fixture("prices-policy/policy.toml");
    let out = ok(&[
        "prices",
        "show",
        "--json",
        "--rules",
        policy.to_str().unwrap(),
        "us.amazon.nova-micro-v1:0",
        LLAMA_70B,
    ]);
    assert_eq!(
        out,
        concat!(
            r#"{"region":"us-east-1","tier":"default","models":["#,
            r#"{"id":"us.amazon.nova-micro-v1:0","input_per_mtok":0.04,"output_per_mtok":0.16,"cache_read_per_mtok":null,"cache_write_per_mtok":null,"cache_write_1h_per_mtok":null,"batch_input_per_mtok":0.02,"batch_output_per_mtok":0.08,"max_output_tokens":10000,"cache_min_tokens":null},"#,
            r#"{"id":"meta.llama3-1-70b-instruct-v1:0","input_per_mtok":0.72,"output_per_mtok":0.72,"cache_read_per_mtok":null,"cache_write_per_mtok":null,"cache_write_1h_per_mtok":null,"batch_input_per_mtok":0.36,"batch_output_per_mtok":0.36,"max_output_tokens":2048,"cache_min_tokens":null}"#,
            "]}\n"
        )
    );
}

#[test]
fn an_unknown_id_fails_with_a_suggestion() {
    assert_eq!(
        run(&["prices", "show", "amazon.nova-micro", MICRO]),
        (
            1,
            String::new(),
            "error: unknown model id `amazon.nova-micro` (did you mean `amazon.nova-micro-v1:0`?)\n"
                .to_owned()
        )
    );
    assert_eq!(
        run(&["prices", "show", "--json", "acme.nothing-alike"]),
        (
            1,
            String::new(),
            "error: unknown model id `acme.nothing-alike`\n\
             note: `tollgate prices show` without ids lists every model id\n"
                .to_owned()
        )
    );
}

#[test]
fn a_profile_of_another_geography_fails() {
    assert_eq!(
        run(&["prices", "show", "--region", "us-east-1", "eu.amazon.nova-micro-v1:0"]),
        (
            1,
            String::new(),
            "error: profile `eu.` cannot be called from `us-east-1`: it takes calls from eu-* regions\n"
                .to_owned()
        )
    );
}

#[test]
fn a_tier_the_model_does_not_offer_fails() {
    assert_eq!(
        run(&["prices", "show", "--tier", "flex", MICRO]),
        (
            1,
            String::new(),
            "error: model `amazon.nova-micro-v1:0` has no `flex` tier price (offered: default)\n"
                .to_owned()
        )
    );
    assert_eq!(
        run(&["prices", "show", "--tier", "cheap", MICRO]),
        (
            2,
            String::new(),
            "error: unknown service tier `cheap` (expected default, flex, priority or reserved)\n"
                .to_owned()
        )
    );
}

#[test]
fn a_malformed_region_fails() {
    assert_eq!(
        run(&["prices", "show", "--region", "EU-WEST-1", MICRO]),
        (
            2,
            String::new(),
            "error: `EU-WEST-1` is not a region name (expected e.g. `us-east-1`, `eu-west-1`)\n"
                .to_owned()
        )
    );
}

/// (exit code, stdout) of `tollgate ARGS` run in the crate directory.
fn run_here(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tollgate"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap_or_else(|e| panic!("runs: {e}"));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
    )
}

#[test]
fn check_passes_the_builtin_table() {
    let (code, out) = run_here(&["prices", "check"]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        out,
        format!(
            "rules/pricing/bedrock.toml (built-in): {} models, 0 errors, 0 warnings\n",
            tollgate_lang_table_len()
        )
    );
}

#[test]
fn check_reports_each_inconsistency_with_its_line() {
    assert_eq!(
        run_here(&["prices", "check", "tests/fixtures/broken-prices.toml"]),
        (
            1,
            "tests/fixtures/broken-prices.toml:8: error: model `anthropic.claude-test-v1:0`: `batch_output_per_mtok` is 7, expected 50% of `output_per_mtok` 15 = 7.5
tests/fixtures/broken-prices.toml:5: error: model `anthropic.claude-test-v1:0`: `cache_write_5m_per_mtok` is 3, expected 5/4x `input_per_mtok` 3 = 3.75
tests/fixtures/broken-prices.toml:21: error: model `amazon.nova-test-v1:0` in eu-*: `cache_read_per_mtok` is 0.02, expected 1/4x `input_per_mtok` 0.078 = 0.0195
tests/fixtures/broken-prices.toml:26: warning: model `acme.cached-v1`: cache prices of a provider without documented ratios are not checked
tests/fixtures/broken-prices.toml:28: error: model `eu.meta.only-us-v1`: not priced at `eu-central-1`: model `eu.meta.only-us-v1` has no price in `eu-central-1` (priced in: us-*)
tests/fixtures/broken-prices.toml: 4 models, 4 errors, 1 warning
"
            .to_owned()
        )
    );
}

#[test]
fn check_reports_a_syntax_error_at_its_line() {
    assert_eq!(
        run_here(&["prices", "check", "tests/fixtures/prices-syntax-error.toml"]),
        (
            1,
            "tests/fixtures/prices-syntax-error.toml:3: error: invalid price table at line 3, column 18: string values must be quoted, expected literal string
tests/fixtures/prices-syntax-error.toml: 1 error, 0 warnings
"
            .to_owned()
        )
    );
}

const IMPORTED: &str = r#"# Imported by `tollgate prices import` from bedrock-offer.json, regions us-east-1, eu-west-1.

[models."amazon.nova-micro-v1:0"]
input_per_mtok = 0.035
output_per_mtok = 0.14
cache_read_per_mtok = 0.00875
batch_input_per_mtok = 0.0175
batch_output_per_mtok = 0.07

[[models."amazon.nova-micro-v1:0".regional]]
regions = ["eu-west-1"]
input_per_mtok = 0.046
output_per_mtok = 0.184
cache_read_per_mtok = 0.0115
batch_input_per_mtok = 0.023
batch_output_per_mtok = 0.092

[models."meta.llama3-1-70b-instruct-v1:0"]
input_per_mtok = 0.72
output_per_mtok = 0.72
"#;

#[test]
fn import_maps_usage_types_and_reports_unmapped_models() {
    let offer = fixture("bedrock-offer.json");
    let (code, out, err) = run(&[
        "prices",
        "import",
        offer.to_str().unwrap(),
        "--region",
        "us-east-1",
        "--region",
        "eu-west-1",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, IMPORTED);
    assert_eq!(
        err,
        "unmapped: `Zeta 9` (2 prices)\n2 models imported, 1 unmapped, 0 errors\n"
    );
}

#[test]
fn import_writes_a_table_that_prices_like_the_offer() {
    let dir = std::env::temp_dir().join(format!("tollgate-import-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let table = dir.join("prices.toml");
    let offer = fixture("bedrock-offer.json");
    let (code, out, _) = run(&[
        "prices",
        "import",
        offer.to_str().unwrap(),
        "--region",
        "us-east-1",
        "--region",
        "eu-west-1",
        "--out",
        table.to_str().unwrap(),
    ]);
    assert_eq!((code, out.as_str()), (0, ""));
    assert_eq!(std::fs::read_to_string(&table).unwrap(), IMPORTED);
    let (code, out, err) = run(&["prices", "check", table.to_str().unwrap()]);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.ends_with(": 2 models, 0 errors, 0 warnings\n"), "{out}");
}

/// Six real records of AWS's Amazon Bedrock offer file (us-east-1,
/// published 2026-10-03; source and what was put back in the offer's shape
/// in `tests/fixtures/aws-offer/README.md`).
const REAL_EXCERPT_IMPORTED: &str = r#"# Imported by `tollgate prices import` from AmazonBedrock-us-east-1-excerpt.json, regions us-east-1.

[models."amazon.nova-lite-v1:0"]
input_per_mtok = 0.06
output_per_mtok = 0.24

[models."amazon.nova-micro-v1:0"]
input_per_mtok = 0.035
output_per_mtok = 0.14
batch_input_per_mtok = 0.0175
batch_output_per_mtok = 0.07
"#;

#[test]
fn import_of_a_real_offer_excerpt_maps_every_usage_type_to_the_shipped_prices() {
    let offer = fixture("aws-offer/AmazonBedrock-us-east-1-excerpt.json");
    let (code, out, err) = run(&["prices", "import", offer.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, REAL_EXCERPT_IMPORTED);
    // No usage type of the real file is left unmapped.
    assert_eq!(err, "2 models imported, 0 unmapped, 0 errors\n");
    // Each imported price is the shipped table's for us-east-1.
    let shipped: serde_json::Value = serde_json::from_str(&ok(&[
        "prices",
        "show",
        "--json",
        "amazon.nova-lite-v1:0",
        "amazon.nova-micro-v1:0",
    ]))
    .unwrap();
    let imported: Vec<(String, String, f64)> = REAL_EXCERPT_IMPORTED
        .lines()
        .scan(String::new(), |model, line| {
            if let Some(m) = line.strip_prefix("[models.\"") {
                *model = m.trim_end_matches("\"]").to_owned();
            }
            Some(
                line.split_once(" = ")
                    .map(|(k, v)| (model.clone(), k.to_owned(), v.parse::<f64>().unwrap())),
            )
        })
        .flatten()
        .collect();
    assert_eq!(imported.len(), 6);
    for (model, key, price) in &imported {
        let row = shipped["models"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["id"] == model.as_str())
            .unwrap_or_else(|| panic!("{model} is shipped"));
        assert_eq!(row[key.as_str()].as_f64(), Some(*price), "{model} {key}");
    }
}
