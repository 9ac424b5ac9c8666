//! The decision structure of one section and its walk.
//!
//! A DAG of [`Node`]s in one arena: switches read one attribute and pick a
//! child (a missing attribute has its own child), forks join two
//! sub-structures that hold disjoint rules, leaves test rules in order.
//! Every node knows the lowest rule index below it, so a walk that already
//! holds a match skips whatever cannot beat it.

use super::ir::{slot, Bail, SlotKind};
use super::pred::Pred;
use super::strmap::{Probe, StrMap};
use crate::context::Slot;
use tollgate_lang::AttrId;

/// Index of a node in its section's arena.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub(crate) struct NodeId(pub(crate) u32);

/// The node that matches nothing; always at index 0.
pub(crate) const EMPTY: NodeId = NodeId(0);

/// One rule in a leaf: its index in the section and its residual
/// predicates, `refs[start..end]`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LeafEntry {
    pub(crate) rule: u32,
    pub(crate) start: u32,
    pub(crate) end: u32,
}

/// A residual predicate of a leaf entry.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ref {
    /// Index in the policy's predicate pool.
    pub(crate) pred: u32,
    /// Bit remembering the outcome for the walk, when several entries of
    /// the leaf test the predicate; [`NO_MEMO`] otherwise.
    pub(crate) memo: u8,
}

/// A predicate only one entry of its leaf tests.
pub(crate) const NO_MEMO: u8 = u8::MAX;

/// Rules tested in order.
#[derive(Debug, Clone)]
pub(crate) struct Leaf {
    pub(crate) entries: Box<[LeafEntry]>,
    pub(crate) refs: Box<[Ref]>,
}

/// A decision node.
#[derive(Debug, Clone)]
pub(crate) enum Node {
    Empty,
    Leaf(Leaf),
    /// A string attribute: its value's child, `other` for any other value.
    Str {
        attr: AttrId,
        map: StrMap<NodeId>,
        other: NodeId,
        missing: NodeId,
    },
    /// An int attribute: `kids[i]` holds values in `[cuts[i-1], cuts[i])`.
    Int {
        attr: AttrId,
        cuts: Box<[i64]>,
        kids: Box<[NodeId]>,
        missing: NodeId,
    },
    Bool {
        attr: AttrId,
        yes: NodeId,
        no: NodeId,
        missing: NodeId,
    },
    /// Any other attribute: present or not.
    Present {
        attr: AttrId,
        kind: SlotKind,
        present: NodeId,
        missing: NodeId,
    },
    /// The first match of either side (they hold disjoint rules).
    Fork(NodeId, NodeId),
}

/// A node and the lowest rule index that can match below it.
#[derive(Debug, Clone)]
pub(crate) struct NodeSlot {
    pub(crate) min: u32,
    pub(crate) node: Node,
}

/// The compiled form of one section.
#[derive(Debug, Clone)]
pub(crate) struct SectionIndex {
    pub(crate) nodes: Box<[NodeSlot]>,
    pub(crate) root: NodeId,
    pub(crate) leaf_entries: usize,
    pub(crate) depth: usize,
}

impl Default for SectionIndex {
    /// A section without rules.
    fn default() -> Self {
        SectionIndex {
            nodes: Box::new([NodeSlot {
                min: u32::MAX,
                node: Node::Empty,
            }]),
            root: EMPTY,
            leaf_entries: 0,
            depth: 0,
        }
    }
}

