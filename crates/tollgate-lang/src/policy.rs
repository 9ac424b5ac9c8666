//! The checked policy: what a rule file means once every name is resolved.
//!
//! Sections are ordered first-match lists of [`Rule`]s; each rule carries a
//! condition (`None` = always) and the section's payload. Models are indexed
//! by [`ModelIdx`], attributes by [`AttrId`].
//!
//! [`Policy`] keeps its fields private: only the loader builds one, so its
//! hash and every index in it describe what was loaded. The parts it hands
//! out ([`Sections`], [`Rule`], [`Model`], the section payloads) are plain
//! data with public fields: a policy gives them out by shared reference
//! only, so a field edit changes a copy, never a policy.

use crate::expr::TExpr;
use crate::pricing::{Latency, Prices, Tier};
use crate::schema::{AttrId, Schema};
use crate::source::{SourceMap, Span};

/// Index of a model in [`Policy::models`]: handed out by the loader (in
/// rules, decisions) and by [`Policy::model_by_alias`], valid for that
/// policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ModelIdx(pub(crate) u32);

impl ModelIdx {
    /// As a `usize`.
    #[inline]
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// A `[models.ALIAS]` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    /// The alias rules use.
    pub alias: String,
    /// Bedrock model id, inference profile or ARN.
    pub id: String,
    /// Prices per token, inline or from the price table.
    pub prices: Prices,
    /// The model's own output cap.
    pub max_output_tokens: Option<u32>,
    /// Minimum prefix for a prompt-cache point.
    pub prompt_cache_min_tokens: Option<u32>,
    /// Where the alias is defined.
    pub span: Span,
}

/// The five sections plus budgets, in docs/design.md's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Section {
    /// `[[route]]`
    Route,
    /// `[[cache]]`
    Cache,
    /// `[[prompt_cache]]`
    PromptCache,
    /// `[[batch]]`
    Batch,
    /// `[[limit]]`
    Limit,
    /// `[[budget]]`
    Budget,
}

impl Section {
    /// All sections in order.
    pub const ALL: [Section; 6] = [
        Section::Route,
        Section::Cache,
        Section::PromptCache,
        Section::Batch,
        Section::Limit,
        Section::Budget,
    ];

    /// The section's TOML name (and JSON key).
    pub fn name(self) -> &'static str {
        match self {
            Section::Route => "route",
            Section::Cache => "cache",
            Section::PromptCache => "prompt_cache",
            Section::Batch => "batch",
            Section::Limit => "limit",
            Section::Budget => "budget",
        }
    }
}

/// One rule of a section.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule<T> {
    /// Unique within its section.
    pub name: String,
    /// The `when` condition; `None` means always.
    pub when: Option<TExpr>,
    /// Where the rule's table starts (its `name` value).
    pub span: Span,
    /// Section-specific payload.
    pub then: T,
}

/// `[[route]]` payload.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    /// The model that serves.
    pub model: ModelIdx,
    /// Output cap this rule sets.
    pub max_output_tokens: Option<u32>,
    /// Models to try on throttling / model-not-ready, in order.
    pub fallback: Vec<ModelIdx>,
    /// The service tier asked for (`default`, `flex` or `priority`; never
    /// `reserved`); `None`: the request's own.
    pub service_tier: Option<Tier>,
    /// The latency option asked for; `None`: the request's own.
    pub latency: Option<Latency>,
    /// A throttled `flex` attempt is retried on the same model at the
    /// default tier before any fallback model (default true).
    pub tier_fallback: bool,
}

/// A request part a response-cache key covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyField {
    /// The system prompt.
    System,
    /// The conversation messages.
    Messages,
    /// The `retrieval_ids` attribute.
    RetrievalIds,
    /// The routed model id.
    Model,
    /// Inference parameters (temperature, top-p, max tokens, stop sequences).
    Inference,
    /// Tool definitions.
    Tools,
}

impl KeyField {
    /// All fields with their TOML names.
    pub const ALL: [(&'static str, KeyField); 6] = [
        ("system", KeyField::System),
        ("messages", KeyField::Messages),
        ("retrieval_ids", KeyField::RetrievalIds),
        ("model", KeyField::Model),
        ("inference", KeyField::Inference),
        ("tools", KeyField::Tools),
    ];

    /// The TOML name.
    pub fn name(self) -> &'static str {
        KeyField::ALL
            .iter()
            .find(|(_, f)| *f == self)
            .map(|(n, _)| *n)
            .unwrap_or("")
    }
}

