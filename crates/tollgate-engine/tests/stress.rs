//! Hot reload under load: two threads decide continuously while the rule
//! file is rewritten 200 times, half valid, half broken.
//!
//! Each valid version `k` routes the marker request (`feature = "marker"`)
//! through rule `marker-k`, which stands at index `k` of `[[route]]` (after
//! `k` filler rules) and caps output at `1000 + k`. So a decision names its
//! version twice (rule index and cap) and a torn or mixed decision would
//! show as a disagreement; the pinned policy's hash must be the hash of
//! version `k`'s file. Broken versions cap at `5000 + k`: seeing one served
//! means a broken policy went live.

// Test code: a failed unwrap or panic is a failed test.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tollgate_engine::{Context, PolicyHandle, RuleIdx};
use tollgate_lang::LoadOptions;

const VALID: usize = 100;
const BROKEN: usize = 100;

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static SEQ: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!(
            "tollgate-stress-{tag}-{}-{nanos}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Ways to break a policy.
#[derive(Clone, Copy, Debug)]
enum Break {
    None,
    Syntax,
    Type,
    FailingTest,
    NewAttribute,
    RetypedAttribute,
    UnknownModel,
    Empty,
}

const BREAKS: [Break; 7] = [
    Break::Syntax,
    Break::Type,
    Break::FailingTest,
    Break::NewAttribute,
    Break::RetypedAttribute,
    Break::UnknownModel,
    Break::Empty,
];

/// Version `k` of the policy. The test comes right after `[policy]` and
/// the marker rule last, its cap the file's last bytes, so that any strict prefix of
/// a valid file (an in-place write caught halfway) fails to load or fails
/// its test (checked by `torn_and_broken_versions_never_pass_the_gate`).
/// Rule files in general have no such property: a policy truncated before
/// its `[[test]]` cases can be valid, which is why deploy tools should
/// write through a rename.
fn version(k: usize, brk: Break) -> String {
    if let Break::Empty = brk {
        return String::new();
    }
    let valid = matches!(brk, Break::None);
    let cap = if valid { 1000 + k } else { 5000 + k };
    let expect_cap = if let Break::FailingTest = brk {
        cap + 1
    } else {
        cap
    };
    let attrs = match brk {
        Break::NewAttribute => "feature = \"string\"\ntenant = \"string\"\n",
        Break::RetypedAttribute => "feature = \"string\"\ninput_tokens = \"float\"\n",
        _ => "feature = \"string\"\ninput_tokens = \"int\"\n",
    };
    let when = if let Break::Type = brk {
        "feature > 3"
    } else {
        r#"feature == "marker""#
    };
    let model = if let Break::UnknownModel = brk {
        "huge"
    } else {
        "big"
    };
    let mut s = format!(
        r#"[policy]
name = "stress"
default_model = "small"

[[test]]
name = "marker is version {k}"
request = {{ feature = "marker" }}
expect = {{ route = "marker-{k}", model = "big", max_output_tokens = {expect_cap} }}

[attributes]
{attrs}
[models.small]
id = "test.small-v1"
input_per_mtok = 1.0
output_per_mtok = 2.0

[models.big]
id = "test.big-v1"
input_per_mtok = 3.0
output_per_mtok = 15.0
"#
    );
    for j in 0..k {
        s.push_str(&format!(
            "\n[[route]]\nname = \"filler-{j}\"\nwhen = 'feature == \"never-{j}\"'\nmodel = \"small\"\n"
        ));
    }
    if let Break::Syntax = brk {
        s.push_str("\n[[route]\nname = \"half\n");
    }
    s.push_str(&format!(
        "\n[[route]]\nname = \"marker-{k}\"\nwhen = '{when}'\nmodel = \"{model}\"\nmax_output_tokens = {cap}"
    ));
    s
}

/// What the deciding threads saw.
#[derive(Default)]
struct Seen {
    decisions: u64,
    versions: std::collections::BTreeSet<usize>,
    violations: Vec<String>,
}

/// Decide the marker request until `stop`, checking every decision.
fn decider(handle: Arc<PolicyHandle>, hashes: Arc<Vec<u128>>, stop: Arc<AtomicBool>) -> Seen {
    let mut seen = Seen::default();
    let Some(feature) = handle.schema().id("feature") else {
        seen.violations.push("no `feature` attribute".into());
        return seen;
    };
    // One context for the whole run: the schema is fixed across reloads.
    let mut ctx = Context::new(handle.schema());
    ctx.set_str(feature, "marker");
    let check = |route: Option<RuleIdx>, cap: Option<u32>, seen: &mut Seen| -> Option<usize> {
        let Some(cap) = cap else {
            seen.violations.push("decision without a cap".into());
            return None;
        };
        let k = (cap as usize).wrapping_sub(1000);
        if k > VALID {
            seen.violations
                .push(format!("served cap {cap}: not a valid version"));
            return None;
        }
        if route.map(RuleIdx::index) != Some(k) {
            seen.violations
                .push(format!("cap {cap} (version {k}) with route {route:?}"));
            return None;
        }
        seen.versions.insert(k);
        Some(k)
    };
    while !stop.load(Ordering::Relaxed) {
        for _ in 0..64 {
            // Plain decide: the Copy decision alone names the version.
            let d = handle.decide(&ctx);
            check(d.route, d.max_output_tokens, &mut seen);
            // Pinned: the policy that decided carries the version's hash.
            let (d, live) = handle.decide_with_live(&ctx);
            if let Some(k) = check(d.route, d.max_output_tokens, &mut seen) {
                if live.hash() != hashes[k] {
                    seen.violations
                        .push(format!("version {k} decided by a policy of another hash"));
                }
                let p = live.policy();
                let name = d
                    .route
                    .and_then(|r| p.routes.get(r.index()))
                    .map(|r| r.name.as_str());
                if name != Some(format!("marker-{k}").as_str())
                    || p.model(d.model).map(|m| m.alias.as_str()) != Some("big")
                {
                    seen.violations.push(format!("version {k}: rule {name:?}"));
                }
            }
            seen.decisions += 2;
        }
        if seen.violations.len() > 20 {
            break;
        }
    }
    seen
}

/// The expected hash of each valid version, as loaded from `path`.
fn hashes(path: &Path, handle: &PolicyHandle) -> Vec<u128> {
    (0..=VALID)
        .map(|k| {
            tollgate_lang::load_str(
                &path.display().to_string(),
                &version(k, Break::None),
                handle.load_options(),
            )
            .unwrap()
            .policy
            .hash()
        })
        .collect()
}

#[cfg(feature = "watch")]
fn write_atomic(path: &Path, text: &str) {
    let tmp = path.with_file_name(".policy.toml.tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

struct Run {
    _dir: TempDir,
    path: PathBuf,
    handle: Arc<PolicyHandle>,
    hashes: Arc<Vec<u128>>,
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<Seen>>,
}

fn start(tag: &str) -> Run {
    let dir = TempDir::new(tag);
    let path = dir.0.join("policy.toml");
    std::fs::write(&path, version(0, Break::None)).unwrap();
    let handle = Arc::new(PolicyHandle::load(&path, LoadOptions::default()).unwrap());
    let hashes = Arc::new(hashes(&path, &handle));
    assert_eq!(handle.current().hash(), hashes[0]);
    let stop = Arc::new(AtomicBool::new(false));
    let threads = (0..2)
        .map(|_| {
            let (h, x, s) = (handle.clone(), hashes.clone(), stop.clone());
            std::thread::spawn(move || decider(h, x, s))
        })
        .collect();
    Run {
        _dir: dir,
        path,
        handle,
        hashes,
        stop,
        threads,
    }
}

fn finish(run: Run) -> Seen {
    run.stop.store(true, Ordering::Relaxed);
    let mut all = Seen::default();
    for t in run.threads {
        let seen = t.join().expect("a deciding thread panicked");
        all.decisions += seen.decisions;
        all.versions.extend(seen.versions);
        all.violations.extend(seen.violations);
    }
    assert!(
        all.violations.is_empty(),
        "violations: {:#?}",
        all.violations
    );
    all
}

/// The generator's promise: every strict prefix of a valid version (a
/// write caught halfway) is refused, and every broken kind is refused.
#[test]
fn torn_and_broken_versions_never_pass_the_gate() {
    let dir = TempDir::new("prefix");
    let path = dir.0.join("policy.toml");
    std::fs::write(&path, version(0, Break::None)).unwrap();
    let handle = PolicyHandle::load(&path, LoadOptions::default()).unwrap();
    let full = version(3, Break::None);
    let name = path.display().to_string();
    for end in 0..full.len() {
        let prefix = &full[..end];
        if let Ok(loaded) = tollgate_lang::load_str(&name, prefix, handle.load_options()) {
            assert!(
                handle.swap_policy(loaded.policy).is_err(),
                "prefix of {end} bytes passed:\n{prefix}"
            );
        }
    }
    for brk in BREAKS {
        std::fs::write(&path, version(3, brk)).unwrap();
        assert!(handle.reload().is_err(), "{brk:?} passed");
    }
    std::fs::write(&path, full).unwrap();
    assert!(handle.reload().unwrap().changed);
}

#[test]
fn stress_200_rewrites_with_reload() {
    let run = start("reload");
    let errors = Arc::new(Mutex::new(Vec::new()));
    let e2 = errors.clone();
    run.handle
        .on_reload_error(move |e| e2.lock().unwrap().push(e.to_string()));
    let started = Instant::now();
    let mut reload_times = Vec::new();
    for i in 0..VALID + BROKEN {
        let k = i / 2 + 1;
        let brk = if i % 2 == 0 {
            Break::None
        } else {
            BREAKS[(i / 2) % BREAKS.len()]
        };
        // Written in place (truncate + write), then reloaded.
        std::fs::write(&run.path, version(k, brk)).unwrap();
        let t = Instant::now();
        let result = run.handle.reload();
        reload_times.push(t.elapsed());
        match brk {
            Break::None => {
                let ok = result.unwrap_or_else(|e| panic!("version {k} refused:\n{}", e.render()));
                assert!(ok.changed);
                assert_eq!(ok.live.hash(), run.hashes[k]);
            }
            _ => {
                let e = result.expect_err("a broken version was accepted");
                assert!(!e.render().is_empty(), "{brk:?}");
                assert_eq!(run.handle.current().hash(), run.hashes[k], "{brk:?}");
            }
        }
        // Let the deciders see a few versions each.
        if i % 10 == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    let elapsed = started.elapsed();
    let handle = run.handle.clone();
    let hashes = run.hashes.clone();
    let seen = finish(run);

    // The last file written is broken; the last valid one serves.
    let last_valid = VALID;
    assert_eq!(handle.current().hash(), hashes[last_valid]);
    let s = handle.stats();
    assert_eq!(s.reloads_ok, VALID as u64);
    assert_eq!(s.reloads_failed, BROKEN as u64);
    assert_eq!(s.version, VALID as u64 + 1);
    assert!(s.last_reload_failed);
    assert_eq!(errors.lock().unwrap().len(), BROKEN);
    assert!(s.decisions >= seen.decisions);
    assert!(
        seen.decisions > 1000,
        "deciders barely ran: {}",
        seen.decisions
    );
    reload_times.sort();
    eprintln!(
        "stress (reload): {} rewrites in {:.0} ms, {} decisions by 2 threads, {} versions observed; reload median {:.2} ms, max {:.2} ms",
        VALID + BROKEN,
        elapsed.as_secs_f64() * 1e3,
        seen.decisions,
        seen.versions.len(),
        reload_times[reload_times.len() / 2].as_secs_f64() * 1e3,
        reload_times[reload_times.len() - 1].as_secs_f64() * 1e3,
    );
}

#[cfg(feature = "watch")]
#[test]
fn stress_200_rewrites_through_watcher() {
    use tollgate_engine::WatchOptions;
    let run = start("watch");
    let watcher = run
        .handle
        .watch(WatchOptions {
            poll_interval: Some(Duration::from_millis(100)),
            ..WatchOptions::default()
        })
        .unwrap();
    let started = Instant::now();
    // Broken first, valid last: the final file is valid version VALID.
    for i in 0..VALID + BROKEN {
        let k = i / 2 + 1;
        let brk = if i % 2 == 0 {
            BREAKS[(i / 2) % BREAKS.len()]
        } else {
            Break::None
        };
        let text = version(k, brk);
        // Mostly rename-over, some in place (truncate + write).
        if i % 3 == 0 {
            std::fs::write(&run.path, text).unwrap();
        } else {
            write_atomic(&run.path, &text);
        }
        std::thread::sleep(Duration::from_millis((i % 7) as u64 * 3));
    }
    let final_hash = run.hashes[VALID];
    let deadline = Instant::now() + Duration::from_secs(5);
    while run.handle.current().hash() != final_hash && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(2));
    }
    let settled = started.elapsed();
    drop(watcher);
    let handle = run.handle.clone();
    let seen = finish(run);
    assert_eq!(
        handle.current().hash(),
        final_hash,
        "the last valid file is not live"
    );
    let s = handle.stats();
    assert!(s.reloads_ok >= 1);
    eprintln!(
        "stress (watcher): 200 rewrites settled in {:.0} ms; reloads ok {}, refused {}, unchanged {}; {} decisions, {} versions observed",
        settled.as_secs_f64() * 1e3,
        s.reloads_ok,
        s.reloads_failed,
        s.reloads_unchanged,
        seen.decisions,
        seen.versions.len(),
    );
}
