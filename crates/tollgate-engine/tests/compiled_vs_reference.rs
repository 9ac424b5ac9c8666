//! The compiled engine against the reference interpreter: random policies
//! and random requests (attributes missing, values at the edges), plus the
//! cases that matter by name.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use proptest::sample::select;
use tollgate_engine::{
    compile, compile_with, decide_reference, CompileLimits, CompiledPolicy, Context, IntPairs,
    Slot, StrList, StrPairs,
};
use tollgate_lang::Timestamp;
use tollgate_lang::{load_str, LoadOptions, Schema, Type};
use tollgate_lang::{Policy, Section};

// ---------------------------------------------------------------------------
// Policies and requests
// ---------------------------------------------------------------------------

const ATTRIBUTES: &str = r#"
[attributes]
feature = "string"
tier = "string"
tenant = "string"
prompt = "string"
tokens = "int"
n = "int"
requested_max_tokens = "int"
score = "float"
flag = "bool"
tags = "list<string>"
ids = "list<int>"
meta = "map<string, string>"
quota = "map<string,int>"
at = "timestamp"
"#;

const HEADER: &str = r#"
[policy]
name = "generated"
default_model = "sonnet"

[models.sonnet]
id = "us.anthropic.claude-sonnet-4-20250514-v1:0"
max_output_tokens = 4000

[models.haiku]
id = "us.anthropic.claude-3-5-haiku-20241022-v1:0"
"#;

fn load(text: &str) -> Policy {
    match load_str("generated.toml", text, &LoadOptions::default()) {
        Ok(l) => l.policy,
        Err(e) => panic!("generated policy does not load:\n{}\n{text}", e.render()),
    }
}

/// Compile and return both forms.
fn both(text: &str) -> (CompiledPolicy, Policy) {
    let policy = load(text);
    let compiled = compile(policy.clone()).expect("compiles");
    (compiled, policy)
}

/// One request: a value (or nothing) per attribute of [`ATTRIBUTES`].
#[derive(Debug, Clone, Default)]
struct Req {
    feature: Option<String>,
    tier: Option<String>,
    tenant: Option<String>,
    prompt: Option<String>,
    tokens: Option<i64>,
    n: Option<i64>,
    requested: Option<i64>,
    score: Option<f64>,
    flag: Option<bool>,
    tags: Option<Vec<String>>,
    ids: Option<Vec<i64>>,
    meta: Option<Vec<(String, String)>>,
    quota: Option<Vec<(String, i64)>>,
    /// Seconds since the epoch.
    at: Option<i64>,
}

impl Req {
    fn context<'a>(&'a self, schema: &'a Schema) -> Context<'a> {
        let mut ctx = Context::new(schema);
        let id = |name: &str| schema.id(name).expect("declared");
        let mut set = |name: &str, v: Option<Slot<'a>>| {
            if let Some(v) = v {
                ctx.set(id(name), v).expect("well typed");
            }
        };
        set("feature", self.feature.as_deref().map(Slot::Str));
        set("tier", self.tier.as_deref().map(Slot::Str));
        set("tenant", self.tenant.as_deref().map(Slot::Str));
        set("prompt", self.prompt.as_deref().map(Slot::Str));
        set("tokens", self.tokens.map(Slot::Int));
        set("n", self.n.map(Slot::Int));
        set("requested_max_tokens", self.requested.map(Slot::Int));
        set("score", self.score.map(Slot::Float));
        set("flag", self.flag.map(Slot::Bool));
        set(
            "tags",
            self.tags
                .as_deref()
                .map(|t| Slot::StrList(StrList::Strings(t))),
        );
        set("ids", self.ids.as_deref().map(Slot::IntList));
        set(
            "meta",
            self.meta
                .as_deref()
                .map(|m| Slot::StrMap(StrPairs::Strings(m))),
        );
        set(
            "quota",
            self.quota
                .as_deref()
                .map(|m| Slot::IntMap(IntPairs::Strings(m))),
        );
        set(
            "at",
            self.at
                .map(|s| Slot::Timestamp(Timestamp::new(s, 0).expect("in range"))),
        );
        ctx
    }
}

const STRS: [&str; 9] = [
    "a",
    "b",
    "c",
    "free",
    "pro",
    "",
    "hello world",
    "/cmd x",
    "héllo",
];
/// Strings that differ only late, around the lengths where the compiled
/// string tables change how they pack and compare (4, 8, 16 bytes).
const SIMILAR: [&str; 14] = [
    "abcd",
    "abce",
    "abcdefg",
    "abcdefh",
    "abcdefgh",
    "abcdefgi",
    "abcdefghijklmnop",
    "abcdefghijklmnoq",
    "abcdefghijklmnopq",
    "abcdefghijklmnopr",
    "abcdefghXjklmnopq",
    "pro ",
    "prod",
    "abcdéfg",
];
const INTS: [i64; 10] = [-3, -1, 0, 1, 2, 3, 5, 8, 100, 9_223_372_036_854_775_807];

fn str_lit() -> impl Strategy<Value = &'static str> {
    prop_oneof![4 => select(&STRS[..]), 1 => select(&SIMILAR[..])]
}

