//! The compiled policy: every section as a decision structure that reaches
//! the first matching rule without testing the rules one by one.
//!
//! | file | job |
//! |---|---|
//! | `compile.rs` | the public API and `decide` |
//! | `rules` | a section's rules split into dispatchable constraints and residuals |
//! | `intern` | conditions to predicates, interned per policy |
//! | `build` | a section's structure: choosing splits, copying or forking, limits |
//! | `plan` | the buckets of one split |
//! | `tree` | the nodes and the walk |
//! | `pred` | residual predicates and their tests |
//! | `ir`, `value` | the expression IR for conjuncts of any other shape, and its evaluation |
//! | `strmap` | string constants matched without hashing or `memcmp` when short |
//!
//! # How a decision runs
//!
//! Each section's rules are split by `Conjunction::of` into per-attribute
//! constraints (`feature in ["kb", "chat"]`, `input_tokens < 8000`,
//! `has_tools`, `tier != "free"`, `has(tenant)`) and the other conjuncts. A
//! conjunction is true exactly when every conjunct is (CEL's `&&` absorbs
//! errors but is true only when both sides are), and an atom is true
//! exactly when its attribute is present and its value lies in the
//! constraint's set. So a rule can be *dispatched* on an attribute: a switch
//! node reads the slot once (a string through a `strmap` table, an int by
//! binary search over the cut points of every range mentioned, a bool by
//! value, anything else by presence), and only the rules whose constraint
//! admits the value remain below, with that constraint already satisfied. A
//! missing attribute has its own child, which keeps only the rules that do
//! not constrain it. `[[cache]]` rules also need their `scope` attribute:
//! that is one more presence constraint, indexed like the others.
//!
//! At each node the attribute constrained by the most remaining rules is
//! chosen (`build` explains the splitting, when rules not constrained on
//! it are copied into every bucket and when they are forked off instead,
//! and the size limits). Leaves list the remaining rules in order, each
//! with its residual predicates (`pred`), cheapest first: constraints on
//! attributes the path did not read, common conjunct shapes as dedicated
//! predicates (`size(x) > 0`, `score >= 0.85`, `prompt.contains("x")`,
//! `prompt.matches(re)`, `17 in ids`, `!has(x)`, each possibly negated),
//! and any other conjunct lowered to a small expression IR (`ir`).
//! Predicates are interned per policy; a predicate several rules of a leaf
//! test gets a memo bit (two `u64` masks per walk), so it runs once. Leaves
//! stop after a rule with nothing left to check; every node records the
//! lowest rule index below it, so a walk that holds a match skips what
//! cannot beat it.
//!
//! # Guarantees
//!
//! - [`CompiledPolicy::decide`] returns exactly what
//!   [`decide_reference`] returns, for every context (a differential
//!   property test holds it to that). A context whose slot types disagree
//!   with the policy's schema (one built against another schema) is
//!   detected where a slot is read and decided by the reference
//!   interpreter.
//! - `decide` does not allocate, except to concatenate strings or lists
//!   (`a + b` in a condition) or to write a number as text (`string(n)`),
//!   and for the regex crate's per-thread scratch
//!   space the first times a `matches()` runs on a thread; it does not
//!   panic (no indexing, no unwrap; `// INVARIANT:` marks what the builder
//!   guarantees).
//! - Compiling is about linear in the rules plus the entries it creates,
//!   bounded per section by [`CompileLimits`]. A split that would pass a
//!   limit is not made; only a section that cannot fit even unsplit is an
//!   error.
//!
//! # Alternatives not taken
//!
//! - *A sequential scan of compiled conditions* (and cel-interpreter, 100
//!   times slower still) costs time linear in the rules: about 2 µs at
//!   1,000 rules on this machine against a goal of 100 ns.
//! - *A plain decision tree* copies every rule that does not constrain the
//!   split attribute into each of its buckets. A generated policy in which
//!   half the rules leave `feature` alone copies them into all of
//!   `feature`'s values, and again at the next level: 10,000 rules grow
//!   past a million entries. Copies are made while the section stays within
//!   a few entries per rule; past that the rest are forked off (as in OPA's
//!   rule-index trie), which keeps the size linear at the cost of walking a
//!   few more nodes.
//! - *Per-value bitsets* (a bitmap of admitted rules per attribute value,
//!   AND-ed over the attributes, then the lowest set bit) are simple and
//!   branch-free but cost `rules / 64` words per attribute per decision:
//!   linear again, about 1,300 word operations at 10,000 rules.
//! - *Binary decision diagrams* over the atoms would share more structure,
//!   but their size depends on a variable order that is expensive to choose
//!   and blows up on `in` lists and ranges over many values.
//! - *Boxed closures* for residual conditions run about as fast as the IR,
//!   but cannot be compared, interned, costed or printed; the IR can.
//! - *`hashbrown` + `FxHash` for string switches* was the first version; it
//!   spent about 80 instructions per lookup, `strmap` 10 to 40.
//! - *Recursion for forks* cost a call frame per fork; the walk keeps the
//!   pending sides in a small inline stack instead.

