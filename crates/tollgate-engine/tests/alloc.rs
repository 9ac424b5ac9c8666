//! Deciding allocates nothing: a counting global allocator watches
//! `CompiledPolicy::decide` (and the building of each context from
//! borrowed values) over a realistic policy and many requests.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use tollgate_engine::{compile, decide_reference, Context};
use tollgate_lang::{load_str, LoadOptions};

/// Counts the allocations of the current thread (other test threads do
/// not disturb the count).
struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count() {
    let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
}

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

// SAFETY: every call is forwarded unchanged to the system allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const POLICY: &str = r#"
[policy]
name = "alloc-check"
default_model = "sonnet"

[attributes]
feature = "string"
task = "string"
tenant = "string"
"user.tier" = "string"
region = "string"
latency = "string"
prompt = "string"
input_tokens = "int"
system_tokens = "int"
message_count = "int"
requested_max_tokens = "int"
has_tools = "bool"
has_images = "bool"
complexity = "float"
retrieval_ids = "list<string>"
experiments = "list<int>"

[models.haiku]
id = "us.anthropic.claude-3-5-haiku-20241022-v1:0"
max_output_tokens = 8192

[models.sonnet]
id = "us.anthropic.claude-sonnet-4-20250514-v1:0"

[models.opus]
id = "us.anthropic.claude-opus-4-20250514-v1:0"

[[route]]
name = "kb-trial"
when = 'feature == "kb" && 17 in experiments && prompt.endsWith("?")'
model = "opus"

# Macros, indexing and conversions to numbers allocate nothing either.
[[route]]
name = "kb-second-source"
when = 'feature == "kb" && retrieval_ids.exists(id, id.endsWith("-9")) && retrieval_ids[0] == "doc-1" && int(complexity * 10.0) == 9'
model = "opus"

[[route]]
name = "agent-experiments"
when = 'feature == "agent" && experiments.all(e, e > 2) && experiments.exists_one(e, e == 17 || e in [1, 2]) && double(input_tokens) * 1.5 > 10000.0 && int("2") < 3'
model = "opus"

# Text built by a condition goes into reused scratch space.
[[route]]
name = "docs-shouting"
when = 'feature == "docs" && prompt.upperAscii().replace("?", "!").split(" ").exists(w, w == "KEYS!") && retrieval_ids.join("+").lowerAscii().trim() != "x" && string(input_tokens).size() > 2'
model = "opus"

[[route]]
name = "agent-hard"
when = 'feature == "agent" && user.tier == "enterprise" && complexity >= 0.85'
model = "opus"
max_output_tokens = 4096

[[route]]
name = "proofs"
when = 'feature in ["chat", "kb"] && user.tier in ["pro", "enterprise"] && prompt.matches("(?i)(prove|derive)")'
model = "opus"

[[route]]
name = "agent-light"
when = 'feature == "agent" && has_tools && system_tokens <= 3000 && complexity < 0.4'
model = "haiku"

[[route]]
name = "kb-empty"
when = 'feature == "kb" && size(retrieval_ids) == 0'
model = "haiku"
max_output_tokens = 300

[[route]]
name = "kb-short"
when = 'feature == "kb" && user.tier != "enterprise" && input_tokens < (user.tier == "pro" ? 12000 : 6000)'
model = "haiku"

[[route]]
name = "chat-slash"
when = 'feature == "chat" && prompt.startsWith("/")'
model = "haiku"

[[route]]
name = "chat-free"
when = 'feature == "chat" && !has_images && (!has(user.tier) || user.tier == "free")'
model = "haiku"

[[route]]
name = "docs-small"
when = 'feature == "docs" && task in ["classify", "extract"] && input_tokens < 2000'
model = "haiku"

[[route]]
name = "docs-long"
when = 'feature == "docs" && task == "summarize" && (message_count > 50 || input_tokens >= 100000)'
model = "sonnet"

[[route]]
name = "enterprise-images"
when = 'user.tier == "enterprise" && has_images'
model = "sonnet"

[[route]]
name = "eu"
when = 'region in ["eu-west-1", "eu-central-1"] && latency != "tolerant"'
model = "sonnet"