/// Whose entries a cache rule may share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Everyone.
    Global,
    /// Only requests with the same value of this string attribute.
    Attr(AttrId),
}

/// Text normalisation before keying.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Normalize {
    /// Collapse runs of white space and trim.
    Whitespace,
}

/// `[[cache]]` payload.
#[derive(Debug, Clone, PartialEq)]
pub struct Cache {
    /// Fields hashed into the key, in canonical order, without duplicates.
    pub key: Vec<KeyField>,
    /// Sharing scope.
    pub scope: Scope,
    /// Entry lifetime, seconds.
    pub ttl_s: u64,
    /// Bump to invalidate the rule's entries.
    pub version: u32,
    /// Optional text normalisation.
    pub normalize: Option<Normalize>,
    /// Cache responses cut by `max_tokens` too.
    pub cache_truncated: bool,
    /// Cache answers that stop to call a tool (`stopReason = tool_use`)
    /// too; off by default, since such an answer is one turn of an agent
    /// loop whose tools may answer differently next time.
    pub cache_tool_use: bool,
}

/// Where a Bedrock cache point may go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CachePointSite {
    /// After the tool definitions.
    Tools,
    /// After the system prompt.
    System,
    /// After the conversation so far.
    Messages,
}

impl CachePointSite {
    /// All sites with their TOML names.
    pub const ALL: [(&'static str, CachePointSite); 3] = [
        ("tools", CachePointSite::Tools),
        ("system", CachePointSite::System),
        ("messages", CachePointSite::Messages),
    ];

    /// The TOML name.
    pub fn name(self) -> &'static str {
        match self {
            CachePointSite::Tools => "tools",
            CachePointSite::System => "system",
            CachePointSite::Messages => "messages",
        }
    }
}

/// `[[prompt_cache]]` payload.
#[derive(Debug, Clone, PartialEq)]
pub struct PromptCache {
    /// Candidate sites, in prompt order (tools, system, messages).
    pub points: Vec<CachePointSite>,
    /// 300 or 3600 seconds.
    pub ttl_s: u64,
    /// Reads expected per write before any history is observed.
    pub expected_reuse: Option<f64>,
}

/// `[[batch]]` payload.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Batch {}

/// The repetition detector's tuning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repetition {
    /// n-gram length, in words.
    pub ngram: u32,
    /// Repeats in the tail that trigger a cancel.
    pub repeats: u32,
}

impl Default for Repetition {
    fn default() -> Self {
        Repetition {
            ngram: 8,
            repeats: 4,
        }
    }
}

/// `[[limit]]` payload.
#[derive(Debug, Clone, PartialEq)]
pub struct Limit {
    /// Output cap.
    pub max_output_tokens: Option<u32>,
    /// Attempts, the first included.
    pub max_attempts: Option<u32>,
    /// Retries may add at most this share (percent) to the feature's spend.
    pub retry_budget_pct: Option<f64>,
    /// Cancel a stream that repeats itself.
    pub cancel_on_repetition: bool,
    /// Detector tuning.
    pub repetition: Repetition,
}

/// What happens when a budget is spent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BudgetAction {
    /// Refuse the call.
    Reject,
    /// Serve it with this model instead.
    Downgrade(ModelIdx),
}

/// `[[budget]]` payload.
#[derive(Debug, Clone, PartialEq)]
pub struct Budget {
    /// Daily limit, nano-dollars.
    pub daily_nanos: u64,
    /// The string attribute spend is grouped by; `None` = one global group.
    pub group_by: Option<AttrId>,
    /// What happens once spent.
    pub action: BudgetAction,
}

/// `[alerts.spend_spike]`.
#[derive(Debug, Clone, PartialEq)]
pub struct SpendSpike {
    /// Today's spend vs the trailing mean.
    pub factor: f64,
    /// Days in the trailing mean.
    pub trailing_days: u32,
    /// Ignore groups spending less than this per day (nano-dollars).
    pub min_daily_nanos: u64,
    /// Attribute spend is grouped by.
    pub group_by: Option<AttrId>,
}

