//! Bad policy input: every malformed file fails with one located,
//! coded error (or, where the input is legal, loads), and none panics or
//! runs away in time or memory.
//!
//! Each case asserts the diagnostic codes in order and the first error's
//! one-line form (`path:line:col: message (N errors in all)`), which is
//! what `LoadError`'s `Display` gives a log line.

// Test code: a failed unwrap or panic is a failed test.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tollgate_lang::{load_path, load_str, LoadError, LoadOptions};

/// Lines 1-9 of every case.
const HEAD: &str = "[policy]
name = \"p\"
default_model = \"m\"
[attributes]
a = \"string\"
n = \"int\"
x = \"float\"
[models.m]
id = \"anthropic.claude-3-5-haiku-20241022-v1:0\"
";

/// `HEAD` plus one route (line 10 `[[route]]`, line 11 its name, line 12
/// its condition, line 13 its model).
fn route(when: &str) -> String {
    format!("{HEAD}[[route]]\nname = \"r\"\nwhen = '{when}'\nmodel = \"m\"\n")
}

fn refuse(text: &str) -> LoadError {
    match load_str("p.toml", text, &LoadOptions::default()) {
        Ok(_) => panic!(
            "loaded, expected an error:\n{}",
            &text[..text.len().min(400)]
        ),
        Err(e) => e,
    }
}

