//! Synthetic policies and requests, for benchmarks, tests and
//! `tollgate bench`.
//!
//! The rules have the mixed shape real policies have — equality, `in`,
//! numeric ranges, negated booleans, two- and three-way conjunctions over
//! several attributes, and (optionally) a few `contains` / `matches` rules —
//! never a one-attribute equality list, which would make any index look
//! good. Generation is deterministic for a given seed.

use std::fmt::Write as _;

/// Shape of a generated policy.
#[derive(Debug, Clone, Copy)]
pub struct SynthOptions {
    /// `[[route]]` rules.
    pub routes: usize,
    /// Include `contains` / `matches` rules (about 1 in 25).
    pub string_functions: bool,
    /// Seed.
    pub seed: u64,
}

/// A small xorshift generator: deterministic and dependency-free.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// Seeded (a zero seed is replaced, xorshift needs a non-zero state).
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// Uniform in `0..n` (`0` when `n == 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }
}

/// Attribute declarations shared by every synthetic policy.
pub const ATTRIBUTES: &str = r#"[attributes]
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
has_tools = "bool"
has_images = "bool"
"#;

const TASKS: [&str; 8] = [
    "classify",
    "extract",
    "summarize",
    "answer",
    "chat",
    "rewrite",
    "translate",
    "plan",
];
const TIERS: [&str; 3] = ["free", "pro", "enterprise"];
const REGIONS: [&str; 4] = ["us", "eu", "apac", "sa"];
const MODELS: [&str; 4] = ["nova_micro", "haiku", "sonnet", "opus"];

/// Number of distinct `feature` values for a policy of `n` rules.
pub fn feature_count(n: usize) -> u64 {
    (n as u64 / 8).clamp(4, 2000)
}

/// Number of distinct `tenant` values for a policy of `n` rules.
pub fn tenant_count(n: usize) -> u64 {
    (n as u64 / 4).clamp(8, 4000)
}

fn condition(r: &mut Rng, n: usize, string_functions: bool) -> String {
    let f = feature_count(n);
    let t = tenant_count(n);
    let feature = |r: &mut Rng| format!("f{}", r.below(f));
    let task = |r: &mut Rng| TASKS.get(r.below(8) as usize).copied().unwrap_or("chat");
    let tier = |r: &mut Rng| TIERS.get(r.below(3) as usize).copied().unwrap_or("pro");
    let lim = |r: &mut Rng| 500 * (1 + r.below(40));
    if string_functions && r.below(25) == 0 {
        return if r.below(2) == 0 {
            format!(
                "feature == \"{}\" && prompt.contains(\"word{}\")",
                feature(r),
                r.below(100)
            )
        } else {
            format!(
                "task == \"{}\" && prompt.matches(\"^(?i)(summar|classif)y{}\")",
                task(r),
                r.below(10)
            )
        };
    }
    match r.below(7) {
        0 => format!("feature == \"{}\" && input_tokens < {}", feature(r), lim(r)),
        1 => format!(
            "task in [\"{}\", \"{}\"] && user.tier == \"{}\" && !has_tools",
            task(r),
            task(r),
            tier(r)
        ),
        2 => {
            let lo = lim(r);
            format!(
                "tenant == \"t{}\" && input_tokens >= {lo} && input_tokens < {}",
                r.below(t),
                lo + lim(r)
            )
        }
        3 => format!(
            "feature in [\"{}\", \"{}\", \"{}\"] && region != \"{}\"",
            feature(r),
            feature(r),
            feature(r),
            REGIONS.get(r.below(4) as usize).copied().unwrap_or("us")
        ),
        4 => format!(
            "feature == \"{}\" && task == \"{}\" && system_tokens >= {}",
            feature(r),
            task(r),
            lim(r)
        ),
        5 => format!(
            "tenant == \"t{}\" && (has_images || message_count > {})",
            r.below(t),
            r.below(20)
        ),
        _ => format!(
            "user.tier == \"{}\" && feature == \"{}\" && latency == \"tolerant\"",
            tier(r),
            feature(r)
        ),
    }
}

/// A policy text with `opts.routes` `[[route]]` rules over [`ATTRIBUTES`].
pub fn policy_text(opts: SynthOptions) -> String {
    let mut r = Rng::new(opts.seed);
    let mut s = String::with_capacity(opts.routes * 120 + 2048);
    let _ = write!(
        s,
        "[policy]\nname = \"synthetic-{}\"\ndefault_model = \"sonnet\"\n\n{ATTRIBUTES}\n",
        opts.routes
    );
    s.push_str(
        "[models.nova_micro]\nid = \"us.amazon.nova-micro-v1:0\"\n\n\
         [models.haiku]\nid = \"us.anthropic.claude-3-5-haiku-20241022-v1:0\"\n\n\
         [models.sonnet]\nid = \"us.anthropic.claude-sonnet-4-20250514-v1:0\"\n\n\
         [models.opus]\nid = \"us.anthropic.claude-opus-4-20250514-v1:0\"\n\n",
    );
    for i in 0..opts.routes {
        let cond = condition(&mut r, opts.routes, opts.string_functions);
        let model = MODELS.get(r.below(4) as usize).copied().unwrap_or("haiku");
        let _ = writeln!(
            s,
            "[[route]]\nname = \"r{i}\"\nwhen = '{cond}'\nmodel = \"{model}\"\n"
        );
    }
    s
}

/// A request as JSON with values drawn from the same domains as the rules
/// (so many rules are close to matching), some attributes left out.
pub fn request_json(r: &mut Rng, n_rules: usize) -> String {
    let mut parts = Vec::new();
    if r.below(10) != 0 {
        parts.push(format!(
            "\"feature\": \"f{}\"",
            r.below(feature_count(n_rules))
        ));
    }
    parts.push(format!(
        "\"task\": \"{}\"",
        TASKS.get(r.below(8) as usize).copied().unwrap_or("chat")
    ));
    if r.below(8) != 0 {
        parts.push(format!(
            "\"tenant\": \"t{}\"",
            r.below(tenant_count(n_rules))
        ));
    }
    parts.push(format!(
        "\"user\": {{\"tier\": \"{}\"}}",
        TIERS.get(r.below(3) as usize).copied().unwrap_or("pro")
    ));
    parts.push(format!(
        "\"region\": \"{}\"",
        REGIONS.get(r.below(4) as usize).copied().unwrap_or("us")
    ));
    parts.push(format!(
        "\"latency\": \"{}\"",
        if r.below(3) == 0 {
            "tolerant"
        } else {
            "interactive"
        }
    ));
    parts.push(format!(
        "\"prompt\": \"please summarize word{} for me\"",
        r.below(100)
    ));
    parts.push(format!("\"input_tokens\": {}", r.below(20_000)));
    parts.push(format!("\"system_tokens\": {}", r.below(20_000)));
    parts.push(format!("\"message_count\": {}", r.below(30)));
    parts.push(format!("\"has_tools\": {}", r.below(2) == 0));
    parts.push(format!("\"has_images\": {}", r.below(5) == 0));
    format!("{{{}}}", parts.join(", "))
}