/// What a `[[test]]` expects of one section: a rule name, or no match.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// `"none"`: no rule of the section matches.
    None,
    /// This rule decides.
    Rule(String),
}

/// A `[[test]]` case.
#[derive(Debug, Clone, PartialEq)]
pub struct TestCase {
    /// Test name.
    pub name: String,
    /// Where it is defined.
    pub span: Span,
    /// The request, as JSON (nested tables flatten to dotted names).
    pub request: serde_json::Map<String, serde_json::Value>,
    /// Expected rule per section; sections left out are not checked.
    pub expect: Vec<(Section, Expect)>,
    /// Expected model alias.
    pub expect_model: Option<String>,
    /// Expected effective output cap (`0` = no cap expected... use `None` for unchecked).
    pub expect_max_output_tokens: Option<Option<u32>>,
    /// Expected route service tier (`Some(None)`: the route sets none).
    pub expect_service_tier: Option<Option<Tier>>,
    /// Expected route latency (`Some(None)`: the route sets none).
    pub expect_latency: Option<Option<Latency>>,
}

/// The rule sections of a policy, each an ordered first-match list: the
/// one list of sections the loader fills, the [`Policy`] holds and the
/// lints read.
#[derive(Debug, Clone, Default)]
pub struct Sections {
    /// `[[route]]`
    pub routes: Vec<Rule<Route>>,
    /// `[[cache]]`
    pub caches: Vec<Rule<Cache>>,
    /// `[[prompt_cache]]`
    pub prompt_caches: Vec<Rule<PromptCache>>,
    /// `[[batch]]`
    pub batches: Vec<Rule<Batch>>,
    /// `[[limit]]`
    pub limits: Vec<Rule<Limit>>,
    /// `[[budget]]`
    pub budgets: Vec<Rule<Budget>>,
}

impl Sections {
    /// Names and conditions of a section's rules, in order.
    pub fn rules(&self, s: Section) -> Vec<(&str, Option<&TExpr>, Span)> {
        fn pick<T>(r: &[Rule<T>]) -> Vec<(&str, Option<&TExpr>, Span)> {
            r.iter()
                .map(|r| (r.name.as_str(), r.when.as_ref(), r.span))
                .collect()
        }
        match s {
            Section::Route => pick(&self.routes),
            Section::Cache => pick(&self.caches),
            Section::PromptCache => pick(&self.prompt_caches),
            Section::Batch => pick(&self.batches),
            Section::Limit => pick(&self.limits),
            Section::Budget => pick(&self.budgets),
        }
    }

    /// Total number of rules across sections.
    pub fn rule_count(&self) -> usize {
        self.routes.len()
            + self.caches.len()
            + self.prompt_caches.len()
            + self.batches.len()
            + self.limits.len()
            + self.budgets.len()
    }
}

/// A loaded, checked policy.
///
/// Only the loader ([`load_str`](crate::load_str),
/// [`load_path`](crate::load_path), [`load_sources`](crate::load_sources))
/// builds one, and nothing edits it afterwards: every index in it points
/// into its own tables and [`hash`](Policy::hash) is the hash of exactly
/// what was loaded. Read it through the accessors; its rule sections also
/// read as its own (`policy.routes`) through [`Deref`](std::ops::Deref) to
/// the read-only [`Sections`]. To change a policy, change its text and load
/// it again.
#[derive(Debug, Clone)]
pub struct Policy {
    pub(crate) name: String,
    pub(crate) default_model: ModelIdx,
    pub(crate) redact: Vec<AttrId>,
    pub(crate) schema: Schema,
    pub(crate) declared: Vec<AttrId>,
    pub(crate) models: Vec<Model>,
    pub(crate) sections: Sections,
    pub(crate) spend_spike: Option<SpendSpike>,
    pub(crate) tests: Vec<TestCase>,
    pub(crate) routers: Vec<crate::router::Router>,
    pub(crate) sources: SourceMap,
    pub(crate) hash: u128,
    pub(crate) price_table: std::sync::Arc<crate::pricing::PriceTable>,
}

impl Policy {
    /// `[policy] name`.
    #[inline]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The model served when no route matches.
    #[inline]
    pub fn default_model(&self) -> ModelIdx {
        self.default_model
    }

