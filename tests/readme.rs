//! The README's embedding example prints what the README says it prints:
//! the decision JSON for `feature = "kb"`, `tenant = "acme"` under
//! `rules/example.toml`. A change to the example policy or to the decision
//! JSON fails here until the README shows the new line.

use tollgate::engine::{Context, PolicyHandle};
use tollgate::lang::LoadOptions;

/// The first ```json block after the line `prints` in README.md.
fn readme_json() -> String {
    let readme = include_str!("../README.md");
    let after = readme
        .split_once("\nprints\n")
        .expect("README.md has a line `prints` after the embedding example")
        .1;
    let block = after
        .split_once("```json\n")
        .expect("a ```json block follows `prints`")
        .1;
    block
        .split_once("\n```")
        .expect("the ```json block is closed")
        .0
        .to_string()
}

#[test]
fn the_embedding_example_prints_the_decision_the_readme_shows() {
    let root = env!("CARGO_MANIFEST_DIR");
    let handle = PolicyHandle::load(format!("{root}/rules/example.toml"), LoadOptions::default())
        .expect("rules/example.toml loads");
    let feature = handle.schema().id("feature").expect("`feature` attribute");
    let tenant = handle.schema().id("tenant").expect("`tenant` attribute");
    let mut ctx = Context::new(handle.schema());
    ctx.set_str(feature, "kb").set_str(tenant, "acme");
    let decision = handle.decide(&ctx);
    let printed = handle.current().to_json(&decision, &ctx).to_string();
    assert_eq!(printed, readme_json());
}
