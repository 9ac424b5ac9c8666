//! `[[route]]`: which model serves the request, its output cap, fallbacks,
//! service tier and latency option.

use super::keys::Keys;
use super::Build;
use crate::policy::Route;
use crate::pricing::{Latency, Tier};
use crate::source::Span;

/// The tiers a route may ask for (`reserved` is a capacity purchase, not a
/// per-request choice).
const ROUTE_TIERS: [Tier; 3] = [Tier::Default, Tier::Flex, Tier::Priority];

impl Build<'_> {
    /// A route's keys; missing ones are reported at `at`.
    pub(super) fn route(&mut self, k: &mut Keys<'_, '_>, at: Span) -> Option<Route> {
        let d = &mut self.d;
        let model = k.str(d, "model");
        let model = k.required(d, model, "model", at, "a [[route]] rule", "\"haiku\"");
        let max_output_tokens = k.u32(d, "max_output_tokens", 1);
        let fallback = k.str_list(d, "fallback").unwrap_or_default();
        let tier = k.str(d, "service_tier");
        let latency = k.str(d, "latency");
        let tier_fallback = k.bool(d, "tier_fallback").unwrap_or(true);
        if k.is_quiet() {
            return None;
        }
        let mut bad = false;
        let service_tier = match tier {
            None => None,
            Some((s, sp)) => match ROUTE_TIERS.into_iter().find(|t| t.name() == s) {
                Some(t) => Some(t),
                None => {
                    self.error(
                        "invalid-value",
                        sp,
                        format!("service tier `{s}` is not one a route may ask for"),
                        Some(
                            "Bedrock's tiers are `\"default\"`, `\"flex\"` (discounted, \
                             slower) or `\"priority\"` (at a premium)"
                                .into(),
                        ),
                    );
                    bad = true;
                    None
                }
            },
        };
        let latency = match latency {
            None => None,
            Some((s, sp)) => match Latency::parse(&s) {
                Some(l) => Some(l),
                None => {
                    self.error(
                        "invalid-value",
                        sp,
                        format!("latency `{s}` is not one of Bedrock's"),
                        Some(
                            "write `\"standard\"` (the default) or `\"optimized\"` \
                             (latency-optimized inference)"
                                .into(),
                        ),
                    );
                    bad = true;
                    None
                }
            },
        };
        let model = model.and_then(|(m, s)| self.model_ref(&m, s));
        let fallback = fallback
            .into_iter()
            .filter_map(|(alias, s)| self.model_ref(&alias, s))
            .collect();
        if bad {
            return None;
        }
        Some(Route {
            model: model?,
            max_output_tokens,
            fallback,
            service_tier,
            latency,
            tier_fallback,
        })
    }
}