#![warn(clippy::indexing_slicing)]

mod build;
mod dispatch;
mod intern;
mod ir;
mod lead;
mod mask;
mod plan;
mod pred;
mod rules;
mod strmap;
mod tree;
mod value;

use crate::context::{Context, Slot};
use crate::decision::{decide_reference, effective_cap, Decision, RuleIdx};
use build::Limits;
use dispatch::Dispatch;
use intern::PredPool;
use ir::{Bail, SlotKind};
use pred::Pred;
use rules::specs;
use tollgate_lang::AttrId;
use tollgate_lang::{Policy, Scope, Section};
use tree::SectionIndex;

/// Size limits for compiling, per section. Exceeding one is
/// [`CompileError::TooLarge`] only when the section cannot fit even as a
/// single list; before that, the compiler stops splitting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompileLimits {
    /// Most nodes in one section's structure.
    pub max_nodes: usize,
    /// Most rule entries in one section's leaves (a rule reached by several
    /// paths counts once per leaf).
    pub max_leaf_entries: usize,
}

impl Default for CompileLimits {
    fn default() -> Self {
        CompileLimits {
            max_nodes: 1_000_000,
            max_leaf_entries: 1_000_000,
        }
    }
}

/// Why a policy could not be compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CompileError {
    /// A section does not fit the [`CompileLimits`].
    #[error(transparent)]
    TooLarge(#[from] TooLarge),
}

impl CompileError {
    /// What to do about it.
    pub fn help(&self) -> &'static str {
        match self {
            CompileError::TooLarge(_) => {
                "raise the limit in `CompileLimits`, or split the policy into smaller ones"
            }
        }
    }
}

/// A section needs more than a [`CompileLimits`] allows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("policy `{policy}` needs {needed} {what} in [[{section}]], more than the limit of {limit}", section = .section.name())]
pub struct TooLarge {
    policy: String,
    section: Section,
    what: &'static str,
    needed: usize,
    limit: usize,
}

impl TooLarge {
    /// The section that does not fit.
    pub fn section(&self) -> Section {
        self.section
    }

    /// How many entries (or nodes) it needs at least.
    pub fn needed(&self) -> usize {
        self.needed
    }

    /// The limit it passes.
    pub fn limit(&self) -> usize {
        self.limit
    }
}

/// The shape of one compiled section, for tests and benchmarks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SectionStats {
    /// Rules in the section.
    pub rules: usize,
    /// Nodes in its structure.
    pub nodes: usize,
    /// Rule entries across its leaves.
    pub leaf_entries: usize,
    /// Longest chain of splits.
    pub depth: usize,
}

/// A policy compiled for deciding. Cheap to share (`Send + Sync`); build
/// one per policy version.
#[derive(Debug)]
pub struct CompiledPolicy {
    policy: Policy,
    preds: Box<[Pred]>,
    sections: [SectionIndex; 6],
    /// The `requested_max_tokens` slot, when declared.
    requested: Option<AttrId>,
}

/// Compile a checked policy with the default [`CompileLimits`].
pub fn compile(policy: Policy) -> Result<CompiledPolicy, CompileError> {
    compile_with(policy, CompileLimits::default())
}

/// Compile a checked policy.
pub fn compile_with(policy: Policy, limits: CompileLimits) -> Result<CompiledPolicy, CompileError> {
    let (preds, sections) = build_sections(&policy, limits)?;
    Ok(CompiledPolicy {
        requested: policy.schema().id("requested_max_tokens"),
        policy,
        preds,
        sections,
    })
}

