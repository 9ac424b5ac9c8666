//! Building one section's decision structure from its rules.
//!
//! A *group* is an ordered list of rules, each with the per-attribute
//! constraints still to check (a bit mask over the rule's [`Cons`]). A
//! group of at most [`LEAF_MAX`] rules, or one in which no attribute is
//! constrained by two rules, becomes a leaf. Otherwise the attribute the
//! most rules constrain is chosen (a `!=` or a presence test counts: in
//! the buckets that allow it, it is satisfied, which often empties a rule's
//! residual and ends the leaf there), and the rules constrained on it (`C`)
//! are distributed over its values: one bucket per string mentioned plus
//! "any other string", one per interval between the int cut points, true
//! and false. A rule joins every bucket its constraint allows, with that
//! constraint cleared; it joins no bucket its constraint excludes, and never
//! the "missing" child (an atom is true only when the attribute is present).
//!
//! The rules not constrained on the attribute (`U`) are copied into every
//! bucket and the missing child (a plain decision tree: one path per
//! request) when they are few, when the copies are no more than `C`, or
//! while the section stays under [`SPACE_FACTOR`] entries per rule.
//! Otherwise copying would multiply the structure's size by the number of
//! buckets at every level, so `U` gets its own sub-structure and a fork
//! joins the two (the shape of OPA's rule-index trie, whose lookups also
//! follow both the value edge and the "don't care" edge).
//!
//! Groups are memoised, so equal buckets (adjacent int intervals, values
//! only unconstrained rules reach) share one node: the structure is a DAG.
//! Every split is checked against the section's [`Limits`] first; a split
//! that would pass them is not made (the group stays a leaf), so the limits
//! cost speed, not correctness.
//!
//! The constants were tuned on generated policies of 50 to 10,000 rules and
//! the example policy, by instructions per decision: leaves of 2 beat 4 and
//! 6 by 5 to 10%; the space factor (1 to 16) moves little.

use super::dispatch::Dispatch;
use super::intern::Form;
use super::ir::SlotKind;
use super::mask::ConsMask;
use super::plan::{merge, plan, Entry, Plan};
use super::pred::{Pred, PredId};
use super::rules::RuleSpec;
use super::strmap::StrMap;
use super::tree::{Leaf, LeafEntry, Node, NodeId, NodeSlot, Ref, SectionIndex, EMPTY, NO_MEMO};
use rustc_hash::{FxHashMap, FxHashSet};
use smallvec::SmallVec;
use tollgate_lang::AttrId;

/// Groups this small become leaves.
pub(crate) const LEAF_MAX: usize = 2;
/// Unconstrained rules copied into buckets rather than forked off, at most.
const REPLICATE_MAX: usize = 4;
/// Copies of unconstrained rules are made while the section's entries stay
/// under this many per rule.
const SPACE_FACTOR: usize = 4;
/// Splits along one path, at most (bounds recursion in the build and the walk).
const MAX_DEPTH: usize = 32;

/// Size limits for one section.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) max_nodes: usize,
    pub(crate) max_leaf_entries: usize,
}

/// A limit no structure can meet.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Overflow {
    pub(crate) what: &'static str,
    pub(crate) needed: usize,
    pub(crate) limit: usize,
}

/// Build a section. `dispatch` is indexed by attribute slot.
pub(crate) fn build(
    specs: &[RuleSpec],
    dispatch: &[Dispatch],
    preds: &[Pred],
    limits: Limits,
) -> Result<SectionIndex, Overflow> {
    let mut b = Builder {
        specs,
        dispatch,
        preds,
        limits,
        nodes: vec![NodeSlot {
            min: u32::MAX,
            node: Node::Empty,
        }],
        memo: FxHashMap::default(),
        live: 0,
        soft: 0,
        reserved: 2,
        leaf_entries: 0,
        depth: 0,
    };
    let all = specs
        .iter()
        .enumerate()
        .map(|(i, s)| Entry {
            spec: i as u32,
            mask: ConsMask::first(s.cons.len()),
        })
        .collect();
    let all = b.truncate(all);
    if all.len() > limits.max_leaf_entries {
        return Err(Overflow {
            what: "decision entries",
            needed: all.len(),
            limit: limits.max_leaf_entries,
        });
    }
    if limits.max_nodes < 2 {
        return Err(Overflow {
            what: "decision nodes",
            needed: 2,
            limit: limits.max_nodes,
        });
    }
    b.live = all.len();
    b.soft = all
        .len()
        .saturating_mul(SPACE_FACTOR)
        .saturating_add(64)
        .min(limits.max_leaf_entries);
    let root = b.group(all, 0);
    Ok(SectionIndex {
        nodes: b.nodes.into_boxed_slice(),
        root,
        leaf_entries: b.leaf_entries,
        depth: b.depth,
    })
}