[[cache]]
name = "kb-answers"
when = 'feature == "kb" && size(retrieval_ids) > 0 && !prompt.contains("today")'
key = ["system", "messages", "retrieval_ids"]
scope = "tenant"
ttl = "10m"

[[cache]]
name = "help-center"
when = 'feature == "kb" && !has(tenant)'
key = ["system", "messages"]
scope = "global"
ttl = "30m"

[[cache]]
name = "docs-results"
when = 'feature == "docs" && task in ["classify", "extract"] && !has_images'
key = ["system", "messages", "model"]
scope = "tenant"
ttl = "1h"

[[cache]]
name = "chat-first"
when = 'feature == "chat" && message_count == 1 && size(prompt) < 40'
key = ["system", "messages"]
scope = "tenant"
ttl = "90s"

[[prompt_cache]]
name = "agent-tools"
when = 'feature == "agent" && has_tools && system_tokens >= 2048'
points = ["tools", "system"]

[[prompt_cache]]
name = "kb-system"
when = 'feature == "kb" && system_tokens >= 2048'
points = ["system"]

[[prompt_cache]]
name = "long-chats"
when = 'feature in ["chat", "agent"] && message_count >= 6 && input_tokens >= 4096'
points = ["system", "messages"]

[[batch]]
name = "nightly"
when = 'latency == "tolerant" && region in ["us-east-1", "us-west-2"]'

[[batch]]
name = "bulk-docs"
when = 'feature == "docs" && latency == "tolerant" && input_tokens >= 20000'

[[limit]]
name = "free"
when = 'user.tier == "free" && feature in ["chat", "kb"]'
max_output_tokens = 500
max_attempts = 1

[[limit]]
name = "agents"
when = 'feature == "agent"'
max_output_tokens = 2048

[[limit]]
name = "big-asks"
when = 'requested_max_tokens > 4000 && latency != "tolerant"'
max_output_tokens = 4000

[[limit]]
name = "background"
when = 'latency == "tolerant"'
max_output_tokens = 4000

[[limit]]
name = "default"
max_output_tokens = 2000

[[budget]]
name = "free-daily"
when = 'user.tier == "free"'
daily_usd = 5.0
group_by = "tenant"
action = "reject"

[[budget]]
name = "kb-daily"
when = 'feature == "kb"'
daily_usd = 200.0
action = "downgrade:haiku"

[[budget]]
name = "agents-daily"
when = 'feature == "agent" && user.tier != "enterprise"'
daily_usd = 150.0
action = "downgrade:haiku"

[[budget]]
name = "everything"
daily_usd = 400.0
action = "reject"
"#;

/// One request's values, borrowed by the context built from them.
struct Shape {
    feature: Option<&'static str>,
    task: &'static str,
    tenant: Option<&'static str>,
    tier: Option<&'static str>,
    region: &'static str,
    latency: &'static str,
    prompt: &'static str,
    input_tokens: i64,
    system_tokens: i64,
    message_count: i64,
    requested: Option<i64>,
    has_tools: bool,
    has_images: bool,
    complexity: f64,
    retrieval_ids: &'static [&'static str],
    experiments: &'static [i64],
}

const FEATURES: [Option<&str>; 6] = [
    Some("kb"),
    Some("agent"),
    Some("chat"),
    Some("docs"),
    Some("other"),
    None,
];
const TASKS: [&str; 4] = ["classify", "extract", "summarize", "answer"];
const TIERS: [Option<&str>; 4] = [Some("free"), Some("pro"), Some("enterprise"), None];
const REGIONS: [&str; 4] = ["us-east-1", "us-west-2", "eu-west-1", "eu-central-1"];
const PROMPTS: [&str; 5] = [
    "How do I rotate API keys?",
    "/summarize the meeting",
    "Can you prove that this holds?",
    "what changed today",
    "hello",
];
const IDS: [&[&str]; 3] = [&[], &["doc-1"], &["doc-1", "doc-9"]];
const EXPERIMENTS: [&[i64]; 3] = [&[], &[17, 3], &[4]];