impl SectionIndex {
    /// The first rule whose condition holds.
    #[inline]
    pub(crate) fn first(&self, preds: &[Pred], ctx: &[Slot<'_>]) -> Result<Option<u32>, Bail> {
        if self.root == EMPTY {
            return Ok(None);
        }
        self.walk(preds, ctx)
    }

    /// Depth first, left to right; a match lowers the bound, so what is
    /// walked later can only return an earlier rule.
    ///
    /// Out of line, one copy for every section: inlined into its callers
    /// (which the compiler chose or not as unrelated code came and went)
    /// it cost each decision about 10% more instructions.
    #[inline(never)]
    fn walk(&self, preds: &[Pred], ctx: &[Slot<'_>]) -> Result<Option<u32>, Bail> {
        // Second sides of the forks on the way down, still to walk:
        // `pending[..depth]`.
        let mut pending = [EMPTY; MAX_PENDING];
        let mut depth = 0usize;
        let mut bound = u32::MAX;
        let mut id = self.root;
        loop {
            // INVARIANT: the builder only links ids of nodes it created; an
            // unknown id would read as "no match", never as a panic.
            let next = match self.nodes.get(id.0 as usize) {
                Some(at) if at.min < bound => match &at.node {
                    Node::Empty => None,
                    Node::Leaf(leaf) => {
                        if let Some(r) = leaf.first(bound, preds, ctx)? {
                            bound = r;
                        }
                        None
                    }
                    Node::Str {
                        attr,
                        map,
                        other,
                        missing,
                    } => Some(match slot(ctx, *attr) {
                        Slot::Str(s) => map.get(&Probe::new(s)).unwrap_or(*other),
                        Slot::Missing => *missing,
                        _ => return Err(Bail),
                    }),
                    Node::Int {
                        attr,
                        cuts,
                        kids,
                        missing,
                    } => Some(match slot(ctx, *attr) {
                        // INVARIANT: `kids.len() == cuts.len() + 1`.
                        Slot::Int(v) => kids
                            .get(cuts.partition_point(|c| *c <= v))
                            .copied()
                            .unwrap_or(EMPTY),
                        Slot::Missing => *missing,
                        _ => return Err(Bail),
                    }),
                    Node::Bool {
                        attr,
                        yes,
                        no,
                        missing,
                    } => Some(match slot(ctx, *attr) {
                        Slot::Bool(true) => *yes,
                        Slot::Bool(false) => *no,
                        Slot::Missing => *missing,
                        _ => return Err(Bail),
                    }),
                    Node::Present {
                        attr,
                        kind,
                        present,
                        missing,
                    } => Some(if kind.present(slot(ctx, *attr))? {
                        *present
                    } else {
                        *missing
                    }),
                    Node::Fork(a, b) => {
                        // INVARIANT: forks nest at most MAX_DEPTH deep on a
                        // path (the builder's limit), under MAX_PENDING; a
                        // deeper one would bail, never panic.
                        match pending.get_mut(depth) {
                            Some(p) => *p = *b,
                            None => return Err(Bail),
                        }
                        depth += 1;
                        Some(*a)
                    }
                },
                _ => None,
            };
            id = match next {
                Some(n) => n,
                None if depth > 0 => {
                    depth -= 1;
                    pending.get(depth).copied().unwrap_or(EMPTY)
                }
                None => return Ok((bound != u32::MAX).then_some(bound)),
            };
        }
    }
}

/// Fork sides a walk can hold pending (more than the builder's depth limit).
const MAX_PENDING: usize = 40;

impl Leaf {
    /// The first entry under `bound` whose residual predicates all hold.
    #[inline]
    fn first(&self, bound: u32, preds: &[Pred], ctx: &[Slot<'_>]) -> Result<Option<u32>, Bail> {
        // Outcomes of shared predicates: `known` bits are computed, `truth`
        // bits are true.
        let (mut known, mut truth) = (0u64, 0u64);
        let test = |r: &Ref| match preds.get(r.pred as usize) {
            Some(p) => p.test(ctx),
            // INVARIANT: refs name pool predicates; a bad one reads as false.
            None => Ok(false),
        };
        'entries: for e in self.entries.iter() {
            if e.rule >= bound {
                break;
            }
            // INVARIANT: `start..end` lies in `refs` by construction.
            let refs = self
                .refs
                .get(e.start as usize..e.end as usize)
                .unwrap_or(&[]);
            for r in refs {
                let holds = if r.memo == NO_MEMO {
                    test(r)?
                } else {
                    let bit = 1u64 << (r.memo & 63);
                    if known & bit != 0 {
                        truth & bit != 0
                    } else {
                        let v = test(r)?;
                        known |= bit;
                        truth |= if v { bit } else { 0 };
                        v
                    }
                };
                if !holds {
                    continue 'entries;
                }
            }
            return Ok(Some(e.rule));
        }
        Ok(None)
    }
}
