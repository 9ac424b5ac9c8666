//! `tollgate check`: load rule files and print their diagnostics, as text
//! or JSON.

use clap::ValueEnum;
use std::path::PathBuf;
use tollgate_lang::{load_path, LoadOptions};

/// The output format of `check`.
#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Format {
    // Diagnostics rendered with their snippets on stderr, a summary per path.
    Text,
    // One JSON array of every diagnostic on stdout.
    Json,
}

/// The `check` arguments.
#[derive(clap::Args)]
pub struct Args {
    /// Policy files or directories.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Fail on warnings too.
    #[arg(long)]
    deny_warnings: bool,
    /// Output format of the diagnostics.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

/// Runs `tollgate check`.
pub fn run(a: Args) -> Result<bool, String> {
    let Args {
        paths,
        deny_warnings,
        format,
    } = a;
    let mut ok = true;
    let mut all = Vec::new();
    for path in &paths {
        let (diags, sources, summary) = match load_path(path, &LoadOptions::default()) {
            Ok(l) => {
                let p = &l.policy;
                let summary = format!(
                    "{}: ok, policy `{}`, {} rules, {} models, {} tests, {} warning{}",
                    path.display(),
                    p.name(),
                    p.rule_count(),
                    p.models().len(),
                    p.tests().len(),
                    l.warnings.len(),
                    if l.warnings.len() == 1 { "" } else { "s" }
                );
                if deny_warnings && !l.warnings.is_empty() {
                    ok = false;
                }
                (l.warnings, l.policy.sources().clone(), Some(summary))
            }
            Err(e) => {
                ok = false;
                (e.diagnostics, e.sources, None)
            }
        };
        match format {
            Format::Text => {
                for d in &diags {
                    eprint!("{}", d.render(&sources));
                }
                match summary {
                    Some(s) => println!("{s}"),
                    None => {
                        let n = diags.iter().filter(|d| d.is_error()).count();
                        eprintln!(
                            "{}: {n} error{}",
                            path.display(),
                            if n == 1 { "" } else { "s" }
                        );
                    }
                }
            }
            Format::Json => all.extend(diags.iter().map(|d| d.to_json(&sources))),
        }
    }
    if format == Format::Json {
        println!("{}", serde_json::Value::Array(all));
    }
    Ok(ok)
}
