//! [`ConsMask`]: which of a rule's dispatchable constraints a group entry
//! still has to check.

/// A set of indices into a rule's [`cons`](super::rules::RuleSpec::cons):
/// bit `j` stands for `cons[j]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct ConsMask(u64);

impl ConsMask {
    /// Constraints per rule a mask can hold, and so the most the structure
    /// dispatches on; a rule's further constraints are checked in leaves.
    pub(crate) const MAX: usize = u64::BITS as usize;

    /// The first `n` constraints (all of them past [`ConsMask::MAX`]).
    pub(crate) fn first(n: usize) -> ConsMask {
        ConsMask(
            u64::MAX
                .checked_shr(u64::BITS - n.min(Self::MAX) as u32)
                .unwrap_or(0),
        )
    }

    /// No constraint left.
    pub(crate) fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The mask without constraint `j`.
    pub(crate) fn without(self, j: usize) -> ConsMask {
        ConsMask(self.0 & !1u64.checked_shl(j as u32).unwrap_or(0))
    }

    /// The constraints in the mask, lowest first.
    pub(crate) fn iter(self) -> impl Iterator<Item = usize> {
        let mut m = self.0;
        std::iter::from_fn(move || {
            (m != 0).then(|| {
                let j = m.trailing_zeros() as usize;
                m &= m - 1;
                j
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::ConsMask;

    #[test]
    fn first_without_and_iter_agree() {
        assert!(ConsMask::first(0).is_empty());
        assert_eq!(ConsMask::first(3).iter().collect::<Vec<_>>(), [0, 1, 2]);
        assert_eq!(
            ConsMask::first(3).without(1).iter().collect::<Vec<_>>(),
            [0, 2]
        );
        assert_eq!(ConsMask::first(100).iter().count(), 64);
        assert_eq!(ConsMask::first(64).without(63).iter().last(), Some(62));
    }
}
