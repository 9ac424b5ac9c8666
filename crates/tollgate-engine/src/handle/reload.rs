//! The reload gate: a policy is installed only when it loads against the
//! handle's schema, compiles, passes its `[[test]]` cases and the compiled
//! engine agrees with the reference interpreter on every test request.
//! Anything else (a panic in the loader included) leaves the old policy
//! serving and is reported as a [`ReloadError`].

use super::{fire, ErrorCallback, Live, PolicyHandle, ReloadCallback, State};
use crate::compile::{compile_with, CompileError, CompileLimits, CompiledPolicy};
use crate::decision::decide_reference;
use crate::testing::{run_tests, TestResult};
use crate::Request;
use std::fmt::Write as _;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};
use tollgate_lang::{load_path, Diagnostic, LoadError, Loaded, Policy, Schema};

/// Why a policy was not installed. The previous policy keeps serving.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ReloadError {
    /// The files could not be read, parsed or checked, or disagree with
    /// the handle's schema (diagnostics `schema-mismatch`).
    #[error("{0}")]
    Load(LoadError),
    /// The checked policy could not be compiled (too large for the
    /// handle's [`CompileLimits`]).
    #[error("{0}")]
    Compile(CompileError),
    /// Some `[[test]]` cases failed.
    #[error("{} of {total} test case{} failed (first: `{}`)", failed.len(), if *total == 1 { "" } else { "s" }, failed.first().map(|t| t.name.as_str()).unwrap_or(""))]
    TestsFailed {
        /// The failing cases, with what each expected and got.
        failed: Vec<TestResult>,
        /// Cases run.
        total: usize,
    },
    /// The compiled engine and the reference interpreter disagree on a
    /// test case's request: an engine bug, refused rather than served.
    #[error(
        "compiled engine disagrees with the reference interpreter on test `{test}` ({location})"
    )]
    EngineMismatch {
        /// The test case.
        test: String,
        /// Where it is defined.
        location: String,
    },
    /// A policy handed over in memory was checked against another schema.
    #[error("policy `{policy}` was checked against another schema than the handle's; load it with `LoadOptions {{ schema: Some(handle.schema().clone()), .. }}`")]
    SchemaMismatch {
        /// `[policy] name`.
        policy: String,
    },
    /// The handle has no file to reload from.
    #[error("this handle holds a policy given in memory and has no path to reload from")]
    NoPath,
    /// The loader or compiler panicked (a bug); caught, nothing changed.
    #[error("internal error while loading the policy: {0}")]
    Internal(String),
}

impl ReloadError {
    /// The loader's diagnostics (empty unless [`ReloadError::Load`]).
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            ReloadError::Load(e) => &e.diagnostics,
            _ => &[],
        }
    }

    /// The failing test cases (empty unless [`ReloadError::TestsFailed`]).
    pub fn failed_tests(&self) -> &[TestResult] {
        match self {
            ReloadError::TestsFailed { failed, .. } => failed,
            _ => &[],
        }
    }

    /// Everything, rendered for a terminal or a log: located diagnostics
    /// with snippets, or each failing test with its mismatches.
    pub fn render(&self) -> String {
        match self {
            ReloadError::Load(e) => e.render(),
            ReloadError::TestsFailed { failed, total } => {
                let mut out = String::new();
                for r in failed {
                    let _ = writeln!(out, "FAIL {}  ({})", r.name, r.location);
                    if let Some(e) = &r.request_error {
                        let _ = writeln!(out, "     request: {e}");
                    }
                    for m in &r.mismatches {
                        let _ = writeln!(
                            out,
                            "     {}: expected `{}`, got `{}`",
                            m.what, m.expected, m.actual
                        );
                    }
                }
                let _ = writeln!(
                    out,
                    "{} passed, {} failed",
                    total.saturating_sub(failed.len()),
                    failed.len()
                );
                out
            }
            ReloadError::Compile(e) => format!("error: {e}\n  = help: {}\n", e.help()),
            other => format!("{other}\n"),
        }
    }
}

/// A policy that passed the gate and is live (or was already live).
#[derive(Debug, Clone)]
pub struct ReloadOk {
    /// `false` when the files are byte-for-byte what is already live
    /// (nothing swapped, the version did not move).
    pub changed: bool,
    /// The policy now live.
    pub live: Arc<Live>,
    /// Version live before.
    pub previous_version: u64,
    /// Hash live before.
    pub previous_hash: u128,
    /// `[[test]]` cases run.
    pub tests_run: usize,
    /// Load, check, compile and tests.
    pub took: Duration,
}

/// A policy that passed the gate, not yet installed.
pub(super) struct Candidate {
    pub(super) engine: CompiledPolicy,
    pub(super) warnings: Vec<Diagnostic>,
    pub(super) tests_run: usize,
}

/// Run `f`, turning a panic into [`ReloadError::Internal`].
pub(super) fn guarded<T>(f: impl FnOnce() -> Result<T, ReloadError>) -> Result<T, ReloadError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => {
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "panic".to_string());
            Err(ReloadError::Internal(msg))
        }
    }
}