fn int_lit() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => -3i64..10,
        1 => select(&INTS[..]),
        1 => Just(-9_223_372_036_854_775_807i64),
        1 => Just(4_611_686_018_427_387_904i64),
    ]
    .prop_map(|i| i.to_string())
}

fn float_lit() -> impl Strategy<Value = &'static str> {
    select(
        &[
            "0.5",
            "-1.5",
            "0.0",
            "2.5",
            "3.0",
            "1.0",
            "100000000000000000000.0",
        ][..],
    )
}

fn quoted(v: &[&str]) -> String {
    v.iter()
        .map(|s| format!("\"{s}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

fn int_expr() -> BoxedStrategy<String> {
    let leaf = prop_oneof![
        3 => select(&["tokens", "n", "requested_max_tokens"][..]).prop_map(String::from),
        2 => int_lit(),
        1 => select(&["size(prompt)", "size(tags)", "size(ids)", "feature.size()", "size(meta)", "meta.size()"][..]).prop_map(String::from),
        // Conversions and indexing (errors: out of range, unparsable).
        1 => select(&["int(score)", "int(tier)", "int(\"42\")", "int(-2.5)", "int(1e19)", "ids[0]", "ids[n]", "[5, 6, 7][tokens]", "size(tags[1])"][..]).prop_map(String::from),
        // Int-map lookups (an error when the key is missing), sizes.
        1 => select(&["quota[\"a\"]", "quota[\"pro\"]", "quota[feature]", "quota[tags[0]]", "(flag ? quota : quota)[\"b\"]", "size(quota)", "quota.size()"][..]).prop_map(String::from),
        // Time accessors: constant and computed zones (unknown ones err),
        // durations, conversions that can fail.
        1 => select(&[
            "at.getHours()",
            "at.getHours(\"Europe/Berlin\")",
            "at.getDayOfWeek(\"America/New_York\")",
            "at.getDate(tier)",
            "at.getDayOfMonth(tenant == \"a\" ? \"Asia/Tokyo\" : \"-08:00\")",
            "at.getMonth(\"+05:30\")",
            "at.getFullYear()",
            "at.getDayOfYear(\"Australia/Sydney\")",
            "(at - timestamp(\"2026-03-29T00:00:00Z\")).getMinutes()",
            "timestamp(tokens).getMinutes(\"Asia/Kolkata\")",
            "duration(tier).getSeconds()",
        ][..]).prop_map(String::from),
    ];
    leaf.prop_recursive(2, 6, 2, |inner| {
        prop_oneof![
            (
                inner.clone(),
                select(&["+", "-", "*", "/", "%"][..]),
                inner.clone()
            )
                .prop_map(|(a, o, b)| format!("({a} {o} {b})")),
            inner.clone().prop_map(|a| format!("-({a})")),
            (bool_atom(), inner.clone(), inner).prop_map(|(c, a, b)| format!("({c} ? {a} : {b})")),
        ]
    })
    .boxed()
}

fn float_expr() -> BoxedStrategy<String> {
    let leaf = prop_oneof![
        4 => Just("score".to_string()),
        4 => float_lit().prop_map(String::from),
        1 => select(&["double(tokens)", "double(n)", "double(feature)", "double(\"2.5\")"][..]).prop_map(String::from),
    ];
    leaf.prop_recursive(2, 4, 2, |inner| {
        prop_oneof![
            (
                inner.clone(),
                select(&["+", "-", "*", "/"][..]),
                inner.clone()
            )
                .prop_map(|(a, o, b)| format!("({a} {o} {b})")),
            inner.prop_map(|a| format!("-({a})")),
        ]
    })
    .boxed()
}

fn str_expr() -> BoxedStrategy<String> {
    let leaf = prop_oneof![
        4 => select(&["feature", "tier", "tenant", "prompt"][..]).prop_map(String::from),
        4 => str_lit().prop_map(|s| format!("\"{s}\"")),
        1 => select(&["string(tokens)", "string(score)", "string(flag)", "tags[0]", "tags[n]", "[\"x\", tier][1]"][..]).prop_map(String::from),
        // Map lookups (an error when the key is missing).
        1 => select(&["meta[\"a\"]", "meta[\"pro\"]", "meta[feature]", "meta[tags[0]]", "(flag ? meta : meta)[\"b\"]"][..]).prop_map(String::from),
    ];
    leaf.prop_recursive(2, 4, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} + {b})")),
            (bool_atom(), inner.clone(), inner).prop_map(|(c, a, b)| format!("({c} ? {a} : {b})")),
        ]
    })
    .boxed()
}

fn str_list() -> BoxedStrategy<String> {
    prop_oneof![
        3 => Just("tags".to_string()),
        2 => prop::collection::vec(str_lit(), 0..3).prop_map(|v| format!("[{}]", quoted(&v))),
        1 => (str_expr(), str_lit()).prop_map(|(a, b)| format!("[{a}, \"{b}\"]")),
        1 => prop::collection::vec(str_lit(), 0..2).prop_map(|v| format!("(tags + [{}])", quoted(&v))),
        1 => (bool_atom(), prop::collection::vec(str_lit(), 0..2))
            .prop_map(|(c, v)| format!("({c} ? tags : [{}])", quoted(&v))),
    ]
    .boxed()
}

