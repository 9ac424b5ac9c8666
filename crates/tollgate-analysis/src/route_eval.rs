//! Route evaluation: a policy's `[[route]]` section run over prompts whose
//! quality on a strong and a weak model is known, scored against sending
//! everything to the strong model.
//!
//! Each prompt is classified ([`crate::classify`]), the attributes the
//! policy declares are set, and the compiled policy decides; only the
//! route section's model is used. The routed model's recorded quality and
//! its price (the policy's model prices, which come from the shipped price
//! table when the policy gives none; on demand, no caching) are summed per
//! dataset and overall, next to two reference routers: all-strong and
//! all-weak.
//!
//! **Learned routers.** When the policy has `[routers.NAME]` tables, each
//! prompt is scored before `decide()` and `NAME.gain` and
//! `NAME.gain_per_usd` are set ([`tollgate_engine::score_routers`]). A string
//! attribute `feature`, when declared, is set to the dataset name: the
//! application feature the prompt belongs to, which an application always
//! knows.
//!
//! **Floors.** Each dataset's quality kept (routed quality / all-strong
//! quality) is compared with its floor (`floors`, else `default_floor`);
//! a dataset below it is flagged in the text and JSON reports.
//!
//! **Random router.** Beside all-strong and all-weak, the report gives a
//! router that sends each prompt to the strong model with a fixed
//! probability, chosen so its expected quality equals the policy's: its
//! expected strong share and saving show what the policy's rules add over
//! chance.
//!
//! **Split.** A rule file tuned on the prompts it is scored on flatters
//! itself, so prompts are split by the xxh3-64 hash of their id: even =
//! the *tune* half, odd = the *report* half ([`Split`]).

use crate::classify::{classify, ATTRIBUTES};
use crate::evals::EvalPrompt;
use crate::report::{group, money, usd};
use serde_json::{json, Value};
use tollgate_cost::{price_lenient, Mode, Usage};
use tollgate_engine::score_routers;
use tollgate_engine::{CompiledPolicy, Context};
use tollgate_lang::Prices;
use tollgate_lang::Type;

/// Which half of the prompts to score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Split {
    /// xxh3-64 of the id is even: the half rules are written on.
    Tune,
    /// xxh3-64 of the id is odd: the half figures are reported on.
    #[default]
    Report,
    /// Every prompt.
    All,
}

impl Split {
    /// From the command-line name.
    pub fn parse(s: &str) -> Option<Split> {
        Some(match s {
            "tune" => Split::Tune,
            "report" => Split::Report,
            "all" => Split::All,
            _ => return None,
        })
    }

    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Split::Tune => "tune",
            Split::Report => "report",
            Split::All => "all",
        }
    }

    /// Whether a prompt id falls in this split.
    pub fn contains(self, id: &str) -> bool {
        let even = xxhash_rust::xxh3::xxh3_64(id.as_bytes()).is_multiple_of(2);
        match self {
            Split::Tune => even,
            Split::Report => !even,
            Split::All => true,
        }
    }
}

/// How to evaluate.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteEvalOptions {
    /// Model alias that stands for the strong model of the data.
    pub strong: String,
    /// Model alias that stands for the weak model of the data.
    pub weak: String,
    /// Which prompts.
    pub split: Split,
    /// Quality-kept floor per dataset, 0 to 1.
    pub floors: std::collections::BTreeMap<String, f64>,
    /// Floor of datasets not in `floors`.
    pub default_floor: f64,
}

/// The floor `route-eval` holds a dataset to when none is given.
pub const DEFAULT_FLOOR: f64 = 0.90;

impl Default for RouteEvalOptions {
    fn default() -> Self {
        RouteEvalOptions {
            strong: "strong".into(),
            weak: "weak".into(),
            split: Split::Report,
            floors: std::collections::BTreeMap::new(),
            default_floor: DEFAULT_FLOOR,
        }
    }
}

impl RouteEvalOptions {
    /// A dataset's floor.
    pub fn floor(&self, dataset: &str) -> f64 {
        self.floors
            .get(dataset)
            .copied()
            .unwrap_or(self.default_floor)
    }
}

/// Why an evaluation could not run.
#[derive(Debug, thiserror::Error)]
pub enum RouteEvalError {
    /// The alias is not a model of the policy.
    #[error("the policy has no model `{0}` (models: {1})")]
    UnknownModel(String, String),
    /// A classifier attribute is declared with another type.
    #[error("the policy declares `{name}` as {declared}; the classifier computes {computed}")]
    AttributeType {
        /// Attribute.
        name: String,
        /// In the policy.
        declared: Type,
        /// By the classifier.
        computed: Type,
    },
    /// The policy routes to a model that is neither.
    #[error("prompt `{prompt}` is routed to `{model}`, which is neither the strong (`{strong}`) nor the weak (`{weak}`) model")]
    OtherModel {
        /// Prompt id.
        prompt: String,
        /// Alias routed to.
        model: String,
        /// Strong alias.
        strong: String,
        /// Weak alias.
        weak: String,
    },
}