fn shapes() -> Vec<Shape> {
    (0..240u64)
        .map(|i| {
            // SplitMix64 of (request, field): independent choices per field.
            let pick = |n: u64, field: u64| {
                let mut z = (i * 64 + field).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                ((z ^ (z >> 31)) % n) as usize
            };
            Shape {
                feature: FEATURES[pick(6, 1)],
                task: TASKS[pick(4, 7)],
                tenant: [Some("acme"), Some("globex"), None][pick(3, 13)],
                tier: TIERS[pick(4, 19)],
                region: REGIONS[pick(4, 23)],
                latency: ["interactive", "tolerant"][pick(2, 29)],
                prompt: PROMPTS[pick(5, 31)],
                input_tokens: [500, 3_000, 9_000, 25_000, 120_000][pick(5, 37)],
                system_tokens: [0, 1_500, 2_500, 5_000][pick(4, 41)],
                message_count: [1, 3, 8, 60][pick(4, 43)],
                requested: [None, Some(1_000), Some(8_000)][pick(3, 47)],
                has_tools: pick(2, 53) == 0,
                has_images: pick(5, 59) == 0,
                complexity: [0.1, 0.5, 0.9][pick(3, 61)],
                retrieval_ids: IDS[pick(3, 3)],
                experiments: EXPERIMENTS[pick(3, 5)],
            }
        })
        .collect()
}

/// Build a context the way an application does: slots set from borrowed
/// values, attribute ids resolved once.
struct Ids([tollgate_lang::AttrId; 16]);

impl Ids {
    fn new(schema: &tollgate_lang::Schema) -> Ids {
        let id = |n: &str| schema.id(n).expect("declared");
        Ids([
            id("feature"),
            id("task"),
            id("tenant"),
            id("user.tier"),
            id("region"),
            id("latency"),
            id("prompt"),
            id("input_tokens"),
            id("system_tokens"),
            id("message_count"),
            id("requested_max_tokens"),
            id("has_tools"),
            id("has_images"),
            id("complexity"),
            id("retrieval_ids"),
            id("experiments"),
        ])
    }

    fn context<'a>(&self, schema: &'a tollgate_lang::Schema, s: &'a Shape) -> Context<'a> {
        let [feature, task, tenant, tier, region, latency, prompt, input, system, messages, requested, tools, images, complexity, ids, experiments] =
            self.0;
        let mut ctx = Context::new(schema);
        if let Some(f) = s.feature {
            ctx.set_str(feature, f);
        }
        if let Some(t) = s.tenant {
            ctx.set_str(tenant, t);
        }
        if let Some(t) = s.tier {
            ctx.set_str(tier, t);
        }
        if let Some(r) = s.requested {
            ctx.set_int(requested, r);
        }
        ctx.set_str(task, s.task)
            .set_str(region, s.region)
            .set_str(latency, s.latency)
            .set_str(prompt, s.prompt)
            .set_int(input, s.input_tokens)
            .set_int(system, s.system_tokens)
            .set_int(messages, s.message_count)
            .set_bool(tools, s.has_tools)
            .set_bool(images, s.has_images)
            .set_float(complexity, s.complexity)
            .set_strs(ids, s.retrieval_ids)
            .set_ints(experiments, s.experiments);
        ctx
    }
}

