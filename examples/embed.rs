//! Embedding tollgate in a service: load the example policy once, then
//! decide per request from borrowed values (no allocation per decision).
//!
//! Run: `cargo run --release --example embed`

use tollgate::engine::compile;
use tollgate::engine::{to_json, Context};
use tollgate::lang::{load_path, LoadOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let loaded = load_path("rules/example.toml".as_ref(), &LoadOptions::default())?;
    let engine = compile(loaded.policy)?;
    let policy = engine.policy();
    // Resolve attribute names to slots once, at start-up.
    let schema = &policy.schema();
    let feature = schema.id("feature").ok_or("no `feature` attribute")?;
    let task = schema.id("task").ok_or("no `task` attribute")?;
    let input_tokens = schema
        .id("input_tokens")
        .ok_or("no `input_tokens` attribute")?;
    let tenant = schema.id("tenant").ok_or("no `tenant` attribute")?;

    for (f, t, n) in [
        ("docs", "extract", 1200),
        ("kb", "answer", 6000),
        ("chat", "chat", 300),
    ] {
        let mut ctx = Context::new(schema);
        ctx.set_str(feature, f)
            .set_str(task, t)
            .set_int(input_tokens, n)
            .set_str(tenant, "acme");
        let d = engine.decide(&ctx);
        println!("{}", to_json(policy, &d, &ctx));
    }
    Ok(())
}
