//! The engine the commands decide with, and test coverage.

use tollgate_engine::{compile, CompiledPolicy};
use tollgate_engine::{Context, Decision, Request};
use tollgate_lang::Policy;
use tollgate_lang::Section;

/// Decides for the CLI, with the compiled engine.
pub struct Engine {
    compiled: CompiledPolicy,
}

impl Engine {
    /// Compile a policy for deciding.
    pub fn new(policy: Policy) -> Result<Engine, String> {
        let compiled = compile(policy).map_err(|e| format!("{e} ({})", e.help()))?;
        Ok(Engine { compiled })
    }

    /// Decide one request and trace every rule tried.
    pub fn explain(&self, ctx: &Context<'_>) -> tollgate_engine::Explanation {
        self.compiled.explain(ctx)
    }

    /// Decide one request.
    #[inline]
    pub fn decide(&self, ctx: &Context<'_>) -> Decision {
        self.compiled.decide(ctx)
    }
}

/// Rules that decide no `[[test]]` case: (section, rule, location).
pub fn unreached_rules(
    policy: &Policy,
    decide: &dyn Fn(&Context<'_>) -> Decision,
) -> Vec<(Section, String, String)> {
    let mut hit = std::collections::HashSet::new();
    for case in policy.tests() {
        if let Ok(req) = Request::from_map(policy.schema(), &case.request) {
            let d = decide(&req.context(policy.schema()));
            for s in Section::ALL {
                if let Some(r) = d.rule(s) {
                    hit.insert((s, r.index()));
                }
            }
        }
    }
    let mut out = Vec::new();
    for s in Section::ALL {
        for (i, (name, _, span)) in policy.section_rules(s).into_iter().enumerate() {
            if !hit.contains(&(s, i)) {
                out.push((s, name.to_string(), policy.sources().location(span)));
            }
        }
    }
    out
}
