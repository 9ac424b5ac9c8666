//! Hard daily budgets (`[[budget]]`): reserve before the call, settle after.
//!
//! [`Ledger::begin`] runs before a call. It names the call's groups (one
//! per tracked dimension, see [`crate::ledger`]), and when the decision's
//! `[[budget]]` rule matched it *reserves* the call's worst-case estimate in
//! the rule's group, atomically: the reservation is granted only if the
//! group's total stays at or below `daily_usd` (a compare-and-swap in
//! process, a Lua script in Redis). Concurrent calls therefore cannot all
//! slip past a nearly spent budget (LiteLLM #34732): each one's estimate is
//! counted before the next is checked, so the settled total can pass the
//! limit only by what real costs exceed their estimates.
//!
//! When the reservation is refused the rule's action applies:
//! `reject` returns [`BudgetError::Exceeded`] (Bedrock is never called);
//! `downgrade:ALIAS` serves the call with that model and reserves *its*
//! estimate without a limit check (a downgrade is a soft cap: the cheaper
//! model keeps serving, and its spend is still counted).
//!
//! [`Ticket::settle`] runs after the call with the real cost: it replaces
//! the reservation in the budget's group and adds the cost to every other
//! group of the call, then checks the spike alert. Calls count on the UTC
//! day they started. A ticket dropped without being settled keeps its
//! reservation as spent (the call may have been billed); [`Ticket::cancel`]
//! releases it for a call that was never made.
//!
//! The estimate: every input token uncached (the `input_tokens` attribute,
//! or what [`Ledger::begin_with_input`] is given) plus the output tokens
//! the call may produce: the smaller of the decision's cap and the model's
//! `max_output_tokens` from the price table (an entry without one, such as
//! a user's table entry, is reserved at its `context_window`; only an entry
//! with neither, on a call without a cap, falls back to
//! [`LedgerConfig::default_output_estimate`]), at the prices of the call's
//! mode: what [`Ledger::begin_with_input`] is given, or for
//! [`Ledger::begin`] batch when a `[[batch]]` rule matched; and at the
//! decision's `service_tier` and `latency` where the model's entry offers
//! them (a `flex` call is reserved at flex prices; a model without flex, at
//! the default tier it is sent at). The settlement is the call's real
//! cost, at the tier Bedrock served.
//!
//! When the store is unavailable, [`FailMode::Open`] (the default) lets the
//! call go on unbudgeted and counts the fault; [`FailMode::Closed`] refuses
//! it with [`BudgetError::StoreUnavailable`].
//!
//! Async callers (the Bedrock gate) use [`Ledger::begin_with_input_async`],
//! [`Ticket::settle_async`] and [`Ticket::cancel_async`]: the same steps,
//! with a store that does I/O awaited (see [`crate::ledger`]).
//!
//! [`LedgerConfig::default_output_estimate`]: crate::ledger::LedgerConfig::default_output_estimate

use crate::cost::{estimate, Mode};
use crate::ledger::{
    block_on, to_i64, FailMode, GroupKey, Ledger, Reserve, StoreError, Via, GLOBAL,
};
use crate::time::Day;
use std::borrow::Cow;
use tollgate_engine::{Context, Decision, RuleIdx, Slot};
use tollgate_lang::ModelIdx;
use tollgate_lang::{BudgetAction, Latency, Policy, Prices, Tier};

/// A budget refused the call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BudgetError {
    /// The call would take the group past `daily_usd`, and the rule rejects.
    #[error(
        "budget `{rule}` is spent for {group_by} `{group}`: ${} of ${} used today, and this call may cost up to ${}",
        usd(*spent_nanos), usd(to_i64(*limit_nanos)), usd(to_i64(*estimate_nanos))
    )]
    Exceeded {
        /// The `[[budget]]` rule.
        rule: String,
        /// Its `group_by` (or `global`).
        group_by: String,
        /// The request's group value.
        group: String,
        /// The group's spend today, reservations included.
        spent_nanos: i64,
        /// `daily_usd` in nano-dollars.
        limit_nanos: u64,
        /// This call's estimate.
        estimate_nanos: u64,
    },
    /// The store is down and the ledger fails closed.
    #[error("budget `{rule}` cannot be checked: {source}")]
    StoreUnavailable {
        /// The `[[budget]]` rule.
        rule: String,
        /// The store's error.
        source: StoreError,
    },
}

fn usd(nanos: i64) -> String {
    format!("{:.4}", crate::signed_nanos_to_usd(nanos))
}

