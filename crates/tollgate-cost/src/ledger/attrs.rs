//! The ledger's figures as attributes: `spend.<group>_today_usd`.
//!
//! A schema that declares `"spend.feature_today_usd" = "float"` lets rules
//! read the request's feature's spend today (`spend.feature_today_usd >
//! 150.0`). [`SpendAttributes::new`] finds such attributes once, when the
//! application builds its schema; [`SpendAttributes::fill`] sets them on each
//! request's context before the decision. `<group>` is a string attribute of
//! the schema (dotted names work: `spend.user.tier_today_usd`) or `global`.
//! A request without the group's attribute leaves the spend attribute
//! missing, so rules reading it do not match.

use super::{GroupKey, Ledger, StoreError, GLOBAL};
use crate::time::Day;
use tollgate_engine::{Context, Slot};
use tollgate_lang::{AttrId, Schema, Type};

/// The prefix of ledger attributes.
pub const PREFIX: &str = "spend.";
/// The suffix of ledger attributes.
pub const SUFFIX: &str = "_today_usd";

#[derive(Debug, Clone, PartialEq, Eq)]
struct SpendSlot {
    slot: AttrId,
    /// The group's attribute; `None` for `global`.
    group_attr: Option<AttrId>,
    dim: String,
}

/// The `spend.<group>_today_usd` attributes of a schema.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpendAttributes {
    slots: Vec<SpendSlot>,
}

impl SpendAttributes {
    /// Finds the float attributes named `spend.<group>_today_usd` whose
    /// `<group>` is a string attribute of the schema or `global`.
    pub fn new(schema: &Schema) -> SpendAttributes {
        let slots = schema
            .iter()
            .filter(|(_, def)| def.ty == Type::Float)
            .filter_map(|(slot, def)| {
                let dim = def.name.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
                if dim == GLOBAL {
                    return Some(SpendSlot {
                        slot,
                        group_attr: None,
                        dim: GLOBAL.to_owned(),
                    });
                }
                let group_attr = schema.id(dim)?;
                (schema.get(group_attr)?.ty == Type::String).then(|| SpendSlot {
                    slot,
                    group_attr: Some(group_attr),
                    dim: dim.to_owned(),
                })
            })
            .collect();
        SpendAttributes { slots }
    }

    /// No ledger attributes in the schema.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The group dimensions read, in schema order.
    pub fn dims(&self) -> impl Iterator<Item = &str> {
        self.slots.iter().map(|s| s.dim.as_str())
    }

    /// Sets each ledger attribute to the request's group's spend on `day`,
    /// in USD. On a store fault the slot stays missing and the error is
    /// returned after the other slots are filled (the ledger counts it).
    pub fn fill(&self, ledger: &Ledger, ctx: &mut Context<'_>, day: Day) -> Result<(), StoreError> {
        super::block_on(self.fill_at(super::Via::Sync, ledger, ctx, day))
    }

    /// [`SpendAttributes::fill`], awaited: a Redis ledger's reads hold the
    /// caller's task, never its thread.
    pub async fn fill_async(
        &self,
        ledger: &Ledger,
        ctx: &mut Context<'_>,
        day: Day,
    ) -> Result<(), StoreError> {
        self.fill_at(super::Via::Async, ledger, ctx, day).await
    }

    async fn fill_at(
        &self,
        via: super::Via,
        ledger: &Ledger,
        ctx: &mut Context<'_>,
        day: Day,
    ) -> Result<(), StoreError> {
        let mut first_err = None;
        for s in &self.slots {
            let value = match s.group_attr {
                None => "",
                Some(a) => match ctx.get(a) {
                    Slot::Str(v) => v,
                    _ => {
                        ctx.unset(s.slot);
                        continue;
                    }
                },
            };
            match ledger
                .at(via)
                .total(GroupKey::new(&s.dim, value), day)
                .await
            {
                Ok(n) => {
                    ctx.set_float(s.slot, crate::signed_nanos_to_usd(n.max(0)));
                }
                Err(e) => {
                    ledger.fault(&e);
                    ctx.unset(s.slot);
                    first_err.get_or_insert(e);
                }
            }
        }
        first_err.map_or(Ok(()), Err)
    }
}
