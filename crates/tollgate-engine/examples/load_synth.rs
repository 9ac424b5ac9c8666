//! Load a synthetic policy (the shape of the `load10k` benchmark) and
//! report how long parse + check took. For profiling the loader:
//!
//! ```text
//! cargo build --release -p tollgate-engine --example load_synth
//! valgrind --tool=callgrind target/release/examples/load_synth 1000
//! ```
//!
//! Arguments: number of rules (default 10000), repetitions (default 1).

use std::time::Instant;
use tollgate_engine::synth::{policy_text, SynthOptions};
use tollgate_lang::{load_str, LoadOptions};

fn main() {
    let mut args = std::env::args().skip(1);
    let routes = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let reps: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1);
    let text = policy_text(SynthOptions {
        routes,
        string_functions: false,
        seed: 42,
    });
    for _ in 0..reps {
        let t = Instant::now();
        match load_str("bench.toml", &text, &LoadOptions::default()) {
            Ok(l) => println!(
                "{routes} rules: parse + check {:.1} ms, {} warnings",
                t.elapsed().as_secs_f64() * 1e3,
                l.warnings.len()
            ),
            Err(e) => {
                eprintln!("{}", e.render());
                std::process::exit(1);
            }
        }
    }
}
