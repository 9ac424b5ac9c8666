//! Golden diagnostics: every malformed policy under `tests/bad/` loads to
//! exactly the text stored next to it in a `.stderr` file.
//!
//! A case is a `.toml` file (or a directory, loaded as a directory policy)
//! under `tests/bad/`; its golden output is `tests/bad/NAME.stderr`: what
//! `tollgate check` prints, i.e. [`LoadError::render`] for a policy that
//! fails, or the rendered warnings for one that loads. The path is passed
//! relative to the crate directory (cargo runs integration tests there), so
//! diagnostics read `tests/bad/NAME.toml:LINE:COL`.
//!
//! [`CASES`] states, for every case, the severities and codes its
//! diagnostics must have, in order. It is the check that a regenerated
//! golden file still says what the case is about.
//!
//! Run with `UPDATE_GOLDEN=1` to rewrite the `.stderr` files, then read
//! every changed file: the message must be right, the caret under the
//! offending token, the help useful.

use std::path::{Path, PathBuf};
use tollgate_lang::{load_path, Diagnostic, Limits, LoadError, LoadOptions, Loaded, SourceMap};

const BAD: &str = "tests/bad";

/// Every case and the diagnostics it must produce (`severity[code]`, in
/// output order).
#[rustfmt::skip]
const CASES: &[(&str, &[&str])] = &[
    // TOML structure.
    ("toml_syntax", &["error[toml-syntax]"]),
    ("duplicate_toml_key", &["error[toml-syntax]"]),
    ("unknown_top_level_key", &["error[unknown-key]"]),
    ("route_unknown_key", &["error[missing-key]", "error[unknown-key]"]),
    ("route_as_table", &["error[wrong-type]"]),
    ("wrong_value_type", &["error[wrong-type]"]),
    ("when_not_string", &["error[wrong-type]"]),
    ("empty", &["error[missing-policy]"]),
    ("missing_policy", &["error[missing-policy]"]),
    ("missing_default_model", &["error[missing-key]"]),
    ("policy_bad_refs", &["error[unknown-model]", "error[unknown-attribute]", "error[unknown-key]"]),
    ("model_bad_keys", &["error[unknown-key]", "error[invalid-value]"]),
    // A model whose table has an error is left undefined, so the
    // `default_model` naming it is reported too.
    ("model_missing_id", &["error[missing-key]", "error[unknown-key]"]),
    ("rule_missing_name", &["error[missing-key]"]),
    ("rule_named_none", &["error[invalid-name]"]),
    ("dupdir", &["error[duplicate]"]),
    ("twopolicies", &["error[duplicate]", "error[duplicate]"]),
    // Attributes.
    ("unknown_attribute_type", &["error[unknown-type]"]),
    (
        "attribute_bad_names",
        &["error[invalid-name]", "error[invalid-name]", "error[invalid-name]", "error[wrong-type]"],
    ),
    // Expression syntax.
    ("single_equals", &["error[syntax]"]),
    ("and_keyword", &["error[syntax]"]),
    ("not_keyword", &["error[syntax]"]),
    ("unterminated_string", &["error[syntax]"]),
    ("empty_when", &["error[syntax]"]),
    ("expression_ends_early", &["error[syntax]"]),
    ("bad_escape", &["error[bad-escape]"]),
    ("int_literal_overflow", &["error[int-overflow]"]),
    ("float_literal_overflow", &["error[float-overflow]"]),
    ("null_literal", &["error[unsupported]"]),
    ("uint_literal", &["error[unsupported]"]),
    ("bytes_literal", &["error[unsupported]"]),
    ("map_literal", &["error[unsupported]"]),
    ("macro_map_unsupported", &["error[unsupported]"]),
    ("expression_too_deep", &["error[expression-too-deep]"]),
    // Names and types inside expressions.
    ("unknown_attribute_escaped", &["error[unknown-attribute]"]),
    ("dotted_attribute_misspelt", &["error[unknown-attribute]"]),
    ("multiline_when", &["error[type-mismatch]"]),
    ("compare_int_with_string", &["error[type-mismatch]"]),
    ("add_int_and_float", &["error[type-mismatch]"]),
    ("float_remainder", &["error[type-mismatch]"]),
    ("condition_not_bool", &["error[type-mismatch]"]),
    ("not_on_string", &["error[type-mismatch]"]),
    ("negate_string", &["error[type-mismatch]"]),
    ("or_needs_bool", &["error[type-mismatch]"]),
    ("in_on_string", &["error[type-mismatch]"]),
    ("contains_on_list", &["error[type-mismatch]"]),
    ("list_mixed_types", &["error[type-mismatch]"]),
    ("list_of_lists", &["error[unsupported]", "error[unsupported]"]),
    ("conditional_branches_differ", &["error[type-mismatch]"]),
    ("select_on_call", &["error[unsupported]"]),
    ("has_not_attribute", &["error[type-mismatch]"]),
    ("size_wrong_arity", &["error[bad-call]"]),
    ("matches_wrong_arity", &["error[bad-call]"]),
    ("unknown_function", &["error[unknown-function]"]),
    ("index_not_list", &["error[type-mismatch]"]),
    ("index_not_int", &["error[type-mismatch]"]),
    ("map_misuse", &["error[type-mismatch]", "error[type-mismatch]", "error[unsupported]", "error[type-mismatch]", "error[unsupported]"]),
    ("time_misuse", &["error[invalid-timestamp]", "error[invalid-duration]", "error[unknown-time-zone]", "error[type-mismatch]", "error[type-mismatch]", "error[type-mismatch]", "error[wrong-type]"]),
    ("convert_list", &["error[type-mismatch]"]),
    ("macro_not_bool", &["error[type-mismatch]"]),
    ("macro_variable_not_name", &["error[bad-call]"]),
    ("matches_non_literal", &["error[regex-not-literal]"]),
    ("invalid_regex", &["error[invalid-regex]"]),
    ("regex_too_big", &["error[regex-too-big]"]),
    // References between sections.
    ("unknown_model_in_route", &["error[unknown-model]"]),
    ("unknown_model_in_fallback", &["error[unknown-model]"]),
    ("unknown_model_in_budget", &["error[unknown-model]"]),
    ("duplicate_rule_name", &["error[duplicate]"]),
    ("cache_scope_int", &["error[type-mismatch]"]),
    ("cache_scope_unknown", &["error[unknown-attribute]"]),
    ("cache_key_unknown_field", &["error[invalid-value]"]),
    ("cache_missing_keys", &["error[missing-key]", "error[missing-key]", "error[missing-key]"]),
    ("invalid_duration", &["error[invalid-duration]", "error[invalid-duration]"]),
    ("prompt_cache_ttl", &["error[invalid-duration]"]),
    ("prompt_cache_unknown_point", &["error[invalid-value]"]),
    ("budget_bad_action", &["error[invalid-value]"]),
    ("route_bad_tier", &["error[invalid-value]", "error[invalid-value]", "error[invalid-value]", "error[wrong-type]"]),
    (
        "limit_bad_values",
        &[
            "error[invalid-value]",
            "error[invalid-value]",
            "error[invalid-value]",
            "error[wrong-type]",
            "error[unknown-key]",
        ],
    ),
    ("alerts_bad", &["error[invalid-value]", "error[invalid-value]", "error[type-mismatch]"]),
    ("test_unknown_rule", &["error[test-unknown-rule]"]),
    ("test_unknown_model", &["error[unknown-model]"]),
    ("test_bad_expect", &["error[unknown-key]", "error[wrong-type]", "error[missing-key]"]),
    // Prices.
    // As above: the model without a price is left undefined.
    ("unknown_price", &["error[unknown-price]"]),
    ("missing_cache_price", &["error[missing-price]"]),
    // Several errors in one run.
    (
        "three_errors",
        &["error[unknown-attribute]", "error[unknown-model]", "error[invalid-duration]"],
    ),
    // Lints: the policy loads, with warnings.
    ("unreachable_after_catch_all", &["warning[unreachable-rule]"]),
    ("unreachable_after_in", &["warning[unreachable-rule]"]),
    ("unreachable_narrower_range", &["warning[unreachable-rule]"]),
    ("never_matches", &["warning[never-matches]"]),
    ("unused_model", &["warning[unused-model]"]),
    (
        "route_tier_not_offered",
        &["warning[tier-not-offered]", "warning[latency-not-offered]", "warning[latency-not-offered]"],
    ),
    // Checks added after review.
    ("alertsdir", &["error[duplicate]"]),
    ("cache_key_empty", &["error[invalid-value]"]),
    ("duplicate_test_name", &["error[duplicate]"]),
    ("reserved_word_in_path", &["error[invalid-name]"]),
    ("test_request_keys", &["warning[unknown-attribute]", "error[wrong-type]"]),
    ("or_chain_too_deep", &["error[expression-too-deep]"]),
];