#[test]
fn decide_makes_no_heap_allocation() {
    let policy = load_str("alloc.toml", POLICY, &LoadOptions::default())
        .unwrap_or_else(|e| panic!("{}", e.render()))
        .policy;
    assert!(
        policy.rule_count() >= 30,
        "a realistic policy has about 30 rules"
    );
    let compiled = compile(policy.clone()).expect("compiles");
    let schema = &policy.schema();
    let ids = Ids::new(schema);
    let shapes = shapes();

    // Warm up (the regex crate fills its per-thread scratch space on first
    // use) and check the answers against the reference, which allocates.
    let mut matched = [0usize; 6];
    let mut new_forms = [0usize; 3];
    for s in &shapes {
        let ctx = ids.context(schema, s);
        let d = compiled.decide(&ctx);
        assert_eq!(d, decide_reference(&policy, &ctx));
        // Routes 1 to 3 use the macros, indexing, conversions and string
        // functions.
        if let Some(r @ 1..=3) = d.route.map(|r| r.get()) {
            new_forms[r as usize - 1] += 1;
        }
        for (n, r) in
            matched
                .iter_mut()
                .zip([d.route, d.cache, d.prompt_cache, d.batch, d.limit, d.budget])
        {
            *n += r.is_some() as usize;
        }
    }
    assert!(
        matched.iter().all(|n| *n > 0),
        "every section decides some requests: {matched:?}"
    );
    assert!(
        new_forms.iter().all(|n| *n > 0),
        "the routes using macros, indexing, conversions and string functions match some requests: {new_forms:?}"
    );

    let before = allocations();
    let mut routed = 0usize;
    for _ in 0..50 {
        for s in &shapes {
            let ctx = ids.context(schema, s);
            let d = compiled.decide(std::hint::black_box(&ctx));
            routed += d.route.is_some() as usize;
        }
    }
    let after = allocations();
    assert!(routed > 0);
    assert_eq!(
        after - before,
        0,
        "heap allocations in {} decisions",
        50 * shapes.len()
    );
}

#[test]
fn the_counter_sees_allocations() {
    let before = allocations();
    let v = std::hint::black_box(vec![1u8; 64]);
    assert!(allocations() > before);
    drop(v);
}

const MAP_POLICY: &str = r#"
[policy]
name = "alloc-maps"
default_model = "sonnet"

[attributes]
feature = "string"
request_metadata = "map<string, string>"

[models.haiku]
id = "us.anthropic.claude-3-5-haiku-20241022-v1:0"

[models.sonnet]
id = "us.anthropic.claude-sonnet-4-20250514-v1:0"

[[route]]
name = "team-search"
when = 'request_metadata["team"] == "search" && size(request_metadata) > 1'
model = "haiku"

[[route]]
name = "keyed-by-feature"
when = 'feature in request_metadata && request_metadata[feature].startsWith("on")'
model = "haiku"

[[route]]
name = "has-priority"
when = 'has(request_metadata.priority) && !("batch" in request_metadata)'
model = "haiku"
"#;

#[test]
fn map_lookups_make_no_heap_allocation() {
    let policy = load_str("maps.toml", MAP_POLICY, &LoadOptions::default())
        .unwrap_or_else(|e| panic!("{}", e.render()))
        .policy;
    let compiled = compile(policy.clone()).expect("compiles");
    let schema = &policy.schema();
    let feature = schema.id("feature").expect("declared");
    let meta = schema.id("request_metadata").expect("declared");
    let maps: [&[(&str, &str)]; 5] = [
        &[],
        &[("team", "search"), ("env", "prod")],
        &[("chat", "on-call")],
        &[("priority", "high")],
        &[("priority", "high"), ("batch", "yes"), ("team", "ads")],
    ];
    let mut routes = [0usize; 4];
    for m in &maps {
        let mut ctx = Context::new(schema);
        ctx.set_str(feature, "chat").set_map(meta, m);
        let d = compiled.decide(&ctx);
        assert_eq!(d, decide_reference(&policy, &ctx));
        routes[d.route.map_or(3, |r| r.index())] += 1;
    }
    assert_eq!(routes, [1, 1, 1, 2], "every map rule matches a request");
    let before = allocations();
    for _ in 0..200 {
        for m in &maps {
            let mut ctx = Context::new(schema);
            ctx.set_str(feature, "chat").set_map(meta, m);
            std::hint::black_box(compiled.decide(std::hint::black_box(&ctx)));
        }
    }
    assert_eq!(
        allocations() - before,
        0,
        "heap allocations deciding on maps"
    );
}

const TIME_POLICY: &str = r#"
[policy]
name = "alloc-time"
default_model = "sonnet"

[attributes]
request_time = "timestamp"
zone = "string"

[models.haiku]
id = "us.anthropic.claude-3-5-haiku-20241022-v1:0"

[models.sonnet]
id = "us.anthropic.claude-sonnet-4-20250514-v1:0"

[[route]]
name = "off-peak-berlin"
when = 'request_time.getHours("Europe/Berlin") >= 22 || request_time.getDayOfWeek("Europe/Berlin") in [0, 6]'
model = "haiku"

