//! `[[route]]`: which model serves the request, its output cap, fallbacks,
//! service tier and latency option.

use super::keys::Keys;
use super::Build;
use crate::diag::Diagnostic;
use crate::policy::{ModelIdx, Route};
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
        let tier_span = tier.as_ref().map(|(_, sp)| *sp);
        let latency_span = latency.as_ref().map(|(_, sp)| *sp);
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
        let fallback: Vec<ModelIdx> = fallback
            .into_iter()
            .filter_map(|(alias, s)| self.model_ref(&alias, s))
            .collect();
        if bad {
            return None;
        }
        // Only a route that asks for a tier or latency lists its models
        // (loading a large policy allocates nothing more per route).
        let places = || -> Vec<ModelIdx> { model.iter().chain(&fallback).copied().collect() };
        if let (Some(t), Some(sp)) = (service_tier, tier_span) {
            self.warn_tier_not_offered(t, sp, &places());
        }
        if let (Some(Latency::Optimized), Some(sp)) = (latency, latency_span) {
            self.warn_latency_not_offered(sp, &places());
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

impl Build<'_> {
    /// `tier-not-offered`: a model of the route (its own or a fallback)
    /// whose price-table entry does not price `tier`; the gate sends its
    /// attempts at the default tier.
    fn warn_tier_not_offered(&mut self, tier: Tier, at: Span, places: &[ModelIdx]) {
        for (i, m) in places.iter().enumerate() {
            let Some(model) = self.models.get(m.index()) else {
                continue;
            };
            if model.prices.offers_tier(tier) || places.iter().take(i).any(|p| p == m) {
                continue;
            }
            let offered: Vec<&str> = model
                .prices
                .tiers_offered()
                .iter()
                .map(|t| t.name())
                .collect();
            let w = Diagnostic::warning(
                "tier-not-offered",
                at,
                format!(
                    "{} `{}` ({}) offers no `{}` tier: its attempts go at the default tier",
                    if i == 0 { "model" } else { "fallback model" },
                    model.alias,
                    model.id,
                    tier.name()
                ),
            )
            .with_help(format!(
                "its price-table entry offers: {}; route to a model with {} prices, or \
                 remove it from the fallbacks",
                offered.join(", "),
                tier.name()
            ));
            self.d.list.push(w);
        }
    }

    /// `latency-not-offered`: as [`Build::warn_tier_not_offered`], for
    /// `latency = "optimized"` (the attempt goes at standard latency).
    fn warn_latency_not_offered(&mut self, at: Span, places: &[ModelIdx]) {
        for (i, m) in places.iter().enumerate() {
            let Some(model) = self.models.get(m.index()) else {
                continue;
            };
            if model.prices.offers_latency(Latency::Optimized)
                || places.iter().take(i).any(|p| p == m)
            {
                continue;
            }
            let w = Diagnostic::warning(
                "latency-not-offered",
                at,
                format!(
                    "{} `{}` ({}) offers no latency-optimized inference: its attempts go at \
                     standard latency",
                    if i == 0 { "model" } else { "fallback model" },
                    model.alias,
                    model.id
                ),
            )
            .with_help(
                "its price-table entry has no latency-optimized prices; route to a model \
                 that has them, or remove it from the fallbacks",
            );
            self.d.list.push(w);
        }
    }
}
