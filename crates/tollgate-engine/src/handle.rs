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
//! gives readers a wait-free `load()`: a [`Guard`](arc_swap::Guard) backed
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
//! # Counters
//!
//! [`PolicyHandle::stats`] returns [`HandleStats`], a plain copy of
//! relaxed atomic counters for any metrics system. The per-decision
//! counter is one shared atomic on its own cache line: cheap uncontended,
//! a few nanoseconds more when many cores decide at once.

use crate::compile::{compile_with, CompileError, CompileLimits, CompiledPolicy};
use crate::context::{Context, Request};
use crate::decision::{decide_reference, rule_name, to_json, Decision};
use crate::testing::{run_tests, TestResult};
use arc_swap::{ArcSwap, Guard};
use std::fmt::Write as _;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};
use tollgate_lang::policy::Section;
use tollgate_lang::{load_path, Diagnostic, LoadError, LoadOptions, Loaded, Policy, Schema};

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
        let sources = &self.policy().sources;
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

/// A decision field a shadow policy can disagree on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DiffField {
    /// The `[[route]]` rule.
    Route,
    /// The Bedrock model id served.
    Model,
    /// The effective output cap.
    MaxOutputTokens,
    /// The `[[cache]]` rule.
    Cache,
    /// The `[[prompt_cache]]` rule.
    PromptCache,
    /// The `[[batch]]` rule.
    Batch,
    /// The `[[limit]]` rule.
    Limit,
    /// The `[[budget]]` rule.
    Budget,
}

impl DiffField {
    /// Every field, in decision-JSON order.
    pub const ALL: [DiffField; 8] = [
        DiffField::Route,
        DiffField::Model,
        DiffField::MaxOutputTokens,
        DiffField::Cache,
        DiffField::PromptCache,
        DiffField::Batch,
        DiffField::Limit,
        DiffField::Budget,
    ];

    /// The field's name.
    pub fn name(self) -> &'static str {
        match self {
            DiffField::Route => "route",
            DiffField::Model => "model",
            DiffField::MaxOutputTokens => "max_output_tokens",
            DiffField::Cache => "cache",
            DiffField::PromptCache => "prompt_cache",
            DiffField::Batch => "batch",
            DiffField::Limit => "limit",
            DiffField::Budget => "budget",
        }
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

/// A set of [`DiffField`]s (no allocation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct DiffFields(u16);

impl DiffFields {
    /// Does the set hold `f`?
    pub fn contains(self, f: DiffField) -> bool {
        self.0 & f.bit() != 0
    }

    /// No field differs.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The fields, in decision-JSON order.
    pub fn iter(self) -> impl Iterator<Item = DiffField> {
        DiffField::ALL
            .into_iter()
            .filter(move |f| self.contains(*f))
    }

    fn insert(&mut self, f: DiffField) {
        self.0 |= f.bit();
    }
}

impl std::fmt::Display for DiffFields {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, x) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(x.name())?;
        }
        Ok(())
    }
}

/// One request on which the shadow policy decided differently from the
/// live one. Passed by reference to [`PolicyHandle::on_shadow_diff`]
/// callbacks, on the deciding thread.
#[derive(Debug)]
pub struct ShadowDiff<'a, 'c> {
    /// The live policy (whose decision was served).
    pub live: &'a Live,
    /// The shadow policy.
    pub shadow: &'a Live,
    /// What was served.
    pub live_decision: Decision,
    /// What the shadow would have served.
    pub shadow_decision: Decision,
    /// Which fields differ.
    pub fields: DiffFields,
    /// The request.
    pub ctx: &'a Context<'c>,
}

impl ShadowDiff<'_, '_> {
    /// Both decisions as decision JSON, `{"live": .., "shadow": .., "differs": [..]}`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "live": self.live.to_json(&self.live_decision, self.ctx),
            "shadow": self.shadow.to_json(&self.shadow_decision, self.ctx),
            "differs": self.fields.iter().map(DiffField::name).collect::<Vec<_>>(),
        })
    }
}