fn int_list() -> BoxedStrategy<String> {
    prop_oneof![
        3 => Just("ids".to_string()),
        2 => prop::collection::vec(int_lit(), 0..3).prop_map(|v| format!("[{}]", v.join(", "))),
        1 => (int_expr(), int_lit()).prop_map(|(a, b)| format!("[{a}, {b}]")),
        1 => Just("[1, 2.5]".to_string()),
        1 => prop::collection::vec(int_lit(), 0..2).prop_map(|v| format!("(ids + [{}])", v.join(", "))),
    ]
    .boxed()
}

/// Conjuncts the compiler can index on.
fn bool_atom() -> BoxedStrategy<String> {
    let str_attr = || select(&["feature", "tier", "tenant"][..]);
    let int_attr = || select(&["tokens", "n", "requested_max_tokens"][..]);
    let cmp = || select(&["==", "!=", "<", "<=", ">", ">="][..]);
    let any_attr = select(
        &[
            "feature", "tier", "tenant", "prompt", "tokens", "n", "score", "flag", "tags", "ids",
            "meta", "quota",
        ][..],
    );
    prop_oneof![
        4 => (str_attr(), select(&["==", "!="][..]), str_lit())
            .prop_map(|(a, o, v)| format!("{a} {o} \"{v}\"")),
        3 => (str_attr(), prop_oneof![3 => prop::collection::vec(str_lit(), 0..4), 1 => prop::collection::vec(str_lit(), 4..13)], any::<bool>()).prop_map(|(a, v, neg)| {
            let e = format!("{a} in [{}]", quoted(&v));
            if neg { format!("!({e})") } else { e }
        }),
        // One attribute against several strings, written with `||`.
        2 => (str_attr(), str_lit(), str_lit(), any::<bool>()).prop_map(|(a, x, y, neg)| {
            let e = format!("({a} == \"{x}\" || {a} == \"{y}\" || \"{y}\" == {a})");
            if neg { format!("!{e}") } else { e }
        }),
        4 => (int_attr(), cmp(), int_lit()).prop_map(|(a, o, v)| format!("{a} {o} {v}")),
        1 => (int_lit(), cmp(), int_attr()).prop_map(|(v, o, a)| format!("{v} {o} {a}")),
        1 => (int_attr(), cmp(), int_lit()).prop_map(|(a, o, v)| format!("!({a} {o} {v})")),
        1 => (int_attr(), prop::collection::vec(int_lit(), 0..4), any::<bool>()).prop_map(|(a, v, neg)| {
            let e = format!("{a} in [{}]", v.join(", "));
            if neg { format!("!({e})") } else { e }
        }),
        2 => (select(&["size(prompt)", "feature.size()", "size(tier)", "size(tags)", "size(ids)"][..]), cmp(), 0i64..14)
            .prop_map(|(a, o, v)| format!("{a} {o} {v}")),
        2 => select(&["flag", "!flag", "flag == true", "flag != true", "!!flag", "false == flag"][..])
            .prop_map(String::from),
        2 => (any_attr, any::<bool>())
            .prop_map(|(a, neg)| if neg { format!("!has({a})") } else { format!("has({a})") }),
        1 => select(&["true", "false"][..]).prop_map(String::from),
        // Macros: the compiler never dispatches on them; they run as
        // expressions, errors absorbed as the reference absorbs them.
        2 => (select(&["all", "exists", "exists_one"][..]), str_lit(), select(&["startsWith", "contains", "endsWith"][..]))
            .prop_map(|(m, v, f)| format!("tags.{m}(t, t.{f}(\"{v}\"))")),
        2 => (select(&["all", "exists", "exists_one"][..]), cmp(), int_lit())
            .prop_map(|(m, o, v)| format!("ids.{m}(i, i {o} {v})")),
        1 => select(&["all", "exists", "exists_one"][..])
            .prop_map(|m| format!("ids.{m}(i, 10 / i > tokens)")),
        1 => select(&["all", "exists", "exists_one"][..])
            .prop_map(|m| format!("tags.{m}(t, ids.exists(i, size(t) == i) || t == feature)")),
        1 => select(&["bool(tier)", "bool(flag)", "bool(string(flag))"][..]).prop_map(String::from),
        // Map keys and entries.
        2 => (str_lit(), any::<bool>()).prop_map(|(k, neg)| {
            let e = format!("\"{k}\" in meta");
            if neg { format!("!({e})") } else { e }
        }),
        // Timestamps and durations: comparisons, arithmetic leaving the range.
        1 => select(&[
            "at < timestamp(\"2026-03-29T01:00:00Z\")",
            "at + duration(\"1h30m\") >= timestamp(\"2026-03-29T02:00:00+01:00\")",
            "at - duration(\"2562047h\") < at",
            "at - timestamp(\"2026-01-01T00:00:00Z\") > duration(\"2160h\")",
            "at == at + duration(\"0\")",
            "timestamp(prompt) > at",
            "duration(\"1h\") + at != at",
            "has(at) && at.getHours(\"Europe/Berlin\") >= 2",
        ][..]).prop_map(String::from),
        // Int-map entries, keys and sizes.
        2 => (select(&["a", "b", "pro", "free", ""][..]), cmp(), int_lit())
            .prop_map(|(k, o, v)| format!("quota[\"{k}\"] {o} {v}")),
        2 => (str_lit(), any::<bool>()).prop_map(|(k, neg)| {
            let e = format!("\"{k}\" in quota");
            if neg { format!("!({e})") } else { e }
        }),
        1 => (cmp(), 0i64..5).prop_map(|(o, v)| format!("size(quota) {o} {v}")),
        1 => select(&["feature in quota", "has(quota.a)", "!has(quota.pro)", "has(quota.b) && quota[\"b\"] < 3", "quota[\"a\"] == tokens", "quota[tier] + n > 2", "quota.size() == size(meta)"][..])
            .prop_map(String::from),
        1 => select(&["feature in meta", "has(meta.a)", "!has(meta.b)", "has(meta.pro) && meta[\"pro\"] == \"x\"", "meta[\"a\"] == tier", "meta[\"b\"] != \"c\""][..])
            .prop_map(String::from),
    ]
    .boxed()
}