/// One call's place in the ledger, from [`Ledger::begin`] to
/// [`Ticket::settle`].
#[derive(Debug)]
#[must_use = "settle the ticket with the call's real cost"]
pub struct Ticket {
    ledger: Ledger,
    day: Day,
    /// `(dimension, value)` of every group the call counts in.
    groups: Vec<(String, String)>,
    /// The budget's group (index into `groups`) and the amount reserved there.
    reserved: Option<(usize, i64)>,
    model: ModelIdx,
    downgraded_from: Option<ModelIdx>,
    budget: Option<RuleIdx>,
    estimate_nanos: u64,
    done: bool,
}

impl Ticket {
    /// The model to call (the decision's, or a budget's downgrade).
    pub fn model(&self) -> ModelIdx {
        self.model
    }

    /// The model the decision chose, when a budget downgraded the call.
    pub fn downgraded_from(&self) -> Option<ModelIdx> {
        self.downgraded_from
    }

    /// The `[[budget]]` rule that applied.
    pub fn budget_rule(&self) -> Option<RuleIdx> {
        self.budget
    }

    /// The call's estimate, nano-dollars.
    pub fn estimate_nanos(&self) -> u64 {
        self.estimate_nanos
    }

    /// Nano-dollars reserved (0 when no budget applied or the store failed open).
    pub fn reserved_nanos(&self) -> u64 {
        self.reserved
            .map_or(0, |(_, n)| u64::try_from(n).unwrap_or(0))
    }

    /// The UTC day the call counts on.
    pub fn day(&self) -> Day {
        self.day
    }

    /// The groups the call counts in, as `(dimension, value)`.
    pub fn groups(&self) -> impl Iterator<Item = GroupKey<'_>> {
        self.groups.iter().map(|(d, v)| GroupKey::new(d, v))
    }

    /// Records the call's real cost: replaces the reservation and adds the
    /// cost to every other group; checks the spike alert. Store faults are
    /// counted by the ledger, never returned.
    pub fn settle(mut self, actual_nanos: u64) {
        block_on(self.finish(Via::Sync, to_i64(actual_nanos)));
    }

    /// [`Ticket::settle`], awaited.
    pub async fn settle_async(mut self, actual_nanos: u64) {
        self.finish(Via::Async, to_i64(actual_nanos)).await;
    }

    /// [`Ticket::settle`] from code that cannot await (a stream's end, a
    /// `Drop`): on a tokio runtime with a store that does I/O, the
    /// settlement runs as a task of its own, so the caller's thread never
    /// waits on Redis; otherwise it runs now, in place.
    pub fn settle_detached(self, actual_nanos: u64) {
        #[cfg(feature = "redis")]
        if matches!(
            self.ledger.store().backend(),
            crate::ledger::Backend::Redis(_)
        ) && tollgate_redis::on_runtime()
        {
            // Marked done before it is spawned: a task dropped unpolled (a
            // runtime shutting down) drops a finished ticket, not one that
            // would settle detached again.
            let mut t = self;
            t.done = true;
            tollgate_redis::spawn(async move {
                t.finish(Via::Async, to_i64(actual_nanos)).await;
            });
            return;
        }
        self.settle(actual_nanos);
    }

    /// Releases the reservation of a call that was never made.
    pub fn cancel(mut self) {
        block_on(self.release(Via::Sync));
    }

    /// [`Ticket::cancel`], awaited.
    pub async fn cancel_async(mut self) {
        self.release(Via::Async).await;
    }

    async fn release(&mut self, via: Via) {
        self.done = true;
        if let Some((i, n)) = self.reserved {
            if let Some((d, v)) = self.groups.get(i) {
                self.ledger
                    .add_one(via, GroupKey::new(d, v), self.day, -n)
                    .await;
            }
        }
    }

    async fn finish(&mut self, via: Via, actual: i64) {
        self.done = true;
        let items: Vec<(GroupKey<'_>, i64)> = self
            .groups
            .iter()
            .enumerate()
            .map(|(i, (d, v))| {
                let reserved = match self.reserved {
                    Some((r, n)) if r == i => n,
                    _ => 0,
                };
                (GroupKey::new(d, v), actual.saturating_sub(reserved))
            })
            .collect();
        match self.ledger.at(via).add_many(&items, self.day).await {
            Ok(totals) => {
                for ((key, _), total) in items.iter().zip(totals) {
                    self.ledger.check_spike(via, *key, self.day, total).await;
                }
            }
            Err(e) => self.ledger.fault(&e),
        }
    }
}

