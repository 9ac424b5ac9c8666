//! What a call event does with each attribute slot of a policy's schema:
//! whether its value is redacted, and which tag (if any) it fills.
//! Shared by the event builder and the per-policy [`EventNames`](crate::EventNames).

use tollgate_lang::Policy;

/// The attribute named `prompt` is redacted whatever the policy says.
pub const ALWAYS_REDACTED: &str = "prompt";

/// What an event does with one schema slot: whether it is redacted, and
/// which tag (if any) a string value of it can fill. Worked out once per
/// policy by [`EventNames`], or per slot when there are no names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SlotRole {
    pub redacted: bool,
    /// Index into [`TAG_ATTRIBUTES`].
    pub tag: Option<u8>,
}

/// The attributes that fill tags, in `merge_tags`' order.
pub(crate) const TAG_ATTRIBUTES: [&str; 6] =
    ["app", "feature", "user", "user.id", "use_case", "tenant"];

impl SlotRole {
    pub(crate) fn of(policy: &Policy, id: tollgate_lang::AttrId, name: &str) -> SlotRole {
        SlotRole {
            redacted: name == ALWAYS_REDACTED || policy.redact().contains(&id),
            tag: TAG_ATTRIBUTES
                .iter()
                .position(|t| *t == name)
                .and_then(|i| u8::try_from(i).ok()),
        }
    }
}

/// String values found for the tags, by [`TAG_ATTRIBUTES`] index.
pub(crate) type TagValues<'c> = [Option<&'c str>; TAG_ATTRIBUTES.len()];