/// Any bool expression.
fn bool_expr() -> BoxedStrategy<String> {
    let cmp = || select(&["==", "!=", "<", "<=", ">", ">="][..]);
    let leaf = prop_oneof![
        4 => bool_atom(),
        2 => (int_expr(), cmp(), int_expr()).prop_map(|(a, o, b)| format!("{a} {o} {b}")),
        1 => (int_expr(), cmp(), float_expr()).prop_map(|(a, o, b)| format!("{a} {o} {b}")),
        1 => (float_expr(), cmp(), int_expr()).prop_map(|(a, o, b)| format!("{a} {o} {b}")),
        1 => (float_expr(), cmp(), float_expr()).prop_map(|(a, o, b)| format!("{a} {o} {b}")),
        2 => (str_expr(), cmp(), str_expr()).prop_map(|(a, o, b)| format!("{a} {o} {b}")),
        1 => (select(&["flag", "true", "false"][..]), cmp(), select(&["flag", "true", "false"][..]))
            .prop_map(|(a, o, b)| format!("{a} {o} {b}")),
        2 => (str_expr(), select(&["contains", "startsWith", "endsWith"][..]), str_expr())
            .prop_map(|(a, f, b)| format!("{a}.{f}({b})")),
        1 => (str_expr(), select(&["^[a-z ]+$", "o+", "(?i)PRO", "^$", "é"][..]))
            .prop_map(|(a, p)| format!("{a}.matches(\"{p}\")")),
        2 => (str_expr(), str_list()).prop_map(|(a, l)| format!("{a} in {l}")),
        2 => (int_expr(), int_list()).prop_map(|(a, l)| format!("{a} in {l}")),
        1 => (float_expr(), int_list()).prop_map(|(a, l)| format!("{a} in {l}")),
        1 => (str_list(), select(&["==", "!="][..]), str_list()).prop_map(|(a, o, b)| format!("{a} {o} {b}")),
        1 => (int_list(), select(&["==", "!="][..]), int_list()).prop_map(|(a, o, b)| format!("{a} {o} {b}")),
        1 => (str_list(), cmp(), int_expr()).prop_map(|(l, o, b)| format!("size({l}) {o} {b}")),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} && {b})")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("({a} || {b})")),
            inner.clone().prop_map(|a| format!("!({a})")),
            (inner.clone(), inner.clone(), inner)
                .prop_map(|(c, a, b)| format!("({c} ? {a} : {b})")),
        ]
    })
    .boxed()
}