/// What loading a policy path yields: the error, or the policy and its warnings.
fn load(path: &Path, opts: &LoadOptions) -> Result<Loaded, LoadError> {
    load_path(path, opts)
}

/// The diagnostics of a load and the sources to render them with.
fn diagnostics(result: &Result<Loaded, LoadError>) -> (Vec<Diagnostic>, SourceMap) {
    match result {
        Err(e) => (e.diagnostics.clone(), e.sources.clone()),
        Ok(l) => (l.warnings.clone(), l.policy.sources().clone()),
    }
}

/// What `tollgate check` prints for a path.
fn rendered(path: &Path, opts: &LoadOptions) -> String {
    let result = load(path, opts);
    let (diags, sources) = diagnostics(&result);
    diags.iter().map(|d| d.render(&sources)).collect()
}

/// `severity[code]` of each diagnostic, in order.
fn codes(path: &Path) -> Vec<String> {
    let (diags, _) = diagnostics(&load(path, &LoadOptions::default()));
    diags
        .iter()
        .map(|d| {
            let sev = if d.is_error() { "error" } else { "warning" };
            format!("{sev}[{}]", d.code)
        })
        .collect()
}

/// The case names found on disk: `*.toml` files and directories.
fn cases_on_disk() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(BAD)
        .expect("tests/bad is readable")
        .filter_map(Result::ok)
        .filter_map(|e| {
            let p = e.path();
            let name = p.file_name()?.to_str()?.to_string();
            if p.is_dir() {
                Some(name)
            } else {
                name.strip_suffix(".toml").map(str::to_string)
            }
        })
        .collect();
    names.sort();
    names
}