/// A section's place in [`Section::ALL`] (and in `CompiledPolicy::sections`).
fn position(s: Section) -> usize {
    match s {
        Section::Route => 0,
        Section::Cache => 1,
        Section::PromptCache => 2,
        Section::Batch => 3,
        Section::Limit => 4,
        Section::Budget => 5,
    }
}

type Built = (Box<[Pred]>, [SectionIndex; 6]);

fn build_sections(policy: &Policy, limits: CompileLimits) -> Result<Built, CompileError> {
    let dispatch: Vec<Dispatch> = policy
        .schema()
        .iter()
        .map(|(_, d)| Dispatch::of(SlotKind::of(d.ty)))
        .collect();
    let mut pool = PredPool::new(policy.schema());
    let specs = [
        specs(&policy.routes, |_| None, &mut pool, &dispatch),
        specs(
            &policy.caches,
            |c| match c.scope {
                Scope::Global => None,
                Scope::Attr(a) => Some(a),
            },
            &mut pool,
            &dispatch,
        ),
        specs(&policy.prompt_caches, |_| None, &mut pool, &dispatch),
        specs(&policy.batches, |_| None, &mut pool, &dispatch),
        specs(&policy.limits, |_| None, &mut pool, &dispatch),
        specs(&policy.budgets, |_| None, &mut pool, &dispatch),
    ];
    let limits = Limits {
        max_nodes: limits.max_nodes,
        max_leaf_entries: limits.max_leaf_entries,
    };
    let mut sections: [SectionIndex; 6] = Default::default();
    for ((section, specs), out) in Section::ALL.into_iter().zip(&specs).zip(&mut sections) {
        *out = build::build(specs, &dispatch, pool.preds(), limits).map_err(|o| TooLarge {
            policy: policy.name().to_owned(),
            section,
            what: o.what,
            needed: o.needed,
            limit: o.limit,
        })?;
    }
    Ok((pool.into_preds().into_boxed_slice(), sections))
}

impl CompiledPolicy {
    /// Decide every section for one request: exactly what
    /// [`decide_reference`] decides, without allocating.
    pub fn decide(&self, ctx: &Context<'_>) -> Decision {
        match self.try_decide(ctx) {
            Ok(d) => d,
            Err(Bail) => decide_reference(&self.policy, ctx),
        }
    }

    #[inline]
    fn first(&self, s: Section, ctx: &Context<'_>) -> Result<Option<RuleIdx>, Bail> {
        match self.sections.get(position(s)) {
            Some(index) => Ok(index.first(&self.preds, ctx.slots())?.map(RuleIdx)),
            None => Ok(None),
        }
    }

    fn try_decide(&self, ctx: &Context<'_>) -> Result<Decision, Bail> {
        let route = self.first(Section::Route, ctx)?;
        let rule = route.and_then(|r| self.policy.routes.get(r.index()));
        let model = rule.map_or(self.policy.default_model(), |r| r.then.model);
        let limit = self.first(Section::Limit, ctx)?;
        // As `decision::requested_cap`, with the slot resolved once.
        let requested = self.requested.and_then(|id| match ctx.get(id) {
            Slot::Int(i) if i > 0 => Some(u32::try_from(i).unwrap_or(u32::MAX)),
            _ => None,
        });
        Ok(Decision {
            route,
            model,
            max_output_tokens: effective_cap(&self.policy, requested, route, model, limit),
            service_tier: rule.and_then(|r| r.then.service_tier),
            latency: rule.and_then(|r| r.then.latency),
            cache: self.first(Section::Cache, ctx)?,
            prompt_cache: self.first(Section::PromptCache, ctx)?,
            batch: self.first(Section::Batch, ctx)?,
            limit,
            budget: self.first(Section::Budget, ctx)?,
        })
    }

    /// The checked policy this was compiled from.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The policy's content hash (xxh3-128 of its source files).
    pub fn hash(&self) -> u128 {
        self.policy.hash()
    }

    /// The shape of a section's compiled structure.
    pub fn stats(&self, s: Section) -> SectionStats {
        let rules = self.policy.section_rules(s).len();
        match self.sections.get(position(s)) {
            Some(i) => SectionStats {
                rules,
                nodes: i.nodes.len(),
                leaf_entries: i.leaf_entries,
                depth: i.depth,
            },
            None => SectionStats {
                rules,
                nodes: 0,
                leaf_entries: 0,
                depth: 0,
            },
        }
    }
}
