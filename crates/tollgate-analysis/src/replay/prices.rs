//! Prices a replayed call is billed at: the policy's models by source
//! region, service tier and latency, resolved once per combination.

use super::*;

/// Policy models' prices by source region, service tier and latency,
/// resolved once per (model, region, tier, latency) from the policy's
/// table; a model without a price there keeps its own prices.
pub(super) struct RegionPrices<'p> {
    policy: &'p tollgate_lang::Policy,
    default_region: &'p str,
    by_model: Vec<Vec<(PriceAt, tollgate_lang::Prices)>>,
}

/// Where a call is priced: source region, service tier, latency-optimized.
pub(super) type PriceAt = (String, Tier, bool);

/// The tier and latency a decision's call is billed at on `model`: the
/// route's, where the model's price entry offers them (what the gate
/// sends), else the default tier at standard latency.
pub(super) fn tier_of(model: &tollgate_lang::Model, d: &tollgate_engine::Decision) -> (Tier, bool) {
    let tier = d
        .service_tier
        .filter(|t| model.prices.offers_tier(*t))
        .unwrap_or_default();
    let optimized =
        d.latency == Some(Latency::Optimized) && model.prices.offers_latency(Latency::Optimized);
    (tier, optimized)
}

impl<'p> RegionPrices<'p> {
    pub(super) fn new(policy: &'p tollgate_lang::Policy, default_region: &'p str) -> Self {
        RegionPrices {
            policy,
            default_region,
            by_model: vec![Vec::new(); policy.models().len()],
        }
    }

    /// The prices of `model` for a call recorded at `region` (`None`: the
    /// default region), billed at `tier` and, when `optimized`, at
    /// latency-optimized prices.
    pub(super) fn get(
        &mut self,
        model: &'p tollgate_lang::Model,
        idx: usize,
        region: Option<&str>,
        (tier, optimized): (Tier, bool),
    ) -> &tollgate_lang::Prices {
        let region = region.unwrap_or(self.default_region);
        let Some(list) = self.by_model.get_mut(idx) else {
            return &model.prices;
        };
        let at = match list
            .iter()
            .position(|((r, t, o), _)| r == region && *t == tier && *o == optimized)
        {
            Some(i) => i,
            None => {
                let prices = tollgate_lang::call_prices(
                    self.policy.price_table(),
                    &model.id,
                    &model.prices,
                    region,
                    tier,
                    optimized,
                )
                .unwrap_or_else(|_| model.prices.clone());
                list.push(((region.to_owned(), tier, optimized), prices));
                list.len() - 1
            }
        };
        list.get(at).map_or(&model.prices, |(_, p)| p)
    }
}