/// Sums over a set of prompts: the policy's choice and both references.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tally {
    /// Prompts.
    pub prompts: u64,
    /// Routed to the strong model.
    pub to_strong: u64,
    /// Quality of the routed choice, per mille, summed.
    pub quality_routed: u64,
    /// Quality of the strong model, summed.
    pub quality_strong: u64,
    /// Quality of the weak model, summed.
    pub quality_weak: u64,
    /// Cost of the routed choice, nano-dollars.
    pub cost_routed: u128,
    /// Cost of all on the strong model.
    pub cost_strong: u128,
    /// Cost of all on the weak model.
    pub cost_weak: u128,
}

/// The random router at a given quality: (expected strong share, expected
/// cost), when the two models' qualities differ.
pub fn random_at(t: &Tally, quality_sum: u64) -> Option<(f64, f64)> {
    let (qs, qw) = (t.quality_strong as f64, t.quality_weak as f64);
    if t.prompts == 0 || qs <= qw {
        return None;
    }
    let p = ((quality_sum as f64 - qw) / (qs - qw)).clamp(0.0, 1.0);
    Some((p, p * t.cost_strong as f64 + (1.0 - p) * t.cost_weak as f64))
}

impl Tally {
    fn add(&mut self, o: &Tally) {
        self.prompts += o.prompts;
        self.to_strong += o.to_strong;
        self.quality_routed += o.quality_routed;
        self.quality_strong += o.quality_strong;
        self.quality_weak += o.quality_weak;
        self.cost_routed += o.cost_routed;
        self.cost_strong += o.cost_strong;
        self.cost_weak += o.cost_weak;
    }

    /// Mean quality of a sum, 0 to 1.
    pub fn mean(&self, quality_sum: u64) -> f64 {
        if self.prompts == 0 {
            0.0
        } else {
            quality_sum as f64 / self.prompts as f64 / 1000.0
        }
    }

    /// A quality sum as a share of all-strong's, percent.
    pub fn kept_pct(&self, quality_sum: u64) -> f64 {
        if self.quality_strong == 0 {
            0.0
        } else {
            quality_sum as f64 / self.quality_strong as f64 * 100.0
        }
    }

    /// A cost saved against all-strong, percent.
    pub fn saved_pct(&self, cost: u128) -> f64 {
        crate::report::savings_pct(self.cost_strong, cost)
    }

    /// The three routers' rows: (name, share to strong, quality sum, cost).
    pub fn rows(&self) -> [(&'static str, u64, u64, u128); 3] {
        [
            (
                "policy",
                self.to_strong,
                self.quality_routed,
                self.cost_routed,
            ),
            (
                "all-strong",
                self.prompts,
                self.quality_strong,
                self.cost_strong,
            ),
            ("all-weak", 0, self.quality_weak, self.cost_weak),
        ]
    }
}

/// A model as the report names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelName {
    /// Policy alias.
    pub alias: String,
    /// Bedrock model id.
    pub id: String,
}

/// The result of an evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteEvalReport {
    /// `[policy] name`.
    pub policy: String,
    /// The split scored.
    pub split: Split,
    /// The strong model.
    pub strong: ModelName,
    /// The weak model.
    pub weak: ModelName,
    /// Per dataset, in first-seen order.
    pub by_dataset: Vec<(String, Tally)>,
    /// Per route rule (`(default model)` for none), in policy order.
    pub by_rule: Vec<(String, Tally)>,
    /// Everything.
    pub overall: Tally,
    /// Notes.
    pub notes: Vec<String>,
    /// Floor per dataset, in `by_dataset` order.
    pub floors: Vec<f64>,
}

fn cost(prices: &Prices, input: u64, output: u64) -> u128 {
    u128::from(
        price_lenient(prices, &Usage::new(input, output), Mode::Realtime)
            .0
            .total_nanos,
    )
}