/// Compile a checked policy and run its tests: the gate every install
/// passes.
pub(super) fn gate(
    loaded: Loaded,
    schema: &Schema,
    limits: CompileLimits,
) -> Result<Candidate, ReloadError> {
    let Loaded { policy, warnings } = loaded;
    if *policy.schema() != *schema {
        return Err(ReloadError::SchemaMismatch {
            policy: policy.name().to_owned(),
        });
    }
    let engine = compile_with(policy, limits).map_err(ReloadError::Compile)?;
    let policy = engine.policy();
    let results = run_tests(policy, &|ctx| engine.decide(ctx));
    let total = results.len();
    let failed: Vec<TestResult> = results.into_iter().filter(|r| !r.passed()).collect();
    if !failed.is_empty() {
        return Err(ReloadError::TestsFailed { failed, total });
    }
    // The compiled engine must agree with the reference interpreter on
    // every test request, sections the test does not check included.
    for case in policy.tests() {
        let Ok(req) = Request::from_map(policy.schema(), &case.request) else {
            continue;
        };
        let ctx = req.context(policy.schema());
        if engine.decide(&ctx) != decide_reference(policy, &ctx) {
            return Err(ReloadError::EngineMismatch {
                test: case.name.clone(),
                location: policy.sources().location(case.span),
            });
        }
    }
    Ok(Candidate {
        engine,
        warnings,
        tests_run: total,
    })
}

impl PolicyHandle {
    /// Re-read the handle's path and install it if it passes the gate
    /// (see the module docs). Refused: the old policy keeps serving,
    /// `reloads_failed` moves, the error callbacks run and the error is
    /// returned. Safe to call from any thread, at any time.
    pub fn reload(&self) -> Result<ReloadOk, ReloadError> {
        let started = Instant::now();
        let result = match &self.path {
            None => Err(ReloadError::NoPath),
            Some(path) => {
                let lock = self.lock_installs();
                let r = guarded(|| {
                    let loaded = load_path(path, &self.opts).map_err(ReloadError::Load)?;
                    gate(loaded, &self.schema, self.limits)
                })
                .map(|c| self.install(&lock, c, Some(path.clone()), started));
                drop(lock);
                r
            }
        };
        self.report(&result);
        result
    }

    /// Install a policy loaded in memory, through the same gate as
    /// [`PolicyHandle::reload`] (it must have been checked against
    /// [`PolicyHandle::schema`], e.g. loaded with
    /// [`PolicyHandle::load_options`]). Counted and reported like a reload.
    pub fn swap_policy(&self, policy: Policy) -> Result<ReloadOk, ReloadError> {
        let started = Instant::now();
        let lock = self.lock_installs();
        let loaded = Loaded {
            policy,
            warnings: Vec::new(),
        };
        let result = guarded(|| gate(loaded, &self.schema, self.limits))
            .map(|c| self.install(&lock, c, None, started));
        drop(lock);
        self.report(&result);
        result
    }

    pub(super) fn lock_installs(&self) -> MutexGuard<'_, u64> {
        // The guarded data is only the shadow install counter; a poisoned
        // lock (a panic elsewhere while held) leaves it valid.
        self.install_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn install(
        &self,
        _lock: &MutexGuard<'_, u64>,
        cand: Candidate,
        source: Option<PathBuf>,
        started: Instant,
    ) -> ReloadOk {
        // INVARIANT: the install lock is held, so `cur` stays the live state
        // until the store below; no concurrent install can be lost.
        let cur = self.state.load_full();
        let hash = cand.engine.policy().hash();
        let previous_version = cur.live.version;
        let previous_hash = cur.live.hash;
        if hash == previous_hash {
            return ReloadOk {
                changed: false,
                live: cur.live.clone(),
                previous_version,
                previous_hash,
                tests_run: cand.tests_run,
                took: started.elapsed(),
            };
        }
        let live = Arc::new(Live {
            engine: cand.engine,
            version: previous_version + 1,
            hash,
            loaded_at: SystemTime::now(),
            source,
            warnings: cand.warnings,
        });
        self.state.store(Arc::new(State {
            live: live.clone(),
            shadow: cur.shadow.clone(),
        }));
        ReloadOk {
            changed: true,
            live,
            previous_version,
            previous_hash,
            tests_run: cand.tests_run,
            took: started.elapsed(),
        }
    }

    fn report(&self, result: &Result<ReloadOk, ReloadError>) {
        let c = &self.counters;
        match result {
            Ok(ok) => {
                c.last_failed.store(false, Relaxed);
                if ok.changed {
                    c.reloads_ok.fetch_add(1, Relaxed);
                    fire(&self.on_reload.load(), ok);
                } else {
                    c.reloads_unchanged.fetch_add(1, Relaxed);
                }
            }
            Err(e) => {
                c.reloads_failed.fetch_add(1, Relaxed);
                c.last_failed.store(true, Relaxed);
                fire(&self.on_error.load(), e);
            }
        }
    }

    /// Run `f` after every reload or swap that installed a new policy (on
    /// the reloading thread: the watcher's, or the caller of `reload`).
    /// Callbacks add up; a panicking one is caught.
    pub fn on_reload(&self, f: impl Fn(&ReloadOk) + Send + Sync + 'static) {
        let f: ReloadCallback = Arc::new(f);
        self.on_reload.rcu(|v| {
            let mut v = Vec::clone(v);
            v.push(f.clone());
            v
        });
    }

    /// Run `f` after every refused reload or swap (render the error with
    /// [`ReloadError::render`]).
    pub fn on_reload_error(&self, f: impl Fn(&ReloadError) + Send + Sync + 'static) {
        let f: ErrorCallback = Arc::new(f);
        self.on_error.rcu(|v| {
            let mut v = Vec::clone(v);
            v.push(f.clone());
            v
        });
    }
}
