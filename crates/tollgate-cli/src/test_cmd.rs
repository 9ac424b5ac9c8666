//! `tollgate test`: run the `[[test]]` cases of rule files, with the rules
//! no case reaches on `--coverage`.

use crate::engine;
use std::path::PathBuf;
use tollgate_engine::run_tests;

/// The `test` arguments.
#[derive(clap::Args)]
pub struct Args {
    /// Policy files or directories.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// List the rules no test case reaches.
    #[arg(long)]
    coverage: bool,
}

/// Runs `tollgate test`.
pub fn run(a: Args) -> Result<bool, String> {
    let Args { paths, coverage } = a;
    let (mut passed, mut failed) = (0usize, 0usize);
    for path in &paths {
        let Some(l) = crate::load(path) else {
            failed += 1;
            continue;
        };
        let policy = &l.policy;
        let engine = engine::Engine::new(policy.clone()).map_err(|e| e.to_string())?;
        let results = run_tests(policy, &|ctx| engine.decide(ctx));
        let (p, f) = results.iter().fold(
            (0, 0),
            |(p, f), r| if r.passed() { (p + 1, f) } else { (p, f + 1) },
        );
        for r in &results {
            if r.passed() {
                continue;
            }
            println!("FAIL {}  ({})", r.name, r.location);
            if let Some(e) = &r.request_error {
                println!("     request: {e}");
            }
            for m in &r.mismatches {
                println!(
                    "     {}: expected `{}`, got `{}`",
                    m.what, m.expected, m.actual
                );
            }
        }
        println!("{}: {p} passed, {f} failed", path.display());
        if coverage {
            let unreached = engine::unreached_rules(policy, &|ctx| engine.decide(ctx));
            if unreached.is_empty() {
                println!("{}: every rule is reached by a test", path.display());
            } else {
                println!(
                    "{}: {} rule{} no test reaches:",
                    path.display(),
                    unreached.len(),
                    if unreached.len() == 1 { "" } else { "s" }
                );
                for (sec, name, loc) in unreached {
                    println!("  [[{}]] {name}  ({loc})", sec.name());
                }
            }
        }
        passed += p;
        failed += f;
    }
    println!("{passed} passed, {failed} failed");
    Ok(failed == 0)
}
