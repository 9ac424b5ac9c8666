//! Hot reload and shadow evaluation: [`PolicyHandle`].
//!
//! A `PolicyHandle` owns the policy a service decides with and lets it be
//! replaced while requests are being decided, without a restart and without
//! a single failed decision:
//!
//! ```no_run
//! use std::sync::Arc;
//! use tollgate_engine::{Context, PolicyHandle};
//! use tollgate_lang::LoadOptions;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let handle = Arc::new(PolicyHandle::load("rules/example.toml", LoadOptions::default())?);
//! handle.on_reload_error(|e| eprintln!("policy reload refused, old policy still serving:\n{}", e.render()));
//! let feature = handle.schema().id("feature");
//!
//! let mut ctx = Context::new(handle.schema());
//! if let Some(id) = feature {
//!     ctx.set_str(id, "kb");
//! }
//! let decision = handle.decide(&ctx); // lock-free, allocation-free
//! # let _ = decision;
//! handle.reload()?; // e.g. from a file watcher or an admin endpoint
//! # Ok(())
//! # }
//! ```
//!
//! # Why arc-swap and not a `RwLock`
//!
//! `decide` runs on every LLM request, from every worker thread. A
//! `RwLock<Arc<_>>` makes each decision write the lock's shared reader
//! count (one contended cache line bounced between cores), and a writer
//! waiting to swap would stall every reader behind it. `arc_swap::ArcSwap`
//! gives readers a wait-free `load()`: a `arc_swap::Guard` backed
//! by a per-thread debt slot, no reference count touched on the fast path,
//! no allocation, and a swap never blocks a reader. A reader that loaded
//! the old policy keeps it alive until it is done; the new one serves every
//! decision that starts after the swap. So a decision is always made by
//! exactly one complete policy, never half of each.
//!
//! # The reload gate
//!
//! [`PolicyHandle::reload`] parses and checks the files against the
//! handle's fixed [`Schema`], compiles the policy, runs its `[[test]]`
//! cases (and checks the compiled engine against the reference
//! interpreter on each case's request), and swaps only when all of that
//! passed. Anything else — a syntax error, a type error, a failing test,
//! an attribute the schema lacks or types differently, a half-written file,
//! even a panic inside the loader — leaves the old policy serving and is
//! reported through [`PolicyHandle::on_reload_error`] and the
//! `reloads_failed` counter.
//!
//! The schema is fixed for the handle's lifetime (docs/design.md: "the Schema stays
//! fixed across reloads, so a reload can never shift a slot under a running
//! request"): contexts built on [`PolicyHandle::schema`] stay valid across
//! every reload.
//!
//! # Shadow policy
//!
//! [`PolicyHandle::set_shadow`] installs a candidate policy that is decided
//! beside the live one on every [`PolicyHandle::decide`]; where the two
//! differ (rule names per section, the model id, the output cap) the
//! `shadow_diffs` counter moves and [`PolicyHandle::on_shadow_diff`]
//! callbacks run. The served decision is always the live one. The live and
//! shadow policies sit in one snapshot, so a decision loads one pointer.
//!
//! The gate is in `reload.rs`, shadow diffing in `shadow.rs`.
//!
//! # Counters
//!
//! [`PolicyHandle::stats`] returns [`HandleStats`], a plain copy of
//! relaxed atomic counters for any metrics system. The per-decision
//! counter is one shared atomic on its own cache line: cheap uncontended,
//! a few nanoseconds more when many cores decide at once.

mod reload;
mod shadow;

pub use reload::{ReloadError, ReloadOk};
pub use shadow::{diff_decisions, DiffField, DiffFields, ShadowDiff};

use crate::compile::{CompileLimits, CompiledPolicy};
use crate::context::Context;
use crate::decision::{to_json, Decision};
use arc_swap::{ArcSwap, Guard};
use reload::{gate, guarded, Candidate};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;
use tollgate_lang::{load_path, Diagnostic, LoadOptions, Loaded, Policy, Schema};