/// Evaluates a policy's routing on prompts (see the module docs).
pub fn route_eval(
    compiled: &CompiledPolicy,
    prompts: &[EvalPrompt],
    opts: &RouteEvalOptions,
) -> Result<RouteEvalReport, RouteEvalError> {
    let p = compiled.policy();
    let schema = &p.schema();
    let model = |alias: &str| {
        p.model_by_alias(alias)
            .and_then(|i| p.model(i).map(|m| (i, m)))
            .ok_or_else(|| {
                let all: Vec<&str> = p.models().iter().map(|m| m.alias.as_str()).collect();
                RouteEvalError::UnknownModel(alias.to_owned(), all.join(", "))
            })
    };
    let (strong_i, strong) = model(&opts.strong)?;
    let (weak_i, weak) = model(&opts.weak)?;
    let mut ids = Vec::with_capacity(ATTRIBUTES.len());
    for &(name, computed) in ATTRIBUTES {
        let id = schema.id(name);
        if let Some(d) = id.and_then(|i| schema.get(i)) {
            if d.ty != computed {
                return Err(RouteEvalError::AttributeType {
                    name: name.to_owned(),
                    declared: d.ty,
                    computed,
                });
            }
        }
        ids.push(id);
    }
    let mut by_dataset: Vec<(String, Tally)> = Vec::new();
    let mut by_rule: Vec<(String, Tally)> = std::iter::once("(default model)")
        .chain(p.routes.iter().map(|r| r.name.as_str()))
        .map(|n| (n.to_owned(), Tally::default()))
        .collect();
    let feature_id = schema
        .id("feature")
        .filter(|&i| schema.get(i).is_some_and(|d| d.ty == Type::String));
    let mut ctx = Context::new(schema);
    for e in prompts.iter().filter(|e| opts.split.contains(&e.id)) {
        let c = classify(&e.text);
        let input = c.input_tokens + e.extra_input_tokens;
        ctx.clear();
        let ints = [c.prompt_chars, input, c.number_count];
        let bools = [c.has_math, c.has_code, c.asks_reasoning, c.multiple_choice];
        for (k, id) in ids.iter().enumerate() {
            let Some(id) = *id else { continue };
            if let Some(v) = ints.get(k) {
                ctx.set_int(id, i64::try_from(*v).unwrap_or(i64::MAX));
            } else if let Some(v) = k.checked_sub(ints.len()).and_then(|b| bools.get(b)) {
                ctx.set_bool(id, *v);
            } else {
                ctx.set_str(id, &e.subject);
            }
        }
        if let Some(id) = feature_id {
            ctx.set_str(id, &e.dataset);
        }
        score_routers(p, &mut ctx, &e.text);
        let d = compiled.decide(&ctx);
        let to_strong = if d.model == strong_i {
            true
        } else if d.model == weak_i {
            false
        } else {
            return Err(RouteEvalError::OtherModel {
                prompt: e.id.clone(),
                model: p
                    .model(d.model)
                    .map(|m| m.alias.clone())
                    .unwrap_or_default(),
                strong: strong.alias.clone(),
                weak: weak.alias.clone(),
            });
        };
        let cs = cost(&strong.prices, input, e.strong_output_tokens);
        let cw = cost(&weak.prices, input, e.weak_output_tokens);
        let t = Tally {
            prompts: 1,
            to_strong: u64::from(to_strong),
            quality_routed: if to_strong {
                e.strong_quality
            } else {
                e.weak_quality
            },
            quality_strong: e.strong_quality,
            quality_weak: e.weak_quality,
            cost_routed: if to_strong { cs } else { cw },
            cost_strong: cs,
            cost_weak: cw,
        };
        match by_dataset.iter_mut().find(|(n, _)| *n == e.dataset) {
            Some((_, x)) => x.add(&t),
            None => by_dataset.push((e.dataset.clone(), t)),
        }
        if let Some((_, x)) = by_rule.get_mut(d.route.map_or(0, |r| r.index() + 1)) {
            x.add(&t);
        }
    }
    let mut overall = Tally::default();
    for (_, t) in &by_dataset {
        overall.add(t);
    }
    let floors = by_dataset.iter().map(|(n, _)| opts.floor(n)).collect();
    Ok(RouteEvalReport {
        floors,
        policy: p.name().to_owned(),
        split: opts.split,
        strong: ModelName {
            alias: strong.alias.clone(),
            id: strong.id.clone(),
        },
        weak: ModelName {
            alias: weak.alias.clone(),
            id: weak.id.clone(),
        },
        by_dataset,
        by_rule: by_rule.into_iter().filter(|(_, t)| t.prompts > 0).collect(),
        overall,
        notes: Vec::new(),
    })
}

fn pct(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64 * 100.0
    }
}