/// Bracket nesting of an expression's text.
fn nesting(s: &str) -> usize {
    let (mut depth, mut max) = (0usize, 0usize);
    for b in s.bytes() {
        match b {
            b'(' | b'[' => {
                depth += 1;
                max = max.max(depth);
            }
            b')' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

/// The parser bounds nesting (each bracket costs several grammar levels):
/// a term nested deeper is replaced by a shallow one.
fn shallow(term: String, fallback: &str) -> String {
    if nesting(&term) > 4 {
        fallback.to_string()
    } else {
        term
    }
}

/// A rule condition: usually a conjunction of atoms and a few other terms.
fn when() -> impl Strategy<Value = Option<String>> {
    let conjunct = prop_oneof![5 => bool_atom(), 2 => bool_expr()]
        .prop_map(|t| shallow(t, "(tokens + n) * tokens > n / tokens"));
    prop_oneof![
        1 => Just(None),
        8 => prop::collection::vec(conjunct, 1..5).prop_map(|c| Some(c.join(" && "))),
        1 => (bool_expr(), bool_expr()).prop_map(|(a, b)| {
            Some(format!("{} || {}", shallow(a, "tier < feature"), shallow(b, "prompt.matches(\"o+\")")))
        }),
    ]
}

#[derive(Debug, Clone)]
struct Rule {
    when: Option<String>,
    /// Section-specific choice: model, scope, cap.
    pick: u8,
}

fn rules(max: usize) -> impl Strategy<Value = Vec<Rule>> {
    prop::collection::vec(
        (when(), any::<u8>()).prop_map(|(when, pick)| Rule { when, pick }),
        0..max,
    )
}

fn policy_text(sections: &[Vec<Rule>; 6]) -> String {
    let mut t = format!("{HEADER}{ATTRIBUTES}");
    for (s, rules) in Section::ALL.iter().zip(sections) {
        for (i, r) in rules.iter().enumerate() {
            t += &format!("\n[[{}]]\nname = \"{}{i}\"\n", s.name(), s.name());
            if let Some(w) = &r.when {
                t += &format!("when = '{w}'\n");
            }
            let cap = [None, Some(100), Some(5000)][r.pick as usize % 3];
            t += &match s {
                Section::Route => {
                    let model = ["sonnet", "haiku"][r.pick as usize % 2];
                    let cap = cap
                        .map(|c| format!("max_output_tokens = {c}\n"))
                        .unwrap_or_default();
                    format!("model = \"{model}\"\n{cap}")
                }
                Section::Cache => {
                    let scope = ["tenant", "global", "tier", "feature"][r.pick as usize % 4];
                    format!("key = [\"messages\"]\nscope = \"{scope}\"\nttl = \"1m\"\n")
                }
                Section::PromptCache => "points = [\"system\"]\n".to_string(),
                Section::Batch => String::new(),
                Section::Limit => cap
                    .map(|c| format!("max_output_tokens = {c}\n"))
                    .unwrap_or_default(),
                Section::Budget => "daily_usd = 1.0\naction = \"reject\"\n".to_string(),
            };
        }
    }
    t
}

fn maybe<T: std::fmt::Debug + Clone>(
    s: impl Strategy<Value = T>,
) -> impl Strategy<Value = Option<T>> {
    prop_oneof![1 => Just(None), 3 => s.prop_map(Some)]
}

fn req() -> impl Strategy<Value = Req> {
    let s = || maybe(str_lit().prop_map(String::from));
    let i = || {
        maybe(
            prop_oneof![4 => -3i64..10, 1 => select(&INTS[..]), 1 => Just(i64::MIN), 1 => any::<i64>()],
        )
    };
    let f = maybe(select(
        &[
            0.5,
            -1.5,
            0.0,
            -0.0,
            2.5,
            3.0,
            1.0,
            2.0,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            9.3e18,
            -9.3e18,
            1e20,
        ][..],
    ));
    (
        (
            s(),
            s(),
            s(),
            maybe(
                select(&["hello world", "/cmd x", "Prove it", "", "héllo wörld", "o"][..])
                    .prop_map(String::from),
            ),
        ),
        (i(), i(), i(), f, maybe(any::<bool>())),
        maybe(prop::collection::vec(
            str_lit().prop_map(String::from),
            0..3,
        )),
        maybe(prop::collection::vec(
            prop_oneof![-3i64..10, select(&INTS[..])],
            0..3,
        )),
        // Around Europe's 2026 daylight-saving change (01:00 UTC on
        // March 29th), and the ends of the range.
        maybe(select(
            &[
                0i64,
                1_774_742_400,
                1_774_745_999,
                1_774_746_000,
                1_767_571_200,
                -62_135_596_800,
                253_402_300_799,
            ][..],
        )),
        // Keys may repeat: the first pair of a key counts.
        maybe(prop::collection::vec(
            (
                select(&["a", "b", "pro", "free", ""][..]).prop_map(String::from),
                str_lit().prop_map(String::from),
            ),
            0..4,
        )),
        // Keys may repeat here too; values reach the ends of the range.
        maybe(prop::collection::vec(
            (
                select(&["a", "b", "pro", "free", ""][..]).prop_map(String::from),
                prop_oneof![4 => -3i64..10, 1 => select(&INTS[..]), 1 => Just(i64::MIN)],
            ),
            0..4,
        )),
    )
        .prop_map(
            |(
                (feature, tier, tenant, prompt),
                (tokens, n, requested, score, flag),
                tags,
                ids,
                at,
                meta,
                quota,
            )| {
                Req {
                    feature,
                    tier,
                    tenant,
                    prompt,
                    tokens,
                    n,
                    requested,
                    score,
                    flag,
                    tags,
                    ids,
                    meta,
                    quota,
                    at,
                }
            },
        )
}

fn sections() -> impl Strategy<Value = [Vec<Rule>; 6]> {
    let big = prop_oneof![3 => rules(10), 1 => rules(40)];
    (big, rules(8), rules(6), rules(4), rules(8), rules(4))
        .prop_map(|(a, b, c, d, e, f)| [a, b, c, d, e, f])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, max_shrink_iters: 2_000, ..ProptestConfig::default() })]

    /// 2,000 policies x 50 requests = 100,000 decisions per run.
    #[test]
    fn compiled_decides_like_the_reference(
        sections in sections(),
        reqs in prop::collection::vec(req(), 50),
    ) {
        let text = policy_text(&sections);
        let (compiled, policy) = both(&text);
        for r in &reqs {
            let ctx = r.context(policy.schema());
            prop_assert_eq!(compiled.decide(&ctx), decide_reference(&policy, &ctx), "request {:?}\n{}", r, text);
        }
    }
}

