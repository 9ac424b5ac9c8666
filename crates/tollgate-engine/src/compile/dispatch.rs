//! [`Dispatch`]: how a decision-tree node can split on an attribute, from
//! the attribute's declared type. Read by the rule split (`rules.rs`), the
//! bucket plans (`plan.rs`) and the tree build (`build.rs`).

use super::intern::Form;
use super::ir::SlotKind;

/// How a node can dispatch on an attribute, from its declared type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dispatch {
    Str,
    Int,
    Bool,
    Present(SlotKind),
}

impl Dispatch {
    pub(crate) fn of(kind: SlotKind) -> Dispatch {
        match kind {
            SlotKind::Str => Dispatch::Str,
            SlotKind::Int => Dispatch::Int,
            SlotKind::Bool => Dispatch::Bool,
            k => Dispatch::Present(k),
        }
    }

    /// Can a node of this kind decide the constraint?
    pub(crate) fn fits(self, f: &Form) -> bool {
        matches!(
            (self, f),
            (_, Form::Present)
                | (Dispatch::Str, Form::StrIn(_) | Form::StrNotIn(_))
                | (Dispatch::Int, Form::Int(_))
                | (Dispatch::Bool, Form::Bool(_))
        )
    }
}