/// One installed policy: the checked policy, its compiled engine, and where
/// it came from. Immutable; a reload installs a new one.
#[derive(Debug)]
pub struct Live {
    engine: CompiledPolicy,
    version: u64,
    hash: u128,
    loaded_at: SystemTime,
    source: Option<PathBuf>,
    warnings: Vec<Diagnostic>,
}

impl Live {
    /// Decide one request with this policy (no counters, no shadow).
    #[inline]
    pub fn decide(&self, ctx: &Context<'_>) -> Decision {
        self.engine.decide(ctx)
    }

    /// The compiled engine.
    #[inline]
    pub fn compiled(&self) -> &CompiledPolicy {
        &self.engine
    }

    /// The checked policy (to name rules and models of a [`Decision`]).
    #[inline]
    pub fn policy(&self) -> &Policy {
        self.engine.policy()
    }

    /// Install number: 1 for the policy the handle was created with, then
    /// one more per swap. A shadow policy counts its own installs.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// xxh3-128 of the policy's source files.
    pub fn hash(&self) -> u128 {
        self.hash
    }

    /// The hash as 32 lowercase hex digits (as in decision JSON).
    pub fn hash_hex(&self) -> String {
        format!("{:032x}", self.hash)
    }

    /// When it was installed.
    pub fn loaded_at(&self) -> SystemTime {
        self.loaded_at
    }

    /// The file or directory it was loaded from (`None` for a policy
    /// handed over in memory).
    pub fn source(&self) -> Option<&Path> {
        self.source.as_deref()
    }

    /// Lints the policy loaded with.
    pub fn warnings(&self) -> &[Diagnostic] {
        &self.warnings
    }

    /// The warnings rendered for a terminal.
    pub fn render_warnings(&self) -> String {
        let sources = &self.policy().sources();
        self.warnings.iter().map(|d| d.render(sources)).collect()
    }

    /// A decision of this policy as the documented decision JSON.
    pub fn to_json(&self, d: &Decision, ctx: &Context<'_>) -> serde_json::Value {
        to_json(self.policy(), d, ctx)
    }
}

/// What the handle serves: the live policy and the optional shadow, swapped
/// together so one `load()` answers both.
#[derive(Debug)]
struct State {
    live: Arc<Live>,
    shadow: Option<Arc<Live>>,
}

/// A pinned view of the live policy, as loaded by one decision: it derefs
/// to [`Live`] and keeps that policy alive while held. Hold it for the
/// span of one request (it occupies one of arc-swap's per-thread slots;
/// past a few held at once arc-swap falls back to reference counting).
pub struct LiveRef {
    guard: Guard<Arc<State>>,
}

impl std::ops::Deref for LiveRef {
    type Target = Live;

    #[inline]
    fn deref(&self) -> &Live {
        &self.guard.live
    }
}

impl std::fmt::Debug for LiveRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveRef")
            .field("version", &self.version)
            .field("hash", &self.hash_hex())
            .finish()
    }
}

/// The handle's counters, copied out. Monotonic except `version`,
/// `shadow_active` and `last_reload_failed`, which are gauges.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct HandleStats {
    /// Decisions made through the handle.
    pub decisions: u64,
    /// Reloads that installed a new policy.
    pub reloads_ok: u64,
    /// Reloads that passed the gate but found the policy already live.
    pub reloads_unchanged: u64,
    /// Reloads refused (the old policy kept serving).
    pub reloads_failed: u64,
    /// Decisions also decided by a shadow policy.
    pub shadow_decisions: u64,
    /// Shadow decisions that differed from the served one.
    pub shadow_diffs: u64,
    /// Version of the live policy.
    pub version: u64,
    /// A shadow policy is set.
    pub shadow_active: bool,
    /// The most recent reload was refused (the files on disk are not what
    /// is serving).
    pub last_reload_failed: bool,
}

/// Keeps a hot counter on its own cache line so that deciding threads do
/// not invalidate the line holding the policy pointer or cold counters.
type Padded<T> = crossbeam_utils::CachePadded<T>;