/// Codes of all diagnostics and the one-line form of the first error.
fn check(text: &str, codes: &[&str], line: &str) {
    let started = Instant::now();
    let e = refuse(text);
    let got: Vec<&str> = e.diagnostics.iter().map(|d| d.code).collect();
    assert_eq!(got, codes, "{}", e.render());
    assert_eq!(e.to_string(), line);
    // Rendering (snippet and caret) works on every case too.
    assert!(e.render().contains(&format!("error[{}]", codes[0])));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn malformed_toml() {
    check(
        &format!("{HEAD}[[route]\nname = \"r\"\n"),
        &["toml-syntax"],
        "p.toml:10:9: invalid TOML: unclosed array table, expected `]` (1 error in all)",
    );
}

#[test]
fn wrong_types() {
    check(
        &format!("{HEAD}[[route]]\nname = 7\nmodel = \"m\"\n"),
        &["wrong-type"],
        "p.toml:11:8: `name` must be a string, found an integer (1 error in all)",
    );
    check(
        &format!("{}max_output_tokens = \"lots\"\n", route("a == \"x\"")),
        &["wrong-type"],
        "p.toml:14:21: `max_output_tokens` must be a whole number, found a string (1 error in all)",
    );
}

#[test]
fn one_megabyte_expression() {
    let big = vec!["n == 1"; 150_000].join(" || ");
    assert!(big.len() > 1 << 20);
    check(
        &route(&big),
        &["expression-too-long"],
        "p.toml:12:9: expression is 1499996 bytes long, more than the limit of 16384 (1 error in all)",
    );
}

#[test]
fn ten_thousand_deep_nesting() {
    // Parentheses: refused on length before the parser recurses.
    let parens = format!("{}n == 1{}", "(".repeat(10_000), ")".repeat(10_000));
    check(
        &route(&parens),
        &["expression-too-long"],
        "p.toml:12:9: expression is 20006 bytes long, more than the limit of 16384 (1 error in all)",
    );
    // Prefix operators fit the length limit and hit the depth limit.
    let nots = format!("{}true", "!".repeat(10_000));
    check(
        &route(&nots),
        &["expression-too-deep"],
        "p.toml:12:9: expression nests deeper than the limit of 32 (1 error in all)",
    );
    // TOML arrays and inline tables 10,000 deep: the TOML parser's own limit.
    check(
        &format!("{HEAD}x = {}1{}\n", "[".repeat(10_000), "]".repeat(10_000)),
        &["toml-syntax"],
        "p.toml:10:85: invalid TOML: cannot recurse further; max recursion depth met (1 error in all)",
    );
    check(
        &format!("{HEAD}y = {}1{}\n", "{a=".repeat(10_000), "}".repeat(10_000)),
        &["toml-syntax"],
        "p.toml:10:245: invalid TOML: cannot recurse further; max recursion depth met (1 error in all)",
    );
}

/// The documented limit: 32 levels load, the 33rd is refused where it
/// opens. Each `(`, `[`, call argument list and `?:` is one level.
#[test]
fn nesting_counts_one_level_per_bracket_call_and_conditional() {
    type Shape = fn(usize) -> String;
    let shapes: [(&str, Shape); 4] = [
        ("parentheses", |k| {
            format!("{}n{} == 1", "(".repeat(k), ")".repeat(k))
        }),
        ("a list", |k| {
            format!("n in {}[1]{}", "(".repeat(k - 1), ")".repeat(k - 1))
        }),
        ("a call", |k| {
            format!("{}size(a){} == 1", "(".repeat(k - 1), ")".repeat(k - 1))
        }),
        // `?:` nests in its last operand (the middle one is an `||` level).
        ("conditionals", |k| {
            format!("{}n == 1", "true ? false : ".repeat(k))
        }),
    ];
    for (what, shape) in shapes {
        let ok = route(&shape(32));
        if let Err(e) = load_str("p.toml", &ok, &LoadOptions::default()) {
            panic!("32 levels of {what} refused:\n{}", e.render());
        }
        let deep = shape(33);
        // The 33rd opener: the last `(`, `[` or `?` before the operand.
        let at = match what {
            "conditionals" => deep.rfind('?'),
            "a list" => deep.find('['),
            _ => deep.rfind('('),
        }
        .unwrap();
        check(
            &route(&deep),
            &["expression-too-deep"],
            &format!(
                "p.toml:12:{}: expression nests deeper than the limit of 32 (1 error in all)",
                at + 9
            ),
        );
    }
}

#[test]
fn pathological_regexes() {
    // `(a*)*b` is exponential for a backtracking engine; the regex crate
    // is linear, so the policy loads (matching speed: the engine's
    // bad_input test runs it on a long input).
    let loaded = load_str(
        "p.toml",
        &route("a.matches(\"(a*)*b\")"),
        &LoadOptions::default(),
    );
    assert!(
        loaded.is_ok(),
        "{}",
        loaded.err().map(|e| e.render()).unwrap_or_default()
    );
    // A regex whose compiled program is huge is refused, located at the pattern.
    check(
        &route("a.matches(\"(\\\\w{100}){100}\")"),
        &["regex-too-big"],
        "p.toml:12:19: regex compiles to more than the limit of 1048576 bytes (1 error in all)",
    );
}

#[test]
fn nul_bytes() {
    // A raw NUL inside a TOML literal string.
    check(
        &route("a == \"\0\""),
        &["toml-syntax"],
        "p.toml:12:15: invalid TOML: invalid literal string, expected non-single-quote visible characters (1 error in all)",
    );
    // A raw NUL on a line of its own.
    check(
        &format!("{HEAD}\0\n"),
        &["toml-syntax", "toml-syntax"],
        "p.toml:10:1: invalid TOML: invalid unquoted key, expected letters, numbers, `-`, `_` (2 errors in all)",
    );
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "tollgate-bad-input-{tag}-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn refuse_path(path: &Path) -> LoadError {
    match load_path(path, &LoadOptions::default()) {
        Ok(_) => panic!("{} loaded, expected an error", path.display()),
        Err(e) => e,
    }
}

#[test]
fn invalid_utf8_file() {
    let dir = TempDir::new("utf8");
    let path = dir.path().join("p.toml");
    let mut bytes = route("a == \"x\"").into_bytes();
    bytes.extend_from_slice(b"# caf\xe9 \xff\xfe\n");
    std::fs::write(&path, &bytes).unwrap();
    let e = refuse_path(&path);
    let codes: Vec<&str> = e.diagnostics.iter().map(|d| d.code).collect();
    assert_eq!(codes, ["encoding"], "{}", e.render());
    // Located by byte offset: the `\xe9` after `# caf`.
    let offset = route("a == \"x\"").len() + "# caf".len();
    let shown = path.display();
    assert_eq!(
        e.to_string(),
        format!("{shown}: `{shown}` is not valid UTF-8 (byte {offset}) (1 error in all)")
    );
}

#[test]
fn huge_and_non_finite_numbers() {
    check(
        &route("x > 1e400"),
        &["float-overflow"],
        "p.toml:12:13: float literal `1e400` is out of range (1 error in all)",
    );
    check(
        &route("n > 9223372036854775808"),
        &["int-overflow"],
        "p.toml:12:13: integer literal `9223372036854775808` does not fit in a signed 64-bit integer (1 error in all)",
    );
    // i64::MIN itself is a valid literal.
    assert!(load_str(
        "p.toml",
        &route("n > -9223372036854775808"),
        &LoadOptions::default()
    )
    .is_ok());
    // CEL has no NaN literal: it reads as an (undeclared) attribute.
    check(
        &route("x > NaN"),
        &["unknown-attribute"],
        "p.toml:12:13: unknown attribute `NaN` (1 error in all)",
    );
    // TOML numbers: 1e400 (infinite), nan and inf are out of range for money.
    for (lit, col) in [("1e400", 13), ("nan", 13), ("inf", 13), ("-0.5", 13)] {
        check(
            &format!("{HEAD}[[budget]]\nname = \"b\"\ndaily_usd = {lit}\naction = \"reject\"\n"),
            &["invalid-value"],
            &format!("p.toml:12:{col}: `daily_usd` must be a number from 0 to 1000000000 (1 error in all)"),
        );
    }
    for lit in ["9223372036854775807", "9223372036854775808", "0", "-1"] {
        check(
            &format!("{}max_output_tokens = {lit}\n", route("a == \"x\"")),
            &["invalid-value"],
            "p.toml:14:21: `max_output_tokens` must be a whole number from 1 to 4294967295 (1 error in all)",
        );
    }
}

#[test]
fn duplicate_keys() {
    check(
        &format!("{HEAD}[[route]]\nname = \"r\"\nname = \"s\"\nmodel = \"m\"\n"),
        &["toml-syntax"],
        "p.toml:12:1: invalid TOML: duplicate key (1 error in all)",
    );
    check(
        &format!("{HEAD}[[route]]\nname = \"r\"\nmodel = \"m\"\n[[route]]\nname = \"r\"\nmodel = \"m\"\n"),
        &["duplicate"],
        "p.toml:14:8: rule `r` is defined twice in [[route]] (1 error in all)",
    );
}

#[test]
fn empty_file() {
    check(
        "",
        &["missing-policy"],
        "p.toml: no file defines `[policy]` (1 error in all)",
    );
}

#[test]
fn binary_garbage() {
    // 4 KiB of deterministic pseudo-random bytes, read as lossy UTF-8.
    let garbage: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let text = String::from_utf8_lossy(&garbage);
    let started = Instant::now();
    let e = refuse(&text);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(e.diagnostics.iter().all(|d| d.code == "toml-syntax"));
    assert_eq!(e.diagnostics.len(), 352);
    assert_eq!(
        e.to_string(),
        "p.toml:1:1: invalid TOML: invalid unquoted key, expected letters, numbers, `-`, `_` (352 errors in all)"
    );
}

#[cfg(target_os = "linux")] // the messages are Linux's (ELOOP is os error 40)
#[test]
fn symlink_loop_in_rules_directory() {
    let dir = TempDir::new("symlink");
    std::fs::write(dir.path().join("a.toml"), route("a == \"x\"")).unwrap();
    // b.toml -> c.toml -> b.toml
    std::os::unix::fs::symlink("c.toml", dir.path().join("b.toml")).unwrap();
    std::os::unix::fs::symlink("b.toml", dir.path().join("c.toml")).unwrap();
    let e = refuse_path(dir.path());
    let codes: Vec<&str> = e.diagnostics.iter().map(|d| d.code).collect();
    assert_eq!(codes, ["io", "io"], "{}", e.render());
    let b = dir.path().join("b.toml");
    let b = b.display();
    assert_eq!(
        e.to_string(),
        format!("{b}: cannot read `{b}`: Too many levels of symbolic links (os error 40) (2 errors in all)")
    );

    // A file that is a symlink to itself.
    let self_link = dir.path().join("self.toml");
    std::os::unix::fs::symlink("self.toml", &self_link).unwrap();
    let e = refuse_path(&self_link);
    let shown = self_link.display();
    assert_eq!(
        e.to_string(),
        format!("{shown}: cannot read `{shown}`: Too many levels of symbolic links (os error 40) (1 error in all)")
    );
}