/// Which fields of two decisions, each read against its own policy, differ.
/// Rules are compared by name and models by Bedrock id: indices mean
/// nothing across policies.
pub fn diff_decisions(a: &Policy, da: &Decision, b: &Policy, db: &Decision) -> DiffFields {
    let mut out = DiffFields::default();
    for (field, sec) in [
        (DiffField::Route, Section::Route),
        (DiffField::Cache, Section::Cache),
        (DiffField::PromptCache, Section::PromptCache),
        (DiffField::Batch, Section::Batch),
        (DiffField::Limit, Section::Limit),
        (DiffField::Budget, Section::Budget),
    ] {
        let x = da.rule(sec).map(|r| rule_name(a, sec, Some(r)));
        let y = db.rule(sec).map(|r| rule_name(b, sec, Some(r)));
        if x != y {
            out.insert(field);
        }
    }
    if a.model(da.model).map(|m| m.id.as_str()) != b.model(db.model).map(|m| m.id.as_str()) {
        out.insert(DiffField::Model);
    }
    if da.max_output_tokens != db.max_output_tokens {
        out.insert(DiffField::MaxOutputTokens);
    }
    out
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
#[derive(Debug, Default)]
#[repr(align(128))]
struct Padded<T>(T);

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

/// A policy that passed the gate, not yet installed.
struct Candidate {
    engine: CompiledPolicy,
    warnings: Vec<Diagnostic>,
    tests_run: usize,
}

/// Run `f`, turning a panic into [`ReloadError::Internal`].
fn guarded<T>(f: impl FnOnce() -> Result<T, ReloadError>) -> Result<T, ReloadError> {
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
fn gate(loaded: Loaded, schema: &Schema, limits: CompileLimits) -> Result<Candidate, ReloadError> {
    let Loaded { policy, warnings } = loaded;
    if policy.schema != *schema {
        return Err(ReloadError::SchemaMismatch {
            policy: policy.name.clone(),
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
    for case in &policy.tests {
        let Ok(req) = Request::from_map(&policy.schema, &case.request) else {
            continue;
        };
        let ctx = req.context(&policy.schema);
        if engine.decide(&ctx) != decide_reference(policy, &ctx) {
            return Err(ReloadError::EngineMismatch {
                test: case.name.clone(),
                location: policy.sources.location(case.span),
            });
        }
    }
    Ok(Candidate {
        engine,
        warnings,
        tests_run: total,
    })
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
                .unwrap_or_else(|| loaded.policy.schema.clone());
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
        let schema = opts.schema.clone().unwrap_or_else(|| policy.schema.clone());
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
            hash: cand.engine.policy().hash,
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
        self.counters.decisions.0.fetch_add(1, Relaxed);
        if let Some(shadow) = &state.shadow {
            self.shadow_decide(&state.live, shadow, ctx, &d);
        }
        d
    }

    #[inline(never)]
    fn shadow_decide(&self, live: &Live, shadow: &Live, ctx: &Context<'_>, d: &Decision) {
        self.counters.shadow.0 .0.fetch_add(1, Relaxed);
        if live.hash == shadow.hash {
            return;
        }
        let sd = shadow.decide(ctx);
        let fields = diff_decisions(live.policy(), d, shadow.policy(), &sd);
        if fields.is_empty() {
            return;
        }
        self.counters.shadow.0 .1.fetch_add(1, Relaxed);
        let callbacks = self.on_diff.load();
        if callbacks.is_empty() {
            return;
        }
        let diff = ShadowDiff {
            live,
            shadow,
            live_decision: *d,
            shadow_decision: sd,
            fields,
            ctx,
        };
        for f in callbacks.iter() {
            let _ = catch_unwind(AssertUnwindSafe(|| f(&diff)));
        }
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

    /// The shadow policy, when one is set.
    pub fn shadow(&self) -> Option<Arc<Live>> {
        self.state.load().shadow.clone()
    }

    /// The counters, copied out.
    pub fn stats(&self) -> HandleStats {
        let s = self.state.load();
        let c = &self.counters;
        HandleStats {
            decisions: c.decisions.0.load(Relaxed),
            reloads_ok: c.reloads_ok.load(Relaxed),
            reloads_unchanged: c.reloads_unchanged.load(Relaxed),
            reloads_failed: c.reloads_failed.load(Relaxed),
            shadow_decisions: c.shadow.0 .0.load(Relaxed),
            shadow_diffs: c.shadow.0 .1.load(Relaxed),
            version: s.live.version,
            shadow_active: s.shadow.is_some(),
            last_reload_failed: c.last_failed.load(Relaxed),
        }
    }

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

    fn lock_installs(&self) -> MutexGuard<'_, u64> {
        // The guarded data is only the shadow install counter; a poisoned
        // lock (a panic elsewhere while held) leaves it valid.
        self.install_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn install(
        &self,
        _lock: &MutexGuard<'_, u64>,
        cand: Candidate,
        source: Option<PathBuf>,
        started: Instant,
    ) -> ReloadOk {
        // INVARIANT: the install lock is held, so `cur` stays the live state
        // until the store below; no concurrent install can be lost.
        let cur = self.state.load_full();
        let hash = cand.engine.policy().hash;
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

    /// Run `f` on the deciding thread for every decision where the shadow
    /// policy differs from the live one. Keep it cheap (count, sample,
    /// send to a channel); it runs on the request path.
    pub fn on_shadow_diff(&self, f: impl Fn(&ShadowDiff<'_, '_>) + Send + Sync + 'static) {
        let f: DiffCallback = Arc::new(f);
        self.on_diff.rcu(|v| {
            let mut v = Vec::clone(v);
            v.push(f.clone());
            v
        });
    }

    /// Load a candidate policy file or directory against the handle's
    /// schema, pass it through the same gate as a reload, and decide it
    /// beside the live policy from now on. Replaces any shadow set before.
    pub fn set_shadow(&self, path: impl AsRef<Path>) -> Result<Arc<Live>, ReloadError> {
        let path = path.as_ref();
        let cand = guarded(|| {
            let loaded = load_path(path, &self.opts).map_err(ReloadError::Load)?;
            gate(loaded, &self.schema, self.limits)
        })?;
        Ok(self.install_shadow(cand, Some(path.to_path_buf())))
    }

    /// [`PolicyHandle::set_shadow`] for a policy loaded in memory (checked
    /// against [`PolicyHandle::schema`]).
    pub fn set_shadow_policy(&self, policy: Policy) -> Result<Arc<Live>, ReloadError> {
        let loaded = Loaded {
            policy,
            warnings: Vec::new(),
        };
        let cand = guarded(|| gate(loaded, &self.schema, self.limits))?;
        Ok(self.install_shadow(cand, None))
    }

    /// Re-read the shadow policy from its path (when it has one).
    pub fn reload_shadow(&self) -> Result<Option<Arc<Live>>, ReloadError> {
        let Some(path) = self.shadow().and_then(|s| s.source.clone()) else {
            return Ok(None);
        };
        self.set_shadow(path).map(Some)
    }

    fn install_shadow(&self, cand: Candidate, source: Option<PathBuf>) -> Arc<Live> {
        let mut seq = self.lock_installs();
        *seq += 1;
        let shadow = Arc::new(Live {
            hash: cand.engine.policy().hash,
            engine: cand.engine,
            version: *seq,
            loaded_at: SystemTime::now(),
            source,
            warnings: cand.warnings,
        });
        // INVARIANT: install lock held (see `install`).
        let cur = self.state.load_full();
        self.state.store(Arc::new(State {
            live: cur.live.clone(),
            shadow: Some(shadow.clone()),
        }));
        shadow
    }

    /// Stop deciding a shadow policy; returns the one removed.
    pub fn clear_shadow(&self) -> Option<Arc<Live>> {
        let _lock = self.lock_installs();
        // INVARIANT: install lock held (see `install`).
        let cur = self.state.load_full();
        cur.shadow.as_ref()?;
        self.state.store(Arc::new(State {
            live: cur.live.clone(),
            shadow: None,
        }));
        cur.shadow.clone()
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

    #[test]
    fn diff_fields_iterate_in_order() {
        let mut f = DiffFields::default();
        f.insert(DiffField::Limit);
        f.insert(DiffField::Route);
        assert_eq!(f.to_string(), "route, limit");
        assert!(f.contains(DiffField::Route) && !f.contains(DiffField::Model));
    }
}