[[route]]
name = "local-night"
when = 'request_time.getHours(zone) < 6'
model = "haiku"

[[route]]
name = "recent"
when = 'request_time - timestamp("2026-01-01T00:00:00Z") < duration("720h") && (request_time + duration("90m")).getDate("+05:30") > 0'
model = "haiku"
"#;

#[test]
fn time_rules_make_no_heap_allocation() {
    let policy = load_str("time.toml", TIME_POLICY, &LoadOptions::default())
        .unwrap_or_else(|e| panic!("{}", e.render()))
        .policy;
    let compiled = compile(policy.clone()).expect("compiles");
    let schema = &policy.schema();
    let at = schema.id("request_time").expect("declared");
    let zone = schema.id("zone").expect("declared");
    let ts = |s: &str| tollgate_lang::Timestamp::parse(s).expect("RFC 3339");
    // (time, zone): Tuesday 23:00 in Berlin; 03:00 in Tokyo; a weekday in
    // January; a weekday afternoon in March (no rule).
    let cases = [
        (ts("2026-03-03T22:00:00Z"), "Europe/Berlin"),
        (ts("2026-03-03T18:00:00Z"), "Asia/Tokyo"),
        (ts("2026-01-06T12:00:00Z"), "America/New_York"),
        (ts("2026-03-03T14:00:00Z"), "Mars/Base"),
    ];
    let mut routes = [0usize; 4];
    for (t, z) in &cases {
        let mut ctx = Context::new(schema);
        ctx.set_timestamp(at, *t).set_str(zone, z);
        let d = compiled.decide(&ctx);
        assert_eq!(d, decide_reference(&policy, &ctx));
        routes[d.route.map_or(3, |r| r.index())] += 1;
    }
    assert_eq!(routes, [1, 1, 1, 1], "every time rule matches a request");
    let before = allocations();
    for _ in 0..200 {
        for (t, z) in &cases {
            let mut ctx = Context::new(schema);
            ctx.set_timestamp(at, *t).set_str(zone, z);
            std::hint::black_box(compiled.decide(std::hint::black_box(&ctx)));
        }
    }
    assert_eq!(
        allocations() - before,
        0,
        "heap allocations deciding on timestamps"
    );
}

#[test]
fn int_map_lookups_make_no_heap_allocation() {
    let text = r#"
[policy]
name = "alloc-int-maps"
default_model = "sonnet"

[attributes]
feature = "string"
quota = "map<string, int>"

[models.haiku]
id = "us.anthropic.claude-3-5-haiku-20241022-v1:0"

[models.sonnet]
id = "us.anthropic.claude-sonnet-4-20250514-v1:0"

[[route]]
name = "per-feature"
when = 'feature in quota && quota[feature] + size(quota) > 10'
model = "haiku"
"#;
    let policy = load_str("int_maps.toml", text, &LoadOptions::default())
        .unwrap_or_else(|e| panic!("{}", e.render()))
        .policy;
    let compiled = compile(policy.clone()).expect("compiles");
    let schema = &policy.schema();
    let feature = schema.id("feature").expect("declared");
    let quota = schema.id("quota").expect("declared");
    let maps: [&[(&str, i64)]; 3] = [&[], &[("chat", 10)], &[("chat", 3), ("kb", 1)]];
    let routed: Vec<bool> = maps
        .iter()
        .map(|m| {
            let mut ctx = Context::new(schema);
            ctx.set_str(feature, "chat").set_int_map(quota, m);
            let d = compiled.decide(&ctx);
            assert_eq!(d, decide_reference(&policy, &ctx));
            d.route.is_some()
        })
        .collect();
    assert_eq!(routed, [false, true, false]);
    let before = allocations();
    for _ in 0..200 {
        for m in &maps {
            let mut ctx = Context::new(schema);
            ctx.set_str(feature, "chat").set_int_map(quota, m);
            std::hint::black_box(compiled.decide(std::hint::black_box(&ctx)));
        }
    }
    assert_eq!(
        allocations() - before,
        0,
        "heap allocations deciding on int maps"
    );
}