    /// Attributes never recorded in call events (`prompt` always among
    /// them when the schema has it).
    #[inline]
    pub fn redact(&self) -> &[AttrId] {
        &self.redact
    }

    /// The attribute schema rules were checked against (the policy's own
    /// `[attributes]`, or the embedder's schema).
    #[inline]
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// Attributes the policy itself declares (a subset of
    /// [`schema`](Policy::schema)).
    #[inline]
    pub fn declared(&self) -> &[AttrId] {
        &self.declared
    }

    /// Models, by [`ModelIdx`].
    #[inline]
    pub fn models(&self) -> &[Model] {
        &self.models
    }

    /// The rule sections (also reachable as the policy's own through
    /// [`Deref`](std::ops::Deref): `policy.routes`).
    #[inline]
    pub fn sections(&self) -> &Sections {
        &self.sections
    }

    /// `[alerts.spend_spike]`.
    #[inline]
    pub fn spend_spike(&self) -> Option<&SpendSpike> {
        self.spend_spike.as_ref()
    }

    /// `[[test]]` cases, in file order.
    #[inline]
    pub fn tests(&self) -> &[TestCase] {
        &self.tests
    }

    /// `[routers.NAME]`: learned routers whose scores rules read.
    #[inline]
    pub fn routers(&self) -> &[crate::router::Router] {
        &self.routers
    }

    /// The files, for diagnostics and explanations.
    #[inline]
    pub fn sources(&self) -> &SourceMap {
        &self.sources
    }

    /// xxh3-128 of the files (names and bytes, in load order), of the
    /// `[policy] prices` file and of the routers' model files.
    #[inline]
    pub fn hash(&self) -> u128 {
        self.hash
    }

    /// The price table the policy's models are priced from: the built-in
    /// (or the loader's) table overridden by the `[policy] prices` file.
    #[inline]
    pub fn price_table(&self) -> &std::sync::Arc<crate::pricing::PriceTable> {
        &self.price_table
    }

    /// The model behind an index.
    pub fn model(&self, m: ModelIdx) -> Option<&Model> {
        self.models.get(m.index())
    }

    /// Model index by alias.
    pub fn model_by_alias(&self, alias: &str) -> Option<ModelIdx> {
        self.models
            .iter()
            .position(|m| m.alias == alias)
            .map(|i| ModelIdx(i as u32))
    }

    /// The hash as 32 lowercase hex digits.
    pub fn hash_hex(&self) -> String {
        hex32(self.hash)
    }

    /// Names and conditions of a section's rules, in order.
    pub fn section_rules(&self, s: Section) -> Vec<(&str, Option<&TExpr>, Span)> {
        self.sections.rules(s)
    }

    /// Total number of rules across sections.
    pub fn rule_count(&self) -> usize {
        self.sections.rule_count()
    }
}

/// `h` as 32 lowercase hex digits.
fn hex32(h: u128) -> String {
    // By hand rather than `format!("{:032x}")`: every call event carries
    // a policy's hash, and the formatting machinery cost several times this.
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(32);
    for byte in h.to_be_bytes() {
        for nibble in [byte >> 4, byte & 0xf] {
            // A nibble is below 16, so the digit is always there.
            out.push(char::from(
                DIGITS.get(usize::from(nibble)).copied().unwrap_or(b'0'),
            ));
        }
    }
    out
}

impl std::ops::Deref for Policy {
    type Target = Sections;

    fn deref(&self) -> &Sections {
        &self.sections
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a test fails by panicking")]
    use super::hex32;
    use crate::{load_str, LoadOptions};

    #[test]
    fn hash_hex_is_the_hash_in_32_lowercase_hex_digits() {
        let text = "[policy]\nname = \"p\"\ndefault_model = \"haiku\"\n\n\
                    [models.haiku]\nid = \"us.anthropic.claude-3-5-haiku-20241022-v1:0\"\n";
        let p = load_str("p.toml", text, &LoadOptions::default())
            .map_err(|e| e.render())
            .unwrap()
            .policy;
        assert_eq!(p.hash_hex(), format!("{:032x}", p.hash()));
        for h in [
            0,
            1,
            0xf0,
            0x0123_4567_89ab_cdef_fedc_ba98_7654_3210,
            u128::MAX,
        ] {
            assert_eq!(hex32(h), format!("{h:032x}"));
        }
    }
}
