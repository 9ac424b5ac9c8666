//! Learned routers' scores into a [`Context`], before `decide()`.
//!
//! A policy's `[routers.NAME]` tables name model files
//! ([`tollgate_lang::router`]); their scores are the float attributes
//! `NAME.gain` and `NAME.gain_per_usd`. Scoring reads the prompt's text,
//! which is the caller's to give (the gate, `route-eval`, `replay` and the
//! CLI each know where theirs is), so it happens here, in the caller's
//! step that fills the context, and `decide()` stays a pure, allocation-free
//! walk over slots. Scoring itself does not allocate either.

use crate::context::{Context, Slot};
use tollgate_lang::Policy;
use tollgate_lang::RouterScore;

/// Scores `prompt` with every router of `policy` and sets their
/// attributes in `ctx` (built on the policy's schema). A slot of another
/// type is left as it is.
pub fn score_routers(policy: &Policy, ctx: &mut Context<'_>, prompt: &str) {
    for r in policy.routers() {
        let s: RouterScore = r.model.score(prompt);
        let _ = ctx.set(r.gain, Slot::Float(s.gain));
        let _ = ctx.set(r.gain_per_usd, Slot::Float(s.gain_per_usd));
    }
}

/// Whether the policy has routers (callers skip finding the prompt when not).
pub fn has_routers(policy: &Policy) -> bool {
    !policy.routers().is_empty()
}