struct Builder<'s> {
    specs: &'s [RuleSpec],
    dispatch: &'s [Dispatch],
    preds: &'s [Pred],
    limits: Limits,
    nodes: Vec<NodeSlot>,
    memo: FxHashMap<Vec<Entry>, NodeId>,
    /// Entries in groups built or pending: an upper bound of leaf entries.
    live: usize,
    /// Entries up to which unconstrained rules are copied rather than forked.
    soft: usize,
    /// Nodes built or promised to pending groups.
    reserved: usize,
    leaf_entries: usize,
    depth: usize,
}

impl<'s> Builder<'s> {
    fn spec(&self, e: &Entry) -> Option<&'s RuleSpec> {
        self.specs.get(e.spec as usize)
    }

    fn rule(&self, e: Option<&Entry>) -> u32 {
        e.and_then(|e| self.spec(e)).map_or(u32::MAX, |s| s.rule)
    }

    fn push(&mut self, min: u32, node: Node) -> NodeId {
        let id = NodeId(self.nodes.len() as u32);
        self.nodes.push(NodeSlot { min, node });
        id
    }

    /// Drop the rules after one that always matches in this group.
    fn truncate(&self, mut entries: Vec<Entry>) -> Vec<Entry> {
        let always = entries
            .iter()
            .position(|e| e.mask.is_empty() && self.spec(e).is_none_or(|s| s.fixed.is_empty()));
        if let Some(i) = always {
            entries.truncate(i + 1);
        }
        entries
    }

    fn group(&mut self, entries: Vec<Entry>, depth: usize) -> NodeId {
        let entries = self.truncate(entries);
        if entries.is_empty() {
            return EMPTY;
        }
        if let Some(id) = self.memo.get(&entries) {
            return *id;
        }
        self.depth = self.depth.max(depth);
        let split = (entries.len() > LEAF_MAX && depth < MAX_DEPTH)
            .then(|| self.choose(&entries))
            .flatten();
        let id = match split {
            Some(attr) => self.split(&entries, attr, depth),
            None => self.leaf(&entries),
        };
        self.memo.insert(entries, id);
        id
    }

    /// The attribute the most rules constrain (at least two); ties go to
    /// the one with more selective constraints. A `!=` or a presence test
    /// counts too: in the buckets it allows, it is satisfied and leaves the
    /// residual, often emptying it, which ends the leaf at that rule.
    fn choose(&self, entries: &[Entry]) -> Option<AttrId> {
        let mut counts: FxHashMap<AttrId, (u32, u32)> = FxHashMap::default();
        for e in entries {
            let Some(spec) = self.spec(e) else { continue };
            for c in e.mask.iter().filter_map(|j| spec.cons.get(j)) {
                let n = counts.entry(c.attr).or_default();
                n.0 += c.form.selective() as u32;
                n.1 += 1;
            }
        }
        counts
            .into_iter()
            .filter(|(_, (_, all))| *all >= 2)
            .max_by_key(|(a, (selective, all))| (*all, *selective, std::cmp::Reverse(a.index())))
            .map(|(a, _)| a)
    }

    /// The rule's constraint on `attr`, with its index.
    fn find(&self, e: &Entry, attr: AttrId) -> Option<(usize, &'s Form)> {
        let spec = self.spec(e)?;
        e.mask.iter().find_map(|j| {
            spec.cons
                .get(j)
                .filter(|c| c.attr == attr)
                .map(|c| (j, &c.form))
        })
    }

    fn split(&mut self, entries: &[Entry], attr: AttrId, depth: usize) -> NodeId {
        let mut c = Vec::new();
        let mut u = Vec::new();
        for e in entries {
            match self.find(e, attr) {
                Some((j, form)) => c.push((
                    Entry {
                        spec: e.spec,
                        mask: e.mask.without(j),
                    },
                    form,
                )),
                None => u.push(*e),
            }
        }
        let c_min = self.rule(c.first().map(|(e, _)| e));
        let mut plan = plan(self.dispatch.get(attr.index()).copied(), &c);
        let n_buckets = plan.buckets().len();
        let copies = u.len().saturating_mul(n_buckets);
        let replicate = u.len() <= REPLICATE_MAX
            || copies <= c.len()
            || self.live.saturating_add(copies) <= self.soft;
        let missing = if replicate {
            for b in plan.buckets_mut() {
                *b = merge(b, &u);
            }
            std::mem::take(&mut u)
        } else {
            Vec::new()
        };

        // Check the limits before building anything.
        let mut distinct: FxHashSet<&Vec<Entry>> = plan.buckets().into_iter().collect();
        distinct.insert(&missing);
        let entries_after: usize = distinct.iter().map(|b| b.len()).sum::<usize>() + u.len();
        let nodes_after = 1 + distinct.len() + if u.is_empty() { 0 } else { 2 };
        let live = (self.live + entries_after).saturating_sub(entries.len());
        let reserved = self.reserved + nodes_after - 1;
        if live > self.limits.max_leaf_entries || reserved > self.limits.max_nodes {
            return self.leaf(entries);
        }
        self.live = live;
        self.reserved = reserved;

        let next = depth + 1;
        let missing = self.group(missing, next);
        let node = match plan {
            Plan::Str {
                values,
                buckets,
                other,
            } => {
                let other = self.group(other, next);
                let mut keys = Vec::new();
                for (v, b) in values.into_iter().zip(buckets) {
                    let id = self.group(b, next);
                    if id != other {
                        keys.push((v, id));
                    }
                }
                Node::Str {
                    attr,
                    map: StrMap::new(keys),
                    other,
                    missing,
                }
            }
            Plan::Int { cuts, buckets } => {
                let kids: Vec<NodeId> = buckets.into_iter().map(|b| self.group(b, next)).collect();
                // Coalesce neighbouring intervals that lead to one node.
                let (mut kept_cuts, mut kept_kids) = (Vec::new(), Vec::new());
                let mut kids_iter = kids.into_iter();
                kept_kids.extend(kids_iter.next());
                for (cut, kid) in cuts.into_iter().zip(kids_iter) {
                    if kept_kids.last() != Some(&kid) {
                        kept_cuts.push(cut);
                        kept_kids.push(kid);
                    }
                }
                Node::Int {
                    attr,
                    cuts: kept_cuts.into_boxed_slice(),
                    kids: kept_kids.into_boxed_slice(),
                    missing,
                }
            }
            Plan::Bool { yes, no } => {
                let (yes, no) = (self.group(yes, next), self.group(no, next));
                Node::Bool {
                    attr,
                    yes,
                    no,
                    missing,
                }
            }
            Plan::Present { present } => {
                let kind = match self.dispatch.get(attr.index()) {
                    Some(Dispatch::Present(k)) => *k,
                    _ => SlotKind::Other,
                };
                let present = self.group(present, next);
                Node::Present {
                    attr,
                    kind,
                    present,
                    missing,
                }
            }
        };
        if u.is_empty() {
            return self.push(self.rule(entries.first()), node);
        }
        let switch = self.push(c_min, node);
        let rest_min = self.rule(u.first());
        let rest = self.group(u, next);
        let (a, b) = if c_min <= rest_min {
            (switch, rest)
        } else {
            (rest, switch)
        };
        self.push(c_min.min(rest_min), Node::Fork(a, b))
    }

    fn leaf(&mut self, entries: &[Entry]) -> NodeId {
        // Each entry's residual predicates, cheapest first, up to the first
        // entry with none (it always matches here).
        let mut lists: Vec<(u32, SmallVec<[PredId; 8]>)> = Vec::new();
        for e in entries {
            let Some(spec) = self.spec(e) else { continue };
            let mut ps: SmallVec<[PredId; 8]> = e
                .mask
                .iter()
                .filter_map(|j| spec.cons.get(j).map(|c| c.pred))
                .chain(spec.fixed.iter().copied())
                .collect();
            ps.sort_by_key(|p| (self.preds.get(p.0 as usize).map_or(0, Pred::cost), *p));
            ps.dedup();
            let always = ps.is_empty();
            lists.push((spec.rule, ps));
            if always {
                break;
            }
        }
        // Predicates tested by several entries get a memo bit.
        let mut uses: FxHashMap<PredId, u32> = FxHashMap::default();
        for p in lists.iter().flat_map(|(_, ps)| ps.iter()) {
            *uses.entry(*p).or_default() += 1;
        }
        let mut memo: FxHashMap<PredId, u8> = FxHashMap::default();
        let mut refs = Vec::new();
        let mut out = Vec::with_capacity(lists.len());
        for (rule, ps) in &lists {
            let start = refs.len() as u32;
            for p in ps {
                let shared = uses.get(p).is_some_and(|n| *n > 1);
                let next = memo.len();
                let bit = match memo.get(p) {
                    Some(b) => *b,
                    None if shared && next < 64 => {
                        memo.insert(*p, next as u8);
                        next as u8
                    }
                    None => NO_MEMO,
                };
                refs.push(Ref {
                    pred: p.0,
                    memo: bit,
                });
            }
            out.push(LeafEntry {
                rule: *rule,
                start,
                end: refs.len() as u32,
            });
        }
        self.leaf_entries += out.len();
        let min = out.first().map_or(u32::MAX, |e| e.rule);
        self.push(
            min,
            Node::Leaf(Leaf {
                entries: out.into_boxed_slice(),
                refs: refs.into_boxed_slice(),
            }),
        )
    }
}
