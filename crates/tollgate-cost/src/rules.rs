//! [`Rules`]: the name of the rule that decided each section of a call,
//! as the call event records it.

use crate::name::{EventNames, Name};
use serde::{Deserialize, Serialize};
use tollgate_engine::rule_name;
use tollgate_engine::Decision;
use tollgate_lang::{Policy, Section};

/// The rule that decided each section (`None` = no rule matched).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Rules {
    /// `[[route]]` (`None`: the default model served).
    pub route: Option<Name>,
    /// `[[cache]]`
    pub cache: Option<Name>,
    /// `[[prompt_cache]]`
    pub prompt_cache: Option<Name>,
    /// `[[batch]]`
    pub batch: Option<Name>,
    /// `[[limit]]`
    pub limit: Option<Name>,
    /// `[[budget]]`
    pub budget: Option<Name>,
}

impl Rules {
    /// The rule names of a decision.
    pub fn of(policy: &Policy, d: &Decision) -> Rules {
        Rules::from_fn(|s| {
            let r = d.rule(s);
            r.map(|_| Name::from(rule_name(policy, s, r)))
        })
    }

    /// The rule per section, as `name` gives it.
    pub fn from_fn(name: impl Fn(Section) -> Option<Name>) -> Rules {
        Rules {
            route: name(Section::Route),
            cache: name(Section::Cache),
            prompt_cache: name(Section::PromptCache),
            batch: name(Section::Batch),
            limit: name(Section::Limit),
            budget: name(Section::Budget),
        }
    }
}

impl EventNames {
    /// The decision's rule per section.
    pub fn rules(&self, d: &Decision) -> Rules {
        Rules::from_fn(|s| self.rule(s, d.rule(s)?))
    }
}