impl Drop for Ticket {
    /// An unsettled ticket keeps its reservation as spent, in every group
    /// (settled detached: see [`Ticket::settle_detached`]).
    fn drop(&mut self) {
        if !self.done {
            self.done = true;
            let n = self.reserved.map_or(0, |(_, n)| n);
            let rest = Ticket {
                ledger: self.ledger.clone(),
                day: self.day,
                groups: std::mem::take(&mut self.groups),
                reserved: self.reserved,
                model: self.model,
                downgraded_from: self.downgraded_from,
                budget: self.budget,
                estimate_nanos: self.estimate_nanos,
                done: false,
            };
            rest.settle_detached(u64::try_from(n).unwrap_or(0));
        }
    }
}

impl Ledger {
    /// Before a call: names its groups and, when a `[[budget]]` rule
    /// matched, reserves its estimate or applies the rule's action. The
    /// estimate's input size is the `input_tokens` attribute (0 if absent).
    pub fn begin(
        &self,
        policy: &Policy,
        decision: &Decision,
        ctx: &Context<'_>,
        day: Day,
    ) -> Result<Ticket, BudgetError> {
        let input = policy
            .schema()
            .id("input_tokens")
            .and_then(|id| match ctx.get(id) {
                Slot::Int(n) => u64::try_from(n).ok(),
                _ => None,
            })
            .unwrap_or(0);
        self.begin_with_input(policy, decision, ctx, day, input, Mode::decided(decision))
    }

    /// [`Ledger::begin`] with the estimate's input size and the call's mode
    /// (which prices the estimate) given.
    pub fn begin_with_input(
        &self,
        policy: &Policy,
        decision: &Decision,
        ctx: &Context<'_>,
        day: Day,
        input_tokens: u64,
        mode: Mode,
    ) -> Result<Ticket, BudgetError> {
        block_on(self.begin_at(Via::Sync, policy, decision, ctx, day, input_tokens, mode))
    }

    /// [`Ledger::begin_with_input`], awaited: what the Bedrock gate calls.
    pub async fn begin_with_input_async(
        &self,
        policy: &Policy,
        decision: &Decision,
        ctx: &Context<'_>,
        day: Day,
        input_tokens: u64,
        mode: Mode,
    ) -> Result<Ticket, BudgetError> {
        self.begin_at(Via::Async, policy, decision, ctx, day, input_tokens, mode)
            .await
    }

    #[allow(clippy::too_many_arguments)] // begin's inputs and the way to the store
    async fn begin_at(
        &self,
        via: Via,
        policy: &Policy,
        decision: &Decision,
        ctx: &Context<'_>,
        day: Day,
        input_tokens: u64,
        mode: Mode,
    ) -> Result<Ticket, BudgetError> {
        let groups = self.groups_of(policy, ctx);
        let estimate_for =
            |m: ModelIdx| self.estimate(policy, decision, ctx, m, input_tokens, mode);
        let mut ticket = Ticket {
            ledger: self.clone(),
            day,
            groups,
            reserved: None,
            model: decision.model,
            downgraded_from: None,
            budget: decision.budget,
            estimate_nanos: estimate_for(decision.model),
            done: false,
        };
        let Some(rule) = decision.budget.and_then(|r| policy.budgets.get(r.index())) else {
            return Ok(ticket);
        };
        let dim = rule
            .then
            .group_by
            .map_or(GLOBAL, |a| policy.schema().name(a));
        let Some(idx) = ticket.groups.iter().position(|(d, _)| d == dim) else {
            return Ok(ticket);
        };
        let group = ticket
            .groups
            .get(idx)
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        let key = GroupKey::new(dim, &group);
        let est = to_i64(ticket.estimate_nanos);
        let limit = to_i64(rule.then.daily_nanos);
        let store = self.at(via);
        match store.try_reserve(key, day, est, limit).await {
            Ok(Reserve::Granted { .. }) => ticket.reserved = Some((idx, est)),
            Ok(Reserve::Denied { total }) => match rule.then.action {
                BudgetAction::Reject => {
                    ticket.done = true;
                    return Err(BudgetError::Exceeded {
                        rule: rule.name.clone(),
                        group_by: dim.to_owned(),
                        group,
                        spent_nanos: total,
                        limit_nanos: rule.then.daily_nanos,
                        estimate_nanos: ticket.estimate_nanos,
                    });
                }
                BudgetAction::Downgrade(m) => {
                    ticket.downgraded_from = (m != decision.model).then_some(decision.model);
                    ticket.model = m;
                    ticket.estimate_nanos = estimate_for(m);
                    let est = to_i64(ticket.estimate_nanos);
                    match store.add(key, day, est).await {
                        Ok(_) => ticket.reserved = Some((idx, est)),
                        Err(e) => self.fault(&e),
                    }
                }
            },
            Err(e) => {
                self.fault(&e);
                if self.inner.cfg.fail_mode == FailMode::Closed {
                    ticket.done = true;
                    return Err(BudgetError::StoreUnavailable {
                        rule: rule.name.clone(),
                        source: e,
                    });
                }
            }
        }
        Ok(ticket)
    }

