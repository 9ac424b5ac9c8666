//! The engine the commands decide with, and test coverage.

use tollgate_engine::{decide_reference, Context, Decision, Request};
use tollgate_lang::policy::Section;
use tollgate_lang::Policy;

/// Decides for the CLI.
pub struct Engine {
    policy: Policy,
}

impl Engine {
    /// Prepare a policy for deciding.
    pub fn new(policy: Policy) -> Result<Engine, String> {
        Ok(Engine { policy })
    }

    /// Decide one request.
    pub fn decide(&self, ctx: &Context<'_>) -> Decision {
        decide_reference(&self.policy, ctx)
    }
}

/// Rules that decide no `[[test]]` case: (section, rule, location).
pub fn unreached_rules(
    policy: &Policy,
    decide: &dyn Fn(&Context<'_>) -> Decision,
) -> Vec<(Section, String, String)> {
    let mut hit = std::collections::HashSet::new();
    for case in &policy.tests {
        if let Ok(req) = Request::from_map(&policy.schema, &case.request) {
            let d = decide(&req.context(&policy.schema));
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
                out.push((s, name.to_string(), policy.sources.location(span)));
            }
        }
    }
    out
}
