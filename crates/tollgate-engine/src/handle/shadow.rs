//! Shadow evaluation: a candidate policy decided beside the live one on
//! every decision; where the two differ ([`diff_decisions`]) the
//! `shadow_diffs` counter moves and the diff callbacks run. The served
//! decision is always the live one.

use super::reload::{gate, guarded, Candidate, ReloadError};
use super::{DiffCallback, Live, PolicyHandle, State};
use crate::context::Context;
use crate::decision::{rule_name, Decision};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::SystemTime;
use tollgate_lang::Section;
use tollgate_lang::{load_path, Loaded, Policy};

/// A decision field a shadow policy can disagree on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DiffField {
    /// The `[[route]]` rule.
    Route,
    /// The Bedrock model id served.
    Model,
    /// The effective output cap.
    MaxOutputTokens,
    /// The route's `service_tier`.
    ServiceTier,
    /// The route's `latency`.
    Latency,
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
    pub const ALL: [DiffField; 10] = [
        DiffField::Route,
        DiffField::Model,
        DiffField::MaxOutputTokens,
        DiffField::ServiceTier,
        DiffField::Latency,
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
            DiffField::ServiceTier => "service_tier",
            DiffField::Latency => "latency",
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
/// nothing across policies. The route's service tier and latency are
/// compared as decided (`None`, the request's own, differs from an
/// explicit `default` / `standard`).
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
    if da.service_tier != db.service_tier {
        out.insert(DiffField::ServiceTier);
    }
    if da.latency != db.latency {
        out.insert(DiffField::Latency);
    }
    out
}

impl PolicyHandle {
    #[inline(never)]
    pub(super) fn shadow_decide(
        &self,
        live: &Live,
        shadow: &Live,
        ctx: &Context<'_>,
        d: &Decision,
    ) {
        self.counters.shadow.0.fetch_add(1, Relaxed);
        if live.hash == shadow.hash {
            return;
        }
        let sd = shadow.decide(ctx);
        let fields = diff_decisions(live.policy(), d, shadow.policy(), &sd);
        if fields.is_empty() {
            return;
        }
        self.counters.shadow.1.fetch_add(1, Relaxed);
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

    /// The shadow policy, when one is set.
    pub fn shadow(&self) -> Option<Arc<Live>> {
        self.state.load().shadow.clone()
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
            hash: cand.engine.policy().hash(),
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

    #[test]
    fn diff_fields_iterate_in_order() {
        let mut f = DiffFields::default();
        f.insert(DiffField::Limit);
        f.insert(DiffField::Route);
        assert_eq!(f.to_string(), "route, limit");
        assert!(f.contains(DiffField::Route) && !f.contains(DiffField::Model));
    }
}