// ---------------------------------------------------------------------------
// Named cases
// ---------------------------------------------------------------------------

fn routes(whens: &[&str]) -> String {
    let mut t = format!("{HEADER}{ATTRIBUTES}");
    for (i, w) in whens.iter().enumerate() {
        t += &format!("\n[[route]]\nname = \"r{i}\"\nwhen = '{w}'\nmodel = \"haiku\"\n");
    }
    t
}

fn route_of(c: &CompiledPolicy, r: &Req) -> Option<u32> {
    let ctx = r.context(c.policy().schema());
    let d = c.decide(&ctx);
    assert_eq!(
        d,
        decide_reference(c.policy(), &ctx),
        "compiled and reference differ on {r:?}"
    );
    d.route.map(|r| r.get())
}

#[test]
fn first_match_order_is_kept_when_an_unindexed_rule_comes_first() {
    let mut whens = vec!["prompt.contains(\"o\")", "tokens * 2 > 10"];
    whens.extend(
        [
            "feature == \"a\"",
            "feature == \"b\"",
            "feature == \"a\" && tier == \"pro\"",
        ]
        .repeat(4),
    );
    whens.push("size(tags) > 0");
    let (c, _) = both(&routes(&whens));
    let req = |prompt: &str, tokens: i64, feature: &str| Req {
        prompt: Some(prompt.into()),
        tokens: Some(tokens),
        feature: Some(feature.into()),
        tier: Some("pro".into()),
        ..Req::default()
    };
    assert_eq!(route_of(&c, &req("hello", 1, "a")), Some(0));
    assert_eq!(route_of(&c, &req("xyz", 6, "a")), Some(1));
    assert_eq!(route_of(&c, &req("xyz", 1, "a")), Some(2));
    assert_eq!(route_of(&c, &req("xyz", 1, "b")), Some(3));
    assert_eq!(route_of(&c, &req("xyz", 1, "c")), None);
    let tagged = Req {
        tags: Some(vec!["t".into()]),
        ..req("xyz", 1, "c")
    };
    assert_eq!(route_of(&c, &tagged), Some(14));
}