fn case_path(name: &str) -> PathBuf {
    let dir = Path::new(BAD).join(name);
    if dir.is_dir() {
        dir
    } else {
        Path::new(BAD).join(format!("{name}.toml"))
    }
}

#[test]
fn every_case_on_disk_is_listed_once() {
    let mut listed: Vec<String> = CASES.iter().map(|(n, _)| n.to_string()).collect();
    listed.sort();
    let before = listed.len();
    listed.dedup();
    assert_eq!(before, listed.len(), "a case is listed twice in CASES");
    assert_eq!(cases_on_disk(), listed);
    assert!(CASES.len() >= 36, "only {} golden cases", CASES.len());
}

#[test]
fn bad_policies_render_their_golden_diagnostics() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1");
    let mut failures = Vec::new();
    for (name, want_codes) in CASES {
        let path = case_path(name);
        let got = rendered(&path, &LoadOptions::default());
        let golden = Path::new(BAD).join(format!("{name}.stderr"));
        let got_codes = codes(&path);
        if got_codes != *want_codes {
            failures.push(format!(
                "{name}: diagnostics are {got_codes:?}, the case expects {want_codes:?}\n{got}"
            ));
        }
        if got.is_empty() {
            failures.push(format!("{name}: loads without any diagnostic"));
        }
        if update {
            std::fs::write(&golden, &got).expect("golden file is writable");
            continue;
        }
        match std::fs::read_to_string(&golden) {
            Ok(want) if want == got => {}
            Ok(want) => failures.push(format!(
                "{name}: output differs from {}\n--- expected\n{want}--- actual\n{got}",
                golden.display()
            )),
            Err(e) => failures.push(format!(
                "{name}: cannot read {} ({e}); run with UPDATE_GOLDEN=1\n--- actual\n{got}",
                golden.display()
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_error_of_a_file_is_reported_in_one_run() {
    let result = load(&case_path("three_errors"), &LoadOptions::default());
    let (diags, _) = diagnostics(&result);
    assert!(result.is_err());
    assert_eq!(diags.len(), 3);
    assert!(diags.iter().all(Diagnostic::is_error));
}

#[test]
fn errors_of_every_file_in_a_directory_are_reported() {
    // The duplicate is found in the second file and points back at the first.
    let out = rendered(&case_path("dupdir"), &LoadOptions::default());
    assert!(out.starts_with(
        "tests/bad/dupdir/b.toml:2:9: error[duplicate]: model `sonnet` is defined twice\n"
    ));
    assert!(out.contains("it is already defined at tests/bad/dupdir/a.toml:5:9"));
}

#[test]
fn empty_file_is_a_policy_without_policy_table() {
    assert_eq!(
        rendered(&case_path("empty"), &LoadOptions::default()),
        "tests/bad/empty.toml: error[missing-policy]: no file defines `[policy]`\n  \
         = help: add `[policy]` with `name` and `default_model` to one file\n"
    );
}

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("tollgate-diag-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir is writable");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn non_utf8_file_is_an_encoding_error() {
    let dir = TempDir::new("latin1");
    let path = dir.0.join("latin1.toml");
    // `café` in Latin-1: 0xE9 is not UTF-8.
    std::fs::write(
        &path,
        b"[policy]\nname = \"caf\xe9\"\ndefault_model = \"sonnet\"\n",
    )
    .expect("temp file is writable");
    let shown = path.display().to_string();
    assert_eq!(
        rendered(&path, &LoadOptions::default()),
        format!(
            "{shown}: error[encoding]: `{shown}` is not valid UTF-8 (byte 20)\n  \
             = help: rule files are UTF-8 text\n"
        )
    );
}

#[test]
fn file_over_the_size_limit_is_refused_before_parsing() {
    let opts = LoadOptions {
        limits: Limits {
            max_file_bytes: 100,
            ..Default::default()
        },
        ..Default::default()
    };
    assert_eq!(
        rendered(&case_path("toml_syntax"), &opts),
        "tests/bad/toml_syntax.toml: error[limit]: `tests/bad/toml_syntax.toml` is larger than \
         the limit of 100 bytes\n  = help: split the policy into several files in one directory\n"
    );
}

#[test]
fn diagnostic_json_names_file_span_code_and_help() {
    let result = load(
        &case_path("unknown_attribute_escaped"),
        &LoadOptions::default(),
    );
    let (diags, sources) = diagnostics(&result);
    let json: Vec<serde_json::Value> = diags.iter().map(|d| d.to_json(&sources)).collect();
    assert_eq!(
        json,
        vec![serde_json::json!({
            "path": "tests/bad/unknown_attribute_escaped.toml",
            "line": 14,
            "column": 34,
            "end_line": 14,
            "end_column": 40,
            "severity": "error",
            "code": "unknown-attribute",
            "message": "unknown attribute `featur`",
            "help": "did you mean `feature`?",
        })]
    );
}

#[test]
fn missing_path_is_an_io_error() {
    let out = rendered(
        Path::new("tests/bad/no-such-policy.toml"),
        &LoadOptions::default(),
    );
    assert!(
        out.starts_with(
            "tests/bad/no-such-policy.toml: error[io]: cannot read `tests/bad/no-such-policy.toml`: "
        ),
        "{out}"
    );
    assert!(out.ends_with("\n  = help: give the path of a .toml file or of a directory of them\n"));
}

#[test]
fn directory_without_visible_toml_files_is_an_io_error() {
    let dir = TempDir::new("empty-dir");
    // Hidden files (a ConfigMap's `..data`) and other extensions are skipped.
    std::fs::write(dir.0.join(".hidden.toml"), "[policy]\n").expect("temp file is writable");
    std::fs::write(dir.0.join("notes.txt"), "not a policy\n").expect("temp file is writable");
    let shown = dir.0.display().to_string();
    assert_eq!(
        rendered(&dir.0, &LoadOptions::default()),
        format!(
            "{shown}: error[io]: `{shown}` holds no .toml file\n  = help: a policy directory \
             holds one or more .toml files (names starting with `.` are skipped)\n"
        )
    );
}

#[test]
fn directory_with_more_files_than_the_limit_is_refused() {
    let opts = LoadOptions {
        limits: Limits {
            max_files: 1,
            ..Default::default()
        },
        ..Default::default()
    };
    assert_eq!(
        rendered(&case_path("dupdir"), &opts),
        "tests/bad/dupdir: error[limit]: `tests/bad/dupdir` holds 2 rule files, more than the \
         limit of 1\n"
    );
}

#[test]
fn policy_with_more_rules_than_the_limit_is_refused() {
    let opts = LoadOptions {
        limits: Limits {
            max_rules: 1,
            ..Default::default()
        },
        ..Default::default()
    };
    assert_eq!(
        rendered(&case_path("unreachable_after_in"), &opts),
        "tests/bad/unreachable_after_in.toml: error[limit]: the policy has 2 rules, more than \
         the limit of 1\n"
    );
}

#[test]
fn expression_longer_than_the_limit_is_refused() {
    let mut opts = LoadOptions::default();
    opts.limits.expr.max_len = 20;
    assert_eq!(
        rendered(&case_path("unreachable_after_in"), &opts),
        "tests/bad/unreachable_after_in.toml:16:9: error[expression-too-long]: expression is 25 \
         bytes long, more than the limit of 20\n   |\n16 | when = 'feature in [\"kb\", \"chat\"]'\n   \
         |         ^\n   = help: split the condition across several rules\n"
    );
}

#[test]
fn regex_size_limit_is_configurable() {
    let mut opts = LoadOptions::default();
    opts.limits.regex_size = 100;
    let result = load(&case_path("regex_too_big"), &opts);
    let (diags, _) = diagnostics(&result);
    let messages: Vec<&str> = diags.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(
        messages,
        ["regex compiles to more than the limit of 100 bytes"]
    );
}

#[test]
fn attributes_must_agree_with_the_application_schema() {
    use tollgate_lang::{Schema, Type};
    let schema = Schema::new()
        .with("feature", Type::Int)
        .and_then(|s| s.with("tenant", Type::String))
        .expect("schema is valid");
    let opts = LoadOptions {
        schema: Some(schema),
        ..Default::default()
    };
    let result = load(&case_path("cache_scope_unknown"), &opts);
    let (diags, sources) = diagnostics(&result);
    let first = diags
        .first()
        .map(|d| d.render(&sources))
        .unwrap_or_default();
    assert_eq!(
        first,
        "tests/bad/cache_scope_unknown.toml:6:11: error[schema-mismatch]: attribute `feature` is \
         `int` in the application's schema, not `string`\n  |\n6 | feature = \"string\"\n  |           \
         ^^^^^^^^\n  = help: the schema is fixed while the application runs: keep the type, or \
         restart with a new schema\n"
    );
}

/// The diagnostics table of the crate README quotes messages "copied from
/// the golden tests": each quoted message (between double backticks) of an
/// example that names its cases in `[brackets]` must be in every one of
/// those cases' `.stderr` files.
#[test]
#[allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "a test fails by panicking"
)]
fn readme_quotes_the_golden_files() {
    let readme = std::fs::read_to_string("README.md").unwrap();
    let names = regex::Regex::new(r"\[([a-z0-9_, ]+)\]\s*\|?\s*$").unwrap();
    let quoted = regex::Regex::new(r"``\s?(.+?)\s?``").unwrap();
    let (mut checked, mut wrong) = (0, Vec::new());
    for row in readme.lines().filter(|l| l.starts_with("| `")) {
        let Some(examples) = row.rsplit(" | ").next() else {
            continue;
        };
        for example in examples.split("; ") {
            let Some(cases) = names.captures(example.trim()) else {
                continue;
            };
            for case in cases[1].split(',').map(str::trim) {
                let golden = Path::new(BAD).join(format!("{case}.stderr"));
                let text = std::fs::read_to_string(&golden)
                    .unwrap_or_else(|e| panic!("{}: {e}", golden.display()));
                for q in quoted.captures_iter(example) {
                    checked += 1;
                    if !text.contains(&q[1]) {
                        wrong.push(format!("[{case}] `{}`", &q[1]));
                    }
                }
            }
        }
    }
    assert!(
        checked >= 60,
        "only {checked} quotes found: has the table changed shape?"
    );
    assert!(
        wrong.is_empty(),
        "README quotes not in their golden files:\n{}",
        wrong.join("\n")
    );
}