#[derive(Debug, Default)]
struct Counters {
    decisions: Padded<AtomicU64>,
    shadow: Padded<(AtomicU64, AtomicU64)>,
    reloads_ok: AtomicU64,
    reloads_unchanged: AtomicU64,
    reloads_failed: AtomicU64,
    last_failed: AtomicBool,
}

type Callback<T> = Arc<dyn Fn(&T) + Send + Sync>;
type ReloadCallback = Callback<ReloadOk>;
type ErrorCallback = Callback<ReloadError>;
type DiffCallback = Arc<dyn Fn(&ShadowDiff<'_, '_>) + Send + Sync>;

/// The live policy behind a lock-free pointer, hot-reloadable, with an
/// optional shadow policy and counters. `Send + Sync`: share it as
/// `Arc<PolicyHandle>`.
pub struct PolicyHandle {
    state: ArcSwap<State>,
    counters: Counters,
    path: Option<PathBuf>,
    schema: Schema,
    opts: LoadOptions,
    limits: CompileLimits,
    /// Serialises installs (reloads, swaps, shadow changes), so versions
    /// are monotonic and a shadow change never loses a concurrent reload.
    install_lock: Mutex<u64>,
    on_reload: ArcSwap<Vec<ReloadCallback>>,
    on_error: ArcSwap<Vec<ErrorCallback>>,
    on_diff: ArcSwap<Vec<DiffCallback>>,
}

impl std::fmt::Debug for PolicyHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.state.load();
        f.debug_struct("PolicyHandle")
            .field("path", &self.path)
            .field("version", &s.live.version)
            .field("hash", &s.live.hash_hex())
            .field("shadow", &s.shadow.as_ref().map(|l| l.hash_hex()))
            .field("stats", &self.stats())
            .finish()
    }
}

fn fire<T>(list: &[Callback<T>], arg: &T) {
    for f in list {
        // A panicking callback must not take the watcher thread (or the
        // reloading caller) down with it.
        let _ = catch_unwind(AssertUnwindSafe(|| f(arg)));
    }
}

impl PolicyHandle {
    /// Load a policy file or directory, pass it through the reload gate
    /// (check, compile, `[[test]]` cases) and serve it as version 1.
    ///
    /// The schema is `opts.schema` when given (the application's fixed
    /// schema; the policy's `[attributes]` must agree with it), otherwise
    /// the schema of this first policy. Either way it stays fixed: every
    /// later reload is checked against it.
    pub fn load(path: impl AsRef<Path>, opts: LoadOptions) -> Result<PolicyHandle, ReloadError> {
        PolicyHandle::load_with(path, opts, CompileLimits::default())
    }

    /// [`PolicyHandle::load`] with compile limits other than the default
    /// (kept for every reload).
    pub fn load_with(
        path: impl AsRef<Path>,
        opts: LoadOptions,
        limits: CompileLimits,
    ) -> Result<PolicyHandle, ReloadError> {
        let path = path.as_ref().to_path_buf();
        let (loaded, schema) = guarded(|| {
            let loaded = load_path(&path, &opts).map_err(ReloadError::Load)?;
            let schema = opts
                .schema
                .clone()
                .unwrap_or_else(|| loaded.policy.schema().clone());
            Ok((loaded, schema))
        })?;
        let cand = guarded(|| gate(loaded, &schema, limits))?;
        Ok(PolicyHandle::with_candidate(
            cand,
            Some(path),
            schema,
            opts,
            limits,
        ))
    }

    /// Serve a policy already loaded in memory (e.g. fetched from S3). Its
    /// schema becomes the handle's; [`PolicyHandle::reload`] has no path
    /// and fails, install new versions with [`PolicyHandle::swap_policy`].
    pub fn from_policy(policy: Policy, opts: LoadOptions) -> Result<PolicyHandle, ReloadError> {
        let schema = opts
            .schema
            .clone()
            .unwrap_or_else(|| policy.schema().clone());
        let loaded = Loaded {
            policy,
            warnings: Vec::new(),
        };
        let cand = guarded(|| gate(loaded, &schema, CompileLimits::default()))?;
        Ok(PolicyHandle::with_candidate(
            cand,
            None,
            schema,
            opts,
            CompileLimits::default(),
        ))
    }

