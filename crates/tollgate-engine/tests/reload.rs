//! PolicyHandle: reload gate, schema pinning, shadow policy, counters, and
//! (with `--features watch`) the file watcher on real files.

// Test code: a failed unwrap or panic is a failed test.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
#[cfg(feature = "watch")]
use std::time::{Duration, Instant};
use tollgate_engine::{Context, DiffField, PolicyHandle, ReloadError};
use tollgate_lang::{LoadOptions, Schema, Type};

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!(
            "tollgate-reload-{tag}-{}-{nanos}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
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

const HEAD: &str = r#"[policy]
name = "reload-test"
default_model = "small"

[attributes]
feature = "string"
input_tokens = "int"

[models.small]
id = "test.small-v1"
input_per_mtok = 1.0
output_per_mtok = 2.0

[models.big]
id = "test.big-v1"
input_per_mtok = 3.0
output_per_mtok = 15.0
"#;

/// A valid policy routing `feature == "kb"` through rule `rule` to `model`,
/// with a test case saying so.
fn policy(rule: &str, model: &str) -> String {
    format!(
        r#"{HEAD}
[[route]]
name = "{rule}"
when = 'feature == "kb"'
model = "{model}"

[[test]]
name = "kb routed"
request = {{ feature = "kb" }}
expect = {{ route = "{rule}", model = "{model}" }}
"#
    )
}

#[cfg(feature = "watch")]
/// Write through a temporary file and a rename, as editors and deploy tools do.
fn write_atomic(path: &Path, text: &str) {
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// (route rule name or "none", model alias) for a `feature` value.
fn route_of(handle: &PolicyHandle, feature: &str) -> (String, String) {
    let id = handle.schema().id("feature").unwrap();
    let mut ctx = Context::new(handle.schema());
    ctx.set_str(id, feature);
    let (d, live) = handle.decide_with_live(&ctx);
    let p = live.policy();
    let rule = d
        .route
        .map(|r| p.routes[r.index()].name.clone())
        .unwrap_or_else(|| "none".into());
    (rule, p.model(d.model).unwrap().alias.clone())
}

fn kb(handle: &PolicyHandle) -> (String, String) {
    route_of(handle, "kb")
}

fn pair(a: &str, b: &str) -> (String, String) {
    (a.to_string(), b.to_string())
}

fn setup(tag: &str) -> (TempDir, PathBuf, PolicyHandle) {
    let dir = TempDir::new(tag);
    let path = dir.path().join("policy.toml");
    std::fs::write(&path, policy("kb-big", "big")).unwrap();
    let handle = PolicyHandle::load(&path, LoadOptions::default()).unwrap();
    (dir, path, handle)
}

#[cfg(feature = "watch")]
/// Poll `cond` every millisecond until it holds; the time it took.
fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if cond() {
            return Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    cond().then(|| start.elapsed())
}

/// Reload `text` and expect a refusal that leaves `kb-big` serving.
fn expect_refused(handle: &PolicyHandle, path: &Path, text: &str) -> ReloadError {
    let before = handle.current();
    std::fs::write(path, text).unwrap();
    let err = handle
        .reload()
        .expect_err("a broken policy must be refused");
    assert_eq!(
        kb(handle),
        pair("kb-big", "big"),
        "old policy keeps serving"
    );
    let now = handle.current();
    assert_eq!(now.version(), before.version());
    assert_eq!(now.hash(), before.hash());
    assert!(handle.stats().last_reload_failed);
    assert!(!err.render().is_empty());
    err
}

#[test]
fn reload_swaps_on_valid_file() {
    let (_dir, path, handle) = setup("swap");
    let v1 = handle.current();
    assert_eq!(v1.version(), 1);
    assert_eq!(kb(&handle), pair("kb-big", "big"));

    std::fs::write(&path, policy("kb-small", "small")).unwrap();
    let ok = handle.reload().unwrap();
    assert!(ok.changed);
    assert_eq!(ok.previous_version, 1);
    assert_eq!(ok.previous_hash, v1.hash());
    assert_eq!(ok.live.version(), 2);
    assert_eq!(ok.tests_run, 1);
    assert_eq!(kb(&handle), pair("kb-small", "small"));
    assert_eq!(handle.current().hash(), ok.live.hash());
    assert_ne!(ok.live.hash(), v1.hash());
    assert_eq!(ok.live.source(), Some(path.as_path()));
    // The old snapshot still decides with the old policy.
    assert_eq!(v1.policy().routes[0].name, "kb-big");

    // The same bytes again: passes, nothing swapped.
    let again = handle.reload().unwrap();
    assert!(!again.changed);
    assert_eq!(handle.current().version(), 2);
    let s = handle.stats();
    assert_eq!(
        (s.reloads_ok, s.reloads_unchanged, s.reloads_failed),
        (1, 1, 0)
    );
}

#[test]
fn reload_keeps_old_policy_on_syntax_error() {
    let (_dir, path, handle) = setup("syntax");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s2 = seen.clone();
    handle.on_reload_error(move |e| s2.lock().unwrap().push(e.render()));

    let broken = policy("kb-small", "small").replace("[[route]]", "[[route]\nname = ");
    let err = expect_refused(&handle, &path, &broken);
    assert!(matches!(err, ReloadError::Load(_)), "{err:?}");
    assert!(err.diagnostics().iter().any(|d| d.is_error()));
    let rendered = err.render();
    assert!(rendered.contains("policy.toml:"), "{rendered}");
    assert!(rendered.contains("error["), "{rendered}");
    assert_eq!(seen.lock().unwrap().as_slice(), [rendered]);

    // An empty file (a truncate caught mid-write) is refused as well.
    expect_refused(&handle, &path, "");
    // So is a missing one (an editor's delete-then-create).
    std::fs::remove_file(&path).unwrap();
    assert!(handle.reload().is_err());
    assert_eq!(kb(&handle), pair("kb-big", "big"));
    assert_eq!(handle.stats().reloads_failed, 3);

    // And the next good file goes live.
    std::fs::write(&path, policy("kb-small", "small")).unwrap();
    handle.reload().unwrap();
    assert_eq!(kb(&handle), pair("kb-small", "small"));
    assert!(!handle.stats().last_reload_failed);
}

#[test]
fn reload_keeps_old_policy_on_type_error() {
    let (_dir, path, handle) = setup("type");
    let broken = policy("kb-small", "small").replace(r#"feature == "kb""#, "feature > 3");
    let err = expect_refused(&handle, &path, &broken);
    let errors: Vec<_> = err.diagnostics().iter().filter(|d| d.is_error()).collect();
    assert!(!errors.is_empty(), "{err:?}");
    assert!(err.render().contains("feature > 3"), "{}", err.render());

    let unknown_model = policy("kb-small", "huge");
    let err = expect_refused(&handle, &path, &unknown_model);
    assert!(
        err.diagnostics().iter().any(|d| d.code == "unknown-model"),
        "{}",
        err.render()
    );
    assert_eq!(handle.stats().reloads_failed, 2);
}

#[test]
fn reload_keeps_old_policy_on_failing_test_case() {
    let (_dir, path, handle) = setup("failing-test");
    // Valid rules, but the test still expects the old routing.
    let text = policy("kb-small", "small").replace(
        r#"expect = { route = "kb-small", model = "small" }"#,
        r#"expect = { route = "kb-small", model = "big" }"#,
    );
    let err = expect_refused(&handle, &path, &text);
    match &err {
        ReloadError::TestsFailed { failed, total } => {
            assert_eq!(*total, 1);
            assert_eq!(failed.len(), 1);
            assert_eq!(failed[0].name, "kb routed");
            assert_eq!(failed[0].mismatches[0].what, "model");
        }
        other => panic!("expected TestsFailed, got {other:?}"),
    }
    assert_eq!(err.failed_tests().len(), 1);
    let rendered = err.render();
    assert!(rendered.contains("FAIL kb routed"), "{rendered}");
    assert!(
        rendered.contains("model: expected `big`, got `small`"),
        "{rendered}"
    );
    assert!(rendered.contains("0 passed, 1 failed"), "{rendered}");
}

#[test]
fn reload_refuses_schema_change() {
    let (_dir, path, handle) = setup("schema");
    let schema_before = handle.schema().clone();

    // A new attribute the running schema lacks.
    let added = policy("kb-small", "small").replace(
        "input_tokens = \"int\"\n",
        "input_tokens = \"int\"\ntenant = \"string\"\n",
    );
    let err = expect_refused(&handle, &path, &added);
    assert!(
        err.diagnostics()
            .iter()
            .any(|d| d.code == "schema-mismatch"),
        "{}",
        err.render()
    );
    assert!(err.render().contains("tenant"), "{}", err.render());

    // An attribute given another type.
    let retyped =
        policy("kb-small", "small").replace("input_tokens = \"int\"", "input_tokens = \"float\"");
    let err = expect_refused(&handle, &path, &retyped);
    assert!(
        err.diagnostics()
            .iter()
            .any(|d| d.code == "schema-mismatch"),
        "{}",
        err.render()
    );
    assert!(err.render().contains("input_tokens"), "{}", err.render());

    // Declaring fewer attributes is fine: slots do not move.
    let fewer = policy("kb-small", "small").replace("input_tokens = \"int\"\n", "");
    std::fs::write(&path, fewer).unwrap();
    handle.reload().unwrap();
    assert_eq!(kb(&handle), pair("kb-small", "small"));
    assert_eq!(handle.schema(), &schema_before);
    assert_eq!(*handle.current().policy().schema(), schema_before);
}

#[test]
fn handle_pins_application_schema() {
    let dir = TempDir::new("app-schema");
    let path = dir.path().join("policy.toml");
    std::fs::write(&path, policy("kb-big", "big")).unwrap();
    // The application's schema has more attributes, in its own slot order.
    let schema = Schema::new()
        .with("tenant", Type::String)
        .unwrap()
        .with("input_tokens", Type::Int)
        .unwrap()
        .with("feature", Type::String)
        .unwrap();
    let opts = LoadOptions {
        schema: Some(schema.clone()),
        ..LoadOptions::default()
    };
    let handle = PolicyHandle::load(&path, opts).unwrap();
    assert_eq!(handle.schema(), &schema);
    assert_eq!(handle.schema().id("feature").map(|a| a.get()), Some(2));
    assert_eq!(kb(&handle), pair("kb-big", "big"));

    // A policy may now use `tenant` (in the schema) without declaring it...
    let uses_tenant = policy("kb-small", "small")
        .replace(r#"feature == "kb""#, r#"feature == "kb" && !has(tenant)"#);
    std::fs::write(&path, uses_tenant).unwrap();
    handle.reload().unwrap();
    assert_eq!(kb(&handle), pair("kb-small", "small"));
    // ...but not declare it with another type.
    let bad = policy("kb-big", "big").replace(
        "input_tokens = \"int\"\n",
        "input_tokens = \"int\"\ntenant = \"int\"\n",
    );
    std::fs::write(&path, bad).unwrap();
    let err = handle.reload().unwrap_err();
    assert!(
        err.diagnostics()
            .iter()
            .any(|d| d.code == "schema-mismatch"),
        "{}",
        err.render()
    );
    assert_eq!(kb(&handle), pair("kb-small", "small"));

    // A policy checked against another schema cannot be swapped in.
    let other =
        tollgate_lang::load_str("x.toml", &policy("kb-big", "big"), &LoadOptions::default())
            .unwrap();
    let err = handle.swap_policy(other.policy).unwrap_err();
    assert!(matches!(err, ReloadError::SchemaMismatch { .. }), "{err:?}");
    // One loaded with the handle's options can.
    let same =
        tollgate_lang::load_str("x.toml", &policy("kb-big", "big"), handle.load_options()).unwrap();
    let ok = handle.swap_policy(same.policy).unwrap();
    assert!(ok.changed);
    assert_eq!(ok.live.source(), None);
    assert_eq!(kb(&handle), pair("kb-big", "big"));
}

#[test]
fn initial_load_goes_through_the_gate() {
    let dir = TempDir::new("initial");
    let path = dir.path().join("policy.toml");
    let text = policy("kb-big", "big").replace(
        r#"expect = { route = "kb-big", model = "big" }"#,
        r#"expect = { route = "kb-big", model = "small" }"#,
    );
    std::fs::write(&path, text).unwrap();
    let err = PolicyHandle::load(&path, LoadOptions::default()).unwrap_err();
    assert!(matches!(err, ReloadError::TestsFailed { .. }), "{err:?}");
    let err =
        PolicyHandle::load(dir.path().join("missing.toml"), LoadOptions::default()).unwrap_err();
    assert!(matches!(err, ReloadError::Load(_)), "{err:?}");
}

#[test]
fn shadow_reports_differences_without_changing_decision() {
    let (dir, _path, handle) = setup("shadow");
    let shadow_path = dir.path().join("candidate.toml");
    // The candidate sends kb to the small model through another rule, and
    // caps everything through a limit.
    let candidate = format!(
        "{}\n[[limit]]\nname = \"cap\"\nmax_output_tokens = 500\n",
        policy("kb-small", "small")
    );
    std::fs::write(&shadow_path, candidate).unwrap();

    let diffs = Arc::new(Mutex::new(Vec::new()));
    let d2 = diffs.clone();
    handle.on_shadow_diff(move |d| {
        let fields: Vec<DiffField> = d.fields.iter().collect();
        let live_rule = d
            .live_decision
            .route
            .map(|r| d.live.policy().routes[r.index()].name.clone());
        let shadow_rule = d
            .shadow_decision
            .route
            .map(|r| d.shadow.policy().routes[r.index()].name.clone());
        let json = d.to_json();
        d2.lock()
            .unwrap()
            .push((fields, live_rule, shadow_rule, json));
    });

    // Before a shadow is set, nothing is shadowed.
    assert_eq!(kb(&handle), pair("kb-big", "big"));
    assert_eq!(handle.stats().shadow_decisions, 0);

    let shadow = handle.set_shadow(&shadow_path).unwrap();
    assert_eq!(handle.shadow().map(|s| s.hash()), Some(shadow.hash()));
    assert!(handle.stats().shadow_active);

    // The served decision is the live one.
    assert_eq!(kb(&handle), pair("kb-big", "big"));
    {
        let got = diffs.lock().unwrap();
        assert_eq!(got.len(), 1);
        let (fields, live_rule, shadow_rule, json) = &got[0];
        assert_eq!(
            fields,
            &[
                DiffField::Route,
                DiffField::Model,
                DiffField::MaxOutputTokens,
                DiffField::Limit
            ]
        );
        assert_eq!(live_rule.as_deref(), Some("kb-big"));
        assert_eq!(shadow_rule.as_deref(), Some("kb-small"));
        assert_eq!(json["live"]["route"]["model"], "big");
        assert_eq!(json["shadow"]["route"]["model"], "small");
        assert_eq!(json["differs"][0], "route");
    }
    // Another request differs only by the cap.
    assert_eq!(route_of(&handle, "chat"), pair("none", "small"));
    assert_eq!(
        diffs.lock().unwrap()[1].0,
        [DiffField::MaxOutputTokens, DiffField::Limit]
    );

    let s = handle.stats();
    assert_eq!((s.decisions, s.shadow_decisions, s.shadow_diffs), (3, 2, 2));

    // A shadow identical to the live policy never differs.
    let same = dir.path().join("same.toml");
    std::fs::write(&same, policy("kb-big", "big")).unwrap();
    handle.set_shadow(&same).unwrap();
    kb(&handle);
    assert_eq!(handle.stats().shadow_diffs, 2);
    assert_eq!(handle.stats().shadow_decisions, 3);

    // A broken shadow is refused and the previous shadow stays.
    let broken = dir.path().join("broken.toml");
    std::fs::write(&broken, "[policy]\nname = ").unwrap();
    assert!(handle.set_shadow(&broken).is_err());
    assert_eq!(
        handle
            .shadow()
            .and_then(|s| s.source().map(Path::to_path_buf)),
        Some(same.clone())
    );

    // A reload of the live policy keeps the shadow.
    std::fs::write(dir.path().join("policy.toml"), policy("kb-small", "small")).unwrap();
    handle.reload().unwrap();
    assert!(handle.shadow().is_some());

    let removed = handle.clear_shadow().unwrap();
    assert_eq!(removed.source(), Some(same.as_path()));
    assert!(handle.clear_shadow().is_none());
    kb(&handle);
    let s = handle.stats();
    assert_eq!(
        (s.decisions, s.shadow_decisions, s.shadow_active),
        (5, 3, false)
    );
}

#[test]
fn shadow_reports_a_different_service_tier_or_latency() {
    let (_dir, _path, handle) = setup("shadow-tier");
    let diffs = Arc::new(Mutex::new(Vec::new()));
    let d2 = diffs.clone();
    handle.on_shadow_diff(move |d| {
        d2.lock()
            .unwrap()
            .push((d.fields.iter().collect::<Vec<_>>(), d.to_json()));
    });
    let with = |keys: &str| {
        let text = policy("kb-big", "big").replace(
            "model = \"big\"\n\n[[test]]",
            &format!("model = \"big\"\n{keys}\n\n[[test]]"),
        );
        let loaded = tollgate_lang::load_str("shadow.toml", &text, handle.load_options()).unwrap();
        handle.set_shadow_policy(loaded.policy).unwrap();
    };
    // The same rule and model: only the route's tier differs.
    with("service_tier = \"flex\"");
    assert_eq!(kb(&handle), pair("kb-big", "big"));
    // Then only its latency; then both, and `default` is not "none".
    with("latency = \"optimized\"");
    kb(&handle);
    with("service_tier = \"default\"\nlatency = \"standard\"");
    kb(&handle);
    // A shadow with the same tier and latency as the live policy: no diff.
    with("");
    kb(&handle);
    let got = diffs.lock().unwrap();
    let fields: Vec<&Vec<DiffField>> = got.iter().map(|(f, _)| f).collect();
    assert_eq!(
        fields,
        [
            &vec![DiffField::ServiceTier],
            &vec![DiffField::Latency],
            &vec![DiffField::ServiceTier, DiffField::Latency],
        ]
    );
    assert_eq!(got[0].1["differs"], serde_json::json!(["service_tier"]));
    assert_eq!(
        got[0].1["live"]["route"]["service_tier"],
        serde_json::Value::Null
    );
    assert_eq!(got[0].1["shadow"]["route"]["service_tier"], "flex");
    assert_eq!(
        got[2].1["differs"],
        serde_json::json!(["service_tier", "latency"])
    );
    assert_eq!(got[2].1["shadow"]["route"]["latency"], "standard");
    let s = handle.stats();
    assert_eq!((s.shadow_decisions, s.shadow_diffs), (4, 3));
}

#[test]
fn stats_count_decisions_and_reloads() {
    let (_dir, path, handle) = setup("stats");
    let oks = Arc::new(AtomicU64::new(0));
    let o2 = oks.clone();
    handle.on_reload(move |ok| {
        // (A panic here would be caught by the handle: count instead.)
        if ok.changed {
            o2.fetch_add(1, Ordering::Relaxed);
        }
    });
    let schema = handle.schema().clone();
    let ctx = Context::new(&schema);
    for _ in 0..1000 {
        handle.decide(&ctx);
    }
    std::fs::write(&path, policy("kb-small", "small")).unwrap();
    handle.reload().unwrap();
    handle.reload().unwrap(); // unchanged
    std::fs::write(&path, "not toml [").unwrap();
    handle.reload().unwrap_err();
    std::fs::write(&path, policy("kb-big", "big")).unwrap();
    handle.reload().unwrap();
    for _ in 0..10 {
        handle.decide_with_live(&ctx);
    }
    let s = handle.stats();
    assert_eq!(s.decisions, 1010);
    assert_eq!(s.reloads_ok, 2);
    assert_eq!(s.reloads_unchanged, 1);
    assert_eq!(s.reloads_failed, 1);
    assert_eq!(s.version, 3);
    assert_eq!(
        (s.shadow_decisions, s.shadow_diffs, s.shadow_active),
        (0, 0, false)
    );
    assert!(!s.last_reload_failed);
    assert_eq!(oks.load(Ordering::Relaxed), 2);
    // Plain data for any metrics exporter.
    let json = serde_json::to_value(s).unwrap();
    assert_eq!(json["decisions"], 1010);
}

#[test]
fn panicking_callback_does_not_break_reload() {
    let (_dir, path, handle) = setup("callback-panic");
    handle.on_reload(|_| panic!("callback bug"));
    std::fs::write(&path, policy("kb-small", "small")).unwrap();
    assert!(handle.reload().unwrap().changed);
    assert_eq!(kb(&handle), pair("kb-small", "small"));
}

#[test]
fn directory_policy_reloads() {
    let dir = TempDir::new("dir");
    let pdir = dir.path().join("rules");
    std::fs::create_dir(&pdir).unwrap();
    std::fs::write(pdir.join("a.toml"), policy("kb-big", "big")).unwrap();
    std::fs::write(pdir.join(".hidden.toml"), "garbage [").unwrap();
    let handle = PolicyHandle::load(&pdir, LoadOptions::default()).unwrap();
    assert_eq!(kb(&handle), pair("kb-big", "big"));
    // A second file defining a rule of the same name: refused.
    std::fs::write(
        pdir.join("b.toml"),
        "[[route]]\nname = \"kb-big\"\nmodel = \"small\"\n",
    )
    .unwrap();
    assert!(handle.reload().is_err());
    std::fs::write(
        pdir.join("b.toml"),
        "[[route]]\nname = \"other\"\nwhen = 'feature == \"x\"'\nmodel = \"small\"\n",
    )
    .unwrap();
    handle.reload().unwrap();
    assert_eq!(route_of(&handle, "x"), pair("other", "small"));
}

#[cfg(feature = "watch")]
mod watch {
    use super::*;
    use tollgate_engine::{WatchMode, WatchOptions, Watcher};

    fn native() -> WatchOptions {
        WatchOptions {
            poll_interval: None,
            ..WatchOptions::default()
        }
    }

    #[test]
    fn watcher_picks_up_write_then_rename() {
        let (_dir, path, handle) = setup("watch-rename");
        let handle = Arc::new(handle);
        let watcher = Watcher::spawn(handle.clone(), native()).unwrap();
        assert_eq!(
            watcher.mode(),
            WatchMode::Native,
            "{:?}",
            watcher.native_error()
        );

        let mut latencies = Vec::new();
        for round in 0..6 {
            let (rule, model) = if round % 2 == 0 {
                ("kb-small", "small")
            } else {
                ("kb-big", "big")
            };
            let text = policy(rule, model);
            let expected =
                tollgate_lang::load_str(&path.display().to_string(), &text, handle.load_options())
                    .unwrap()
                    .policy
                    .hash();
            let t0 = Instant::now();
            write_atomic(&path, &text);
            let took = wait_until(Duration::from_secs(2), || {
                handle.current().hash() == expected
            });
            let took = took.unwrap_or_else(|| panic!("round {round}: change not picked up in 2 s"));
            latencies.push(t0.elapsed().max(took));
            assert_eq!(kb(&handle), pair(rule, model));
        }
        latencies.sort();
        eprintln!(
            "reload latency (write+rename -> live), native watcher, debounce 15 ms: min {:.1} ms, median {:.1} ms, max {:.1} ms",
            latencies[0].as_secs_f64() * 1e3,
            latencies[latencies.len() / 2].as_secs_f64() * 1e3,
            latencies[latencies.len() - 1].as_secs_f64() * 1e3,
        );
        assert!(latencies[latencies.len() - 1] < Duration::from_secs(2));

        // A broken save is refused (old policy serving) and reported.
        let errors = Arc::new(AtomicU64::new(0));
        let e2 = errors.clone();
        handle.on_reload_error(move |_| {
            e2.fetch_add(1, Ordering::Relaxed);
        });
        let before = handle.current().hash();
        write_atomic(&path, "[policy\n");
        assert!(
            wait_until(Duration::from_secs(2), || errors.load(Ordering::Relaxed)
                >= 1)
            .is_some()
        );
        assert_eq!(handle.current().hash(), before);
        assert!(handle.stats().last_reload_failed);

        // Stopping the watcher stops reloads.
        drop(watcher);
        let version = handle.current().version();
        write_atomic(&path, &policy("kb-other", "small"));
        std::thread::sleep(Duration::from_millis(150));
        assert_eq!(handle.current().version(), version);
    }

    /// A router model whose every prompt has gain `gain` (the bias of the
    /// gain head; all other weights zero).
    fn router_model(gain: f32) -> Vec<u8> {
        use tollgate_lang::{RouterModel, RouterPrices, HEADS, LENGTH_FEATURES};
        let prices = RouterPrices {
            strong_input: 3.0,
            strong_output: 15.0,
            weak_input: 0.8,
            weak_output: 4.0,
        };
        let mut bias = [0.0; HEADS];
        bias[0] = gain;
        let m = RouterModel::new(
            8,
            prices,
            bias,
            [[0.0; HEADS]; LENGTH_FEATURES],
            vec![0.0; HEADS << 8],
            "reload test",
        )
        .unwrap();
        m.to_bytes()
    }

    /// (route rule or "none") for any prompt, scored by the live policy's
    /// routers as the gate does before deciding.
    fn learned_route(handle: &PolicyHandle) -> String {
        let live = handle.current();
        let p = live.policy();
        let mut ctx = Context::new(p.schema());
        tollgate_engine::score_routers(p, &mut ctx, "any prompt");
        let d = live.decide(&ctx);
        d.route
            .map(|r| p.routes[r.index()].name.clone())
            .unwrap_or_else(|| "none".into())
    }

    #[test]
    fn watcher_reloads_when_a_router_model_file_is_retrained() {
        let dir = TempDir::new("watch-router");
        std::fs::create_dir(dir.path().join("routers")).unwrap();
        let model = dir.path().join("routers/r.model");
        std::fs::write(&model, router_model(0.0)).unwrap();
        let path = dir.path().join("policy.toml");
        let text = format!(
            "{HEAD}\n[routers.r]\nmodel = \"routers/r.model\"\n\n\
             [[route]]\nname = \"learned\"\nwhen = 'r.gain >= 0.5'\nmodel = \"big\"\n"
        );
        std::fs::write(&path, text).unwrap();
        let handle = Arc::new(PolicyHandle::load(&path, LoadOptions::default()).unwrap());
        assert_eq!(learned_route(&handle), "none");
        let before = handle.current().policy().hash();

        // The model file sits below the policy's directory, where native
        // events do not reach: the periodic check notices it.
        let opts = WatchOptions {
            poll_interval: Some(Duration::from_millis(20)),
            ..WatchOptions::default()
        };
        let _watcher = handle.watch(opts).unwrap();
        let tmp = dir.path().join("routers/.r.model.tmp");
        std::fs::write(&tmp, router_model(1.0)).unwrap();
        std::fs::rename(&tmp, &model).unwrap();
        assert!(
            wait_until(Duration::from_secs(5), || learned_route(&handle)
                == "learned")
            .is_some(),
            "the retrained model serves"
        );
        assert_ne!(
            handle.current().policy().hash(),
            before,
            "the model file is in the hash"
        );

        // A broken model file is refused; the retrained one keeps serving.
        std::fs::write(&model, b"not a model").unwrap();
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(learned_route(&handle), "learned");
        assert!(handle.stats().reloads_failed >= 1, "{:?}", handle.stats());
    }

    #[test]
    fn watcher_sees_in_place_writes() {
        let (_dir, path, handle) = setup("watch-inplace");
        let handle = Arc::new(handle);
        let _watcher = handle.watch(native()).unwrap();
        std::fs::write(&path, policy("kb-small", "small")).unwrap();
        assert!(wait_until(Duration::from_secs(2), || kb(&handle)
            == pair("kb-small", "small"))
        .is_some());
    }

    /// Lay out a ConfigMap volume as kubelet does: `..2026_a/policy.toml`,
    /// `..data -> ..2026_a`, `policy.toml -> ..data/policy.toml`.
    fn configmap(dir: &Path, text: &str) {
        let data = dir.join("..2026_a");
        std::fs::create_dir(&data).unwrap();
        std::fs::write(data.join("policy.toml"), text).unwrap();
        std::os::unix::fs::symlink("..2026_a", dir.join("..data")).unwrap();
        std::os::unix::fs::symlink("..data/policy.toml", dir.join("policy.toml")).unwrap();
    }

    /// kubelet's update: a new timestamped dir, a `..data_tmp` link to it
    /// renamed over `..data`, then the old dir removed.
    fn configmap_update(dir: &Path, stamp: &str, old: &str, text: &str) {
        let data = dir.join(stamp);
        std::fs::create_dir(&data).unwrap();
        std::fs::write(data.join("policy.toml"), text).unwrap();
        std::os::unix::fs::symlink(stamp, dir.join("..data_tmp")).unwrap();
        std::fs::rename(dir.join("..data_tmp"), dir.join("..data")).unwrap();
        std::fs::remove_dir_all(dir.join(old)).unwrap();
    }

    #[test]
    fn watcher_follows_configmap_symlink_swap() {
        let dir = TempDir::new("configmap");
        let mount = dir.path().join("mount");
        std::fs::create_dir(&mount).unwrap();
        configmap(&mount, &policy("kb-big", "big"));

        // Watched both ways: as a directory policy, and as the file.
        let by_dir = Arc::new(PolicyHandle::load(&mount, LoadOptions::default()).unwrap());
        let by_file = Arc::new(
            PolicyHandle::load(mount.join("policy.toml"), LoadOptions::default()).unwrap(),
        );
        let _w1 = by_dir.watch(native()).unwrap();
        let _w2 = by_file.watch(native()).unwrap();
        assert_eq!(kb(&by_dir), pair("kb-big", "big"));
        assert_eq!(kb(&by_file), pair("kb-big", "big"));

        let t0 = Instant::now();
        configmap_update(&mount, "..2026_b", "..2026_a", &policy("kb-small", "small"));
        for h in [&by_dir, &by_file] {
            let took = wait_until(Duration::from_secs(2), || {
                kb(h) == pair("kb-small", "small")
            });
            assert!(took.is_some(), "ConfigMap swap not picked up");
        }
        eprintln!(
            "reload latency (ConfigMap ..data swap -> live): {:.1} ms",
            t0.elapsed().as_secs_f64() * 1e3
        );

        configmap_update(&mount, "..2026_c", "..2026_b", &policy("kb-big2", "big"));
        for h in [&by_dir, &by_file] {
            assert!(
                wait_until(Duration::from_secs(2), || kb(h) == pair("kb-big2", "big")).is_some()
            );
            assert_eq!(h.current().version(), 3);
            assert_eq!(h.stats().reloads_failed, 0);
        }
    }

    #[test]
    fn polling_fallback_detects_change() {
        let (_dir, path, handle) = setup("poll");
        let handle = Arc::new(handle);
        let watcher = handle
            .watch(WatchOptions {
                debounce: Duration::from_millis(10),
                poll_interval: Some(Duration::from_millis(50)),
                use_polling: true,
            })
            .unwrap();
        assert_eq!(watcher.mode(), WatchMode::Polling);
        // The watcher's first act: one check for changes made before it started.
        assert!(
            wait_until(Duration::from_secs(2), || handle.stats().reloads_unchanged
                == 1)
            .is_some()
        );
        let t0 = Instant::now();
        std::fs::write(&path, policy("kb-small", "small")).unwrap();
        assert!(wait_until(Duration::from_secs(2), || kb(&handle)
            == pair("kb-small", "small"))
        .is_some());
        eprintln!(
            "reload latency (polling every 50 ms): {:.1} ms",
            t0.elapsed().as_secs_f64() * 1e3
        );
        // Same-size rewrite (content hash, not just length).
        std::fs::write(&path, policy("kb-smal2", "small")).unwrap();
        assert!(wait_until(Duration::from_secs(2), || kb(&handle)
            == pair("kb-smal2", "small"))
        .is_some());
        // Polling only reloads on a change.
        std::thread::sleep(Duration::from_millis(200));
        let s = handle.stats();
        // (The one "unchanged" is the check the watcher makes when it starts.)
        assert_eq!(
            (s.reloads_ok, s.reloads_unchanged, s.reloads_failed),
            (2, 1, 0)
        );
    }

    #[test]
    fn native_safety_net_poll_catches_missed_changes() {
        // A symlink whose target lives outside the watched directory: no
        // event names the policy, only the fingerprint check sees it.
        let dir = TempDir::new("safety-net");
        let real = dir.path().join("real");
        let link = dir.path().join("link");
        std::fs::create_dir(&real).unwrap();
        std::fs::create_dir(&link).unwrap();
        std::fs::write(real.join("policy.toml"), policy("kb-big", "big")).unwrap();
        std::os::unix::fs::symlink(real.join("policy.toml"), link.join("policy.toml")).unwrap();
        let handle =
            Arc::new(PolicyHandle::load(link.join("policy.toml"), LoadOptions::default()).unwrap());
        let _w = handle
            .watch(WatchOptions {
                poll_interval: Some(Duration::from_millis(50)),
                ..WatchOptions::default()
            })
            .unwrap();
        std::fs::write(real.join("policy.toml"), policy("kb-small", "small")).unwrap();
        assert!(wait_until(Duration::from_secs(2), || kb(&handle)
            == pair("kb-small", "small"))
        .is_some());
    }

    #[test]
    fn watch_needs_a_path() {
        let p =
            tollgate_lang::load_str("x.toml", &policy("kb-big", "big"), &LoadOptions::default())
                .unwrap();
        let handle = Arc::new(PolicyHandle::from_policy(p.policy, LoadOptions::default()).unwrap());
        assert!(matches!(handle.reload(), Err(ReloadError::NoPath)));
        assert!(handle.watch(WatchOptions::default()).is_err());
    }
}