impl RouteEvalReport {
    /// The report as text.
    pub fn to_text(&self) -> String {
        let mut s = format!(
            "policy `{}` on the {} split, {} prompts\nstrong = `{}` ({}), weak = `{}` ({}); quality 0 to 1 (correct = 1, MT-Bench score / 10)\n\n",
            self.policy,
            self.split.name(),
            group(self.overall.prompts),
            self.strong.alias,
            self.strong.id,
            self.weak.alias,
            self.weak.id
        );
        s += &format!(
            "{:<10} {:<11} {:>7} {:>8} {:>8} {:>7} {:>11} {:>7}\n",
            "dataset", "router", "prompts", "strong%", "quality", "kept%", "cost", "saved%"
        );
        let all = std::iter::once(("overall".to_owned(), self.overall));
        for (name, t) in self.by_dataset.iter().cloned().chain(all) {
            if let Some((p, c)) = random_at(&t, t.quality_routed) {
                let saved = if t.cost_strong == 0 {
                    0.0
                } else {
                    (1.0 - c / t.cost_strong as f64) * 100.0
                };
                s += &format!(
                    "{:<10} {:<11} {:>7} {:>8.1} {:>8.3} {:>7.1} {:>11} {:>7.1}\n",
                    name,
                    "random",
                    group(t.prompts),
                    p * 100.0,
                    t.mean(t.quality_routed),
                    t.kept_pct(t.quality_routed),
                    money(c.round() as u128),
                    saved
                );
            }
            for (router, strong, q, c) in t.rows() {
                s += &format!(
                    "{:<10} {:<11} {:>7} {:>8.1} {:>8.3} {:>7.1} {:>11} {:>7.1}\n",
                    name,
                    router,
                    group(t.prompts),
                    pct(strong, t.prompts),
                    t.mean(q),
                    t.kept_pct(q),
                    money(c),
                    t.saved_pct(c)
                );
            }
        }
        s += &format!(
            "\n{:<28} {:>7} {:>8} {:>8} {:>8} {:>8}\n",
            "by rule", "prompts", "strong%", "routed", "strong", "weak"
        );
        for (name, t) in &self.by_rule {
            s += &format!(
                "  {:<26} {:>7} {:>8.1} {:>8.3} {:>8.3} {:>8.3}\n",
                name,
                group(t.prompts),
                pct(t.to_strong, t.prompts),
                t.mean(t.quality_routed),
                t.mean(t.quality_strong),
                t.mean(t.quality_weak)
            );
        }
        for ((name, t), floor) in self.by_dataset.iter().zip(&self.floors) {
            let kept = t.kept_pct(t.quality_routed);
            if kept < floor * 100.0 {
                s += &format!(
                    "BELOW FLOOR: `{name}` keeps {kept:.1}% of all-strong quality, its floor is {:.1}%\n",
                    floor * 100.0
                );
            }
        }
        for n in &self.notes {
            s += &format!("note: {n}\n");
        }
        s
    }

    /// Datasets whose quality kept is below their floor.
    pub fn below_floor(&self) -> Vec<&str> {
        self.by_dataset
            .iter()
            .zip(&self.floors)
            .filter(|((_, t), f)| t.kept_pct(t.quality_routed) < **f * 100.0)
            .map(|((n, _), _)| n.as_str())
            .collect()
    }

    /// The report as one JSON object.
    pub fn to_json(&self) -> Value {
        let tally = |name: &str, t: &Tally| {
            let router = |strong: u64, q: u64, c: u128| {
                json!({
                    "strong_share": if t.prompts == 0 { 0.0 } else { strong as f64 / t.prompts as f64 },
                    "quality": t.mean(q),
                    "quality_kept_pct": t.kept_pct(q),
                    "quality_per_mille_sum": q,
                    "cost_usd": usd(c),
                    "cost_nanos": u64::try_from(c).unwrap_or(u64::MAX),
                    "saved_pct": t.saved_pct(c),
                })
            };
            let random = random_at(t, t.quality_routed).map(|(p, c)| {
                json!({
                    "strong_share": p,
                    "quality_kept_pct": t.kept_pct(t.quality_routed),
                    "cost_usd": c / 1e9,
                    "saved_pct": if t.cost_strong == 0 { 0.0 } else { (1.0 - c / t.cost_strong as f64) * 100.0 },
                })
            });
            json!({
                "name": name,
                "prompts": t.prompts,
                "policy": router(t.to_strong, t.quality_routed, t.cost_routed),
                "all_strong": router(t.prompts, t.quality_strong, t.cost_strong),
                "all_weak": router(0, t.quality_weak, t.cost_weak),
                "random_same_quality": random,
            })
        };
        let by_dataset: Vec<Value> = self
            .by_dataset
            .iter()
            .zip(&self.floors)
            .map(|((n, t), f)| {
                let mut v = tally(n, t);
                if let Some(o) = v.as_object_mut() {
                    o.insert("floor_pct".into(), json!(f * 100.0));
                    o.insert(
                        "below_floor".into(),
                        json!(t.kept_pct(t.quality_routed) < f * 100.0),
                    );
                }
                v
            })
            .collect();
        json!({
            "policy": self.policy,
            "split": self.split.name(),
            "strong": {"alias": self.strong.alias, "id": self.strong.id},
            "weak": {"alias": self.weak.alias, "id": self.weak.id},
            "overall": tally("overall", &self.overall),
            "by_dataset": by_dataset,
            "by_rule": self.by_rule.iter().map(|(n, t)| tally(n, t)).collect::<Vec<_>>(),
            "notes": self.notes,
        })
    }
}