    /// Spend of a call whose cost is known, without a budget check
    /// (e.g. calls made before the ledger existed).
    pub fn record(&self, policy: &Policy, ctx: &Context<'_>, day: Day, nanos: u64) {
        block_on(self.record_at(Via::Sync, policy, ctx, day, nanos));
    }

    /// [`Ledger::record`], awaited.
    pub async fn record_async(&self, policy: &Policy, ctx: &Context<'_>, day: Day, nanos: u64) {
        self.record_at(Via::Async, policy, ctx, day, nanos).await;
    }

    async fn record_at(&self, via: Via, policy: &Policy, ctx: &Context<'_>, day: Day, nanos: u64) {
        let groups = self.groups_of(policy, ctx);
        let keys: Vec<GroupKey<'_>> = groups.iter().map(|(d, v)| GroupKey::new(d, v)).collect();
        self.add_at(via, &keys, day, nanos).await;
    }

    /// The worst-case cost of calling `model` for this request in `mode`,
    /// at the decision's service tier and latency where `model` offers them.
    pub fn estimate(
        &self,
        policy: &Policy,
        decision: &Decision,
        ctx: &Context<'_>,
        model: ModelIdx,
        input_tokens: u64,
        mode: Mode,
    ) -> u64 {
        let Some(m) = policy.model(model) else {
            return 0;
        };
        let cap = if model == decision.model {
            decision.max_output_tokens
        } else {
            decision.output_cap(policy, ctx, model)
        };
        // The smaller of the cap and the model's maximum output (an entry
        // without one: its context window); the configured fallback only
        // for an entry that gives neither and a call without a cap.
        let output = m
            .prices
            .reserve_output_tokens(cap)
            .unwrap_or(self.inner.cfg.default_output_estimate);
        let prices = decided_prices(&m.prices, decision);
        estimate(&prices, input_tokens, u64::from(output), mode)
    }

    /// `(dimension, value)` of every group a call counts in: the ledger's
    /// dimensions, every budget rule's `group_by` and the spike alert's.
    fn groups_of(&self, policy: &Policy, ctx: &Context<'_>) -> Vec<(String, String)> {
        let mut dims: Vec<&str> = self.inner.cfg.dims.iter().map(String::as_str).collect();
        for b in &policy.budgets {
            dims.push(b.then.group_by.map_or(GLOBAL, |a| policy.schema().name(a)));
        }
        if let Some(s) = &self.inner.cfg.spike {
            dims.push(&s.group_by);
        }
        let mut out: Vec<(String, String)> = Vec::with_capacity(dims.len());
        for dim in dims {
            if out.iter().any(|(d, _)| d == dim) {
                continue;
            }
            let value = match policy.schema().id(dim).map(|id| ctx.get(id)) {
                Some(Slot::Str(v)) if dim != GLOBAL => v,
                _ => "",
            };
            out.push((dim.to_owned(), value.to_owned()));
        }
        out
    }
}

/// A model's prices at the decision's service tier and latency option,
/// each where the model's entry offers it (else as the gate sends the
/// call: at the default tier, at standard latency).
fn decided_prices<'p>(p: &'p Prices, d: &Decision) -> Cow<'p, Prices> {
    let mut out = Cow::Borrowed(p);
    if let Some(t) = d.service_tier.filter(|&t| t != Tier::Default) {
        if let Some(at) = out.at_tier(t) {
            out = Cow::Owned(at);
        }
    }
    if d.latency == Some(Latency::Optimized) {
        if let Some(at) = out.at_latency_optimized() {
            out = Cow::Owned(at);
        }
    }
    out
}

/// The `[[limit]] retry_budget_pct` rule, the one the gate applies live
/// and replay applies to recorded traffic: a feature may retry while its
/// retry spend is at most `pct` percent of its total spend.
pub fn retry_share_within(retries: u128, total: u128, pct: f64) -> bool {
    (retries as f64) * 100.0 <= pct * (total as f64)
}