    fn with_candidate(
        cand: Candidate,
        path: Option<PathBuf>,
        schema: Schema,
        mut opts: LoadOptions,
        limits: CompileLimits,
    ) -> PolicyHandle {
        opts.schema = Some(schema.clone());
        let live = Arc::new(Live {
            hash: cand.engine.policy().hash(),
            engine: cand.engine,
            version: 1,
            loaded_at: SystemTime::now(),
            source: path.clone(),
            warnings: cand.warnings,
        });
        PolicyHandle {
            state: ArcSwap::from_pointee(State { live, shadow: None }),
            counters: Counters::default(),
            path,
            schema,
            opts,
            limits,
            install_lock: Mutex::new(0),
            on_reload: ArcSwap::from_pointee(Vec::new()),
            on_error: ArcSwap::from_pointee(Vec::new()),
            on_diff: ArcSwap::from_pointee(Vec::new()),
        }
    }

    /// The fixed schema: build every [`Context`] passed to
    /// [`PolicyHandle::decide`] on it. Its slots never move.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// The load options reloads use (`schema` is always `Some`): use them
    /// to load a policy in memory for [`PolicyHandle::swap_policy`] or
    /// [`PolicyHandle::set_shadow_policy`].
    pub fn load_options(&self) -> &LoadOptions {
        &self.opts
    }

    /// The file or directory reloads read.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Decide one request with the live policy (and the shadow policy,
    /// when one is set). Lock-free, and allocates nothing beyond what the
    /// compiled engine does (nothing, for conditions without `+` on
    /// strings or lists). The decision's indices refer to the policy
    /// live at the call: use [`PolicyHandle::decide_with_live`] to name
    /// them safely across reloads.
    #[inline]
    pub fn decide(&self, ctx: &Context<'_>) -> Decision {
        let state = self.state.load();
        self.decide_in(&state, ctx)
    }

    /// Decide, and keep the policy that decided pinned (to name the rules
    /// and models of the decision, or render its JSON).
    #[inline]
    pub fn decide_with_live(&self, ctx: &Context<'_>) -> (Decision, LiveRef) {
        let guard = self.state.load();
        let d = self.decide_in(&guard, ctx);
        (d, LiveRef { guard })
    }

    #[inline]
    fn decide_in(&self, state: &State, ctx: &Context<'_>) -> Decision {
        let d = state.live.decide(ctx);
        self.counters.decisions.fetch_add(1, Relaxed);
        if let Some(shadow) = &state.shadow {
            self.shadow_decide(&state.live, shadow, ctx, &d);
        }
        d
    }

    /// The live policy, pinned without touching its reference count
    /// (cheap; hold it for one request, not forever).
    #[inline]
    pub fn pin(&self) -> LiveRef {
        LiveRef {
            guard: self.state.load(),
        }
    }

    /// The live policy, as an owned `Arc` (keep it as long as you like).
    pub fn current(&self) -> Arc<Live> {
        self.state.load().live.clone()
    }

    /// The counters, copied out.
    pub fn stats(&self) -> HandleStats {
        let s = self.state.load();
        let c = &self.counters;
        HandleStats {
            decisions: c.decisions.load(Relaxed),
            reloads_ok: c.reloads_ok.load(Relaxed),
            reloads_unchanged: c.reloads_unchanged.load(Relaxed),
            reloads_failed: c.reloads_failed.load(Relaxed),
            shadow_decisions: c.shadow.0.load(Relaxed),
            shadow_diffs: c.shadow.1.load(Relaxed),
            version: s.live.version,
            shadow_active: s.shadow.is_some(),
            last_reload_failed: c.last_failed.load(Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn handle_is_send_and_sync() {
        assert_send_sync::<PolicyHandle>();
        assert_send_sync::<Live>();
    }
}