/// Each form the compiled engine evaluates as an expression (macros,
/// indexing, conversions, string functions), as a lone rule: it matches exactly when the
/// reference says `true` (`route_of` also compares whole decisions).
#[test]
fn macros_indexing_and_conversions_decide_like_the_reference() {
    let cases: [(&str, bool); 22] = [
        (r#"tags.exists(t, t.startsWith("kb-"))"#, true),
        (r#"tags.all(t, t.startsWith("kb-"))"#, false),
        (r#"tags.exists_one(t, t.size() > 0)"#, false),
        ("ids.exists(i, 10 / (i - 1) == 10)", true),
        ("ids.all(i, 10 / (i - 1) > 0)", false),
        ("[0, 1].all(i, 10 / i > 0)", false),
        ("ids.exists_one(i, i == tokens - 1)", true),
        ("ids.exists(i, ids.exists(j, i + j == 4 && i != j))", false),
        ("ids.exists(i, [i, 7][1] == 7 && [i][0] == 2)", true),
        (r#"tags[1] == "kb-1""#, true),
        ("ids[2] == 0 || true", true),
        ("ids[2] == 0", false),
        ("ids[-1] == 0 || ids[0] == 1", true),
        ("int(score * 10.0) == 5", true),
        ("int(score * 1e20) > 0", false),
        (r#"int(feature) == 1"#, false),
        ("double(tokens) * 1.5 > 4.0", true),
        (r#"string(tokens) + "x" == "3x""#, true),
        (r#"string(score) == "0.5""#, true),
        (r#"bool(string(flag)) && bool("t")"#, true),
        (r#"tags.exists(tokens, tokens == "a")"#, true),
        ("ids.exists(i, i > missing_one)", false),
    ];
    let req = Req {
        feature: Some("kb".into()),
        tokens: Some(3),
        score: Some(0.5),
        flag: Some(true),
        tags: Some(vec!["a".into(), "kb-1".into()]),
        ids: Some(vec![1, 2]),
        ..Req::default()
    };
    let strings: [(&str, bool); 12] = [
        (r#"feature.upperAscii() == "KB""#, true),
        (r#"(feature + "-X").lowerAscii() == "kb-x""#, true),
        (r#"("  " + feature + " ").trim() == "kb""#, true),
        (r#"tags.join(",").replace(",", "+") == "a+kb-1""#, true),
        (
            r#""a,b,c".split(",")[2] == "c" && "a,b,c".split(",", 2).size() == 2"#,
            true,
        ),
        (
            r#""kb" in "x,kb".split(",") && tags.join() == "akb-1""#,
            true,
        ),
        (
            r#"tags[1].indexOf("-") == 2 && "abab".lastIndexOf("ab") == 2"#,
            true,
        ),
        (
            r#"tags[1].substring(3) == "1" && feature.charAt(1) == "b""#,
            true,
        ),
        (r#"feature.substring(3) == """#, false),
        (r#"feature.charAt(3) == "" || true"#, true),
        (r#""".lastIndexOf("a") == -1"#, false),
        (r#"string(tokens).split("").exists(c, c == "3")"#, true),
    ];
    for (when, want) in cases.into_iter().chain(strings) {
        let when = when.replace("missing_one", "n");
        let (c, _) = both(&routes(&[when.as_str()]));
        assert_eq!(route_of(&c, &req), want.then_some(0), "{when}");
    }
}

#[test]
fn a_missing_attribute_fails_atoms_and_is_absorbed_by_or() {
    let (c, _) = both(&routes(&[
        "feature != \"a\"",
        "!(tokens < 5)",
        "!flag",
        "feature == \"a\" || true",
        "!has(feature)",
    ]));
    let empty = Req::default();
    assert_eq!(
        route_of(&c, &empty),
        Some(3),
        "atoms on missing attributes are errors"
    );
    let (c, _) = both(&routes(&[
        "feature != \"a\"",
        "tokens / n > 1 || flag",
        "!has(feature)",
    ]));
    assert_eq!(route_of(&c, &empty), Some(2));
    let flagged = Req {
        flag: Some(true),
        tokens: Some(1),
        n: Some(0),
        ..Req::default()
    };
    assert_eq!(
        route_of(&c, &flagged),
        Some(1),
        "division by zero is absorbed by `|| true`"
    );
}

#[test]
fn or_of_equalities_on_one_attribute_is_a_set() {
    let (c, _) = both(&routes(&[
        "feature == \"a\" || feature == \"b\"",
        "!(tier == \"x\" || \"y\" == tier) && feature == \"c\"",
        "feature == \"d\" || tier == \"pro\"",
    ]));
    let req = |feature: Option<&str>, tier: Option<&str>| Req {
        feature: feature.map(Into::into),
        tier: tier.map(Into::into),
        ..Req::default()
    };
    assert_eq!(route_of(&c, &req(Some("a"), None)), Some(0));
    assert_eq!(route_of(&c, &req(Some("b"), Some("x"))), Some(0));
    assert_eq!(route_of(&c, &req(Some("c"), Some("z"))), Some(1));
    assert_eq!(route_of(&c, &req(Some("c"), Some("y"))), None);
    assert_eq!(
        route_of(&c, &req(Some("c"), None)),
        None,
        "a missing attribute fails the negated set as it fails each `!=`"
    );
    assert_eq!(route_of(&c, &req(None, Some("pro"))), Some(2));
    assert_eq!(route_of(&c, &req(None, None)), None);
}

#[test]
fn cache_rules_need_their_scope_attribute() {
    let text = format!(
        "{HEADER}{ATTRIBUTES}\n[[cache]]\nname = \"per-tenant\"\nwhen = 'feature == \"a\"'\nkey = [\"messages\"]\nscope = \"tenant\"\nttl = \"1m\"\n\n[[cache]]\nname = \"shared\"\nwhen = 'feature == \"a\"'\nkey = [\"messages\"]\nscope = \"global\"\nttl = \"1m\"\n"
    );
    let (c, p) = both(&text);
    let with = Req {
        feature: Some("a".into()),
        tenant: Some("t".into()),
        ..Req::default()
    };
    let without = Req {
        tenant: None,
        ..with.clone()
    };
    assert_eq!(
        c.decide(&with.context(p.schema())).cache.map(|r| r.get()),
        Some(0)
    );
    assert_eq!(
        c.decide(&without.context(p.schema()))
            .cache
            .map(|r| r.get()),
        Some(1)
    );
}

#[test]
fn a_context_of_another_schema_is_decided_by_the_reference() {
    let (c, p) = both(&routes(&[
        "feature == \"a\"",
        "tokens > 3",
        "size(tags) > 0",
        "flag",
    ]));
    // The same names with other types: every slot the compiled policy reads
    // holds a value of a type it does not expect.
    let mut other = Schema::new();
    for (_, def) in p.schema().iter() {
        let ty = match def.ty {
            Type::String => Type::Int,
            _ => Type::String,
        };
        other.add(&def.name, ty).expect("fresh schema");
    }
    let mut ctx = Context::new(&other);
    let feature = other.id("feature").expect("declared");
    let tokens = other.id("tokens").expect("declared");
    ctx.set(feature, Slot::Int(1)).expect("int");
    ctx.set(tokens, Slot::Str("x")).expect("string");
    assert_eq!(c.decide(&ctx), decide_reference(&p, &ctx));
    ctx.set(tokens, Slot::Missing).expect("missing");
    assert_eq!(c.decide(&ctx), decide_reference(&p, &ctx));
}

#[test]
fn the_example_policy_passes_its_tests_compiled() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../rules/example.toml");
    let loaded = tollgate_lang::load_path(std::path::Path::new(path), &LoadOptions::default())
        .expect("example policy loads");
    let compiled = compile(loaded.policy.clone()).expect("compiles");
    let results = tollgate_engine::run_tests(&loaded.policy, &|ctx| compiled.decide(ctx));
    assert!(!results.is_empty());
    for r in &results {
        assert!(
            r.passed(),
            "{}: {:?} {:?}",
            r.name,
            r.mismatches,
            r.request_error
        );
    }
}

#[test]
fn the_size_limit_is_a_clear_error() {
    let whens: Vec<String> = (0..20).map(|i| format!("tokens == {i}")).collect();
    let whens: Vec<&str> = whens.iter().map(String::as_str).collect();
    let policy = load(&routes(&whens));
    let limits = CompileLimits {
        max_nodes: 1_000,
        max_leaf_entries: 10,
    };
    let err = compile_with(policy, limits).expect_err("20 rules cannot fit in 10 entries");
    assert_eq!(
        err.to_string(),
        "policy `generated` needs 20 decision entries in [[route]], more than the limit of 10"
    );
}

#[test]
fn a_tight_size_limit_stops_splitting_and_stays_exact() {
    let mut rng = SplitMix(7);
    let text = generated_policy(&mut rng, 300);
    let policy = load(&text);
    let tight = CompileLimits {
        max_nodes: 40,
        max_leaf_entries: 320,
    };
    let compiled = compile_with(policy.clone(), tight).expect("fits unsplit");
    let stats = compiled.stats(Section::Route);
    assert!(stats.nodes <= 40 && stats.leaf_entries <= 320, "{stats:?}");
    let free = compile(policy.clone()).expect("compiles");
    assert!(free.stats(Section::Route).nodes > 40);
    for _ in 0..500 {
        let r = generated_request(&mut rng);
        let ctx = r.context(policy.schema());
        let want = decide_reference(&policy, &ctx);
        assert_eq!(compiled.decide(&ctx), want, "{r:?}");
        assert_eq!(free.decide(&ctx), want, "{r:?}");
    }
}

#[test]
fn ten_thousand_generated_rules_compile_and_agree() {
    let mut rng = SplitMix(42);
    let text = generated_policy(&mut rng, 10_000);
    let policy = load(&text);
    let compiled = compile(policy.clone()).expect("compiles");
    let stats = compiled.stats(Section::Route);
    assert_eq!(stats.rules, 10_000);
    assert!(stats.leaf_entries < 20 * stats.rules, "{stats:?}");
    for _ in 0..1_000 {
        let r = generated_request(&mut rng);
        let ctx = r.context(policy.schema());
        assert_eq!(
            compiled.decide(&ctx),
            decide_reference(&policy, &ctx),
            "{r:?}"
        );
    }
}

#[test]
fn a_compiled_policy_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<CompiledPolicy>();
}

// ---------------------------------------------------------------------------
// Benchmark-shaped policies: equality, `in`, ranges, negated bools and two-
// and three-way conjunctions over several attributes, a few `contains` and
// `matches`.
// ---------------------------------------------------------------------------

/// SplitMix64, enough randomness for generated policies.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn generated_conjunct(rng: &mut SplitMix) -> String {
    match rng.below(20) {
        0..=5 => format!("feature == \"{}\"", STRS[rng.below(5) as usize]),
        6..=7 => format!(
            "tier in [\"{}\", \"{}\"]",
            STRS[rng.below(6) as usize],
            STRS[rng.below(6) as usize]
        ),
        8..=9 => format!("tenant == \"t{}\"", rng.below(50)),
        10 => format!("tier != \"{}\"", STRS[rng.below(5) as usize]),
        11..=12 => format!("tokens < {}", rng.below(10_000)),
        13 => format!("tokens >= {}", rng.below(10_000)),
        14 => format!("n <= {}", rng.below(10)),
        15 => "!flag".into(),
        16 => "flag".into(),
        17 => format!("score >= 0.{}", rng.below(10)),
        18 => format!(
            "prompt.contains(\"{}\")",
            ["o", "x", "he"][rng.below(3) as usize]
        ),
        _ => "prompt.matches(\"^/[a-z]+\")".into(),
    }
}

fn generated_policy(rng: &mut SplitMix, rules: usize) -> String {
    let mut t = format!("{HEADER}{ATTRIBUTES}");
    for i in 0..rules {
        let k = 2 + rng.below(2);
        let when: Vec<String> = (0..k).map(|_| generated_conjunct(rng)).collect();
        let model = ["sonnet", "haiku"][rng.below(2) as usize];
        t += &format!(
            "\n[[route]]\nname = \"r{i}\"\nwhen = '{}'\nmodel = \"{model}\"\n",
            when.join(" && ")
        );
    }
    t
}

fn generated_request(rng: &mut SplitMix) -> Req {
    let some = |rng: &mut SplitMix| rng.below(8) != 0;
    Req {
        feature: some(rng).then(|| STRS[rng.below(6) as usize].to_string()),
        tier: some(rng).then(|| STRS[rng.below(6) as usize].to_string()),
        tenant: some(rng).then(|| format!("t{}", rng.below(60))),
        prompt: some(rng).then(|| ["hello", "/cmd", "xyz", "o"][rng.below(4) as usize].to_string()),
        tokens: some(rng).then(|| rng.below(12_000) as i64),
        n: some(rng).then(|| rng.below(12) as i64),
        requested: None,
        score: some(rng).then(|| rng.below(10) as f64 / 10.0),
        flag: some(rng).then(|| rng.below(2) == 0),
        tags: None,
        ids: None,
        meta: None,
        quota: None,
        at: None,
    }
}
