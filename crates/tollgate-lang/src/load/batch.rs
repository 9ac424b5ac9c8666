//! `[[batch]]`: requests sent as batch inference. A batch rule has only the
//! keys every rule has.

use super::keys::Keys;
use super::Build;
use crate::policy::Batch;

impl Build<'_> {
    pub(super) fn batch(&mut self, k: &mut Keys<'_, '_>) -> Option<Batch> {
        (!k.is_quiet()).then_some(Batch {})
    }
}
