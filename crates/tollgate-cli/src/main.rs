//! The `tollgate` command: check, test, explain and decide with rule files;
//! replay, report and tiers over recorded traffic.
//!
//! This file only parses arguments and prints; the work happens in the
//! library crates.

use clap::{Parser, Subcommand, ValueEnum};
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use tollgate_engine::eval::{ErrorKind, Outcome};
use tollgate_engine::explain::Step;
use tollgate_engine::testing::run_tests;
use tollgate_engine::{to_json, Context, Decision, Request};
use tollgate_lang::policy::Section;
use tollgate_lang::{load_path, LoadOptions, Loaded, Policy};

mod engine;
mod plan_cmd;
mod prices_cmd;
mod prices_import;
mod replay_cmd;
mod report_cmd;
mod route_eval_cmd;
mod route_train_cmd;
mod tools;

#[derive(Parser)]
#[command(
    name = "tollgate",
    version,
    about = "Routing, caching and cost rules for Amazon Bedrock"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Format {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Cmd {
    /// Check rule files: syntax, types, references, lints.
    Check {
        /// Policy files or directories.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Fail on warnings too.
        #[arg(long)]
        deny_warnings: bool,
        /// Output format of the diagnostics.
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
    },
    /// Run the `[[test]]` cases of rule files.
    Test {
        /// Policy files or directories.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// List the rules no test case reaches.
        #[arg(long)]
        coverage: bool,
    },
    /// Show the decision for one request and why each rule matched or not.
    Explain {
        /// Policy file or directory.
        path: PathBuf,
        /// The request as JSON, or @FILE.
        #[arg(long)]
        request: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Decide JSON Lines requests from stdin, one JSON decision per line.
    Decide {
        /// Policy file or directory.
        path: PathBuf,
    },
    /// Show which requests two policies decide differently, section by section.
    Diff {
        /// The policy in force.
        old: PathBuf,
        /// The candidate policy.
        new: PathBuf,
        /// JSON Lines requests to decide with both.
        #[arg(long)]
        requests: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Time context construction + decide() for a policy.
    Bench {
        /// Policy file or directory.
        path: PathBuf,
        /// JSON Lines requests (default: generated from the policy's literals).
        #[arg(long)]
        requests: Option<PathBuf>,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
        /// Generated requests when no file is given.
        #[arg(long, default_value_t = 1000)]
        count: usize,
    },
    /// Capacity plans over recorded traffic.
    Plan {
        #[command(subcommand)]
        what: PlanCmd,
    },
    /// Price a policy on recorded traffic: baseline vs projected cost.
    Replay {
        /// Policy file or directory.
        #[arg(long)]
        rules: PathBuf,
        /// Input format (default: guessed from each file's first line).
        #[arg(long, value_parser = ["events", "azure", "mooncake", "servegen"])]
        format: Option<String>,
        /// Traffic files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// ATTR=VALUE for an attribute the data lacks (repeatable).
        #[arg(long = "set", value_name = "ATTR=VALUE")]
        set: Vec<String>,
        /// Baseline: every request on this model alias (needed when the data has no model).
        #[arg(long, value_name = "ALIAS")]
        baseline_model: Option<String>,
        /// Also price this policy on the same traffic.
        #[arg(long, value_name = "OTHER_RULES")]
        diff: Option<PathBuf>,
        /// Write the projected call events (JSON Lines) here.
        #[arg(long, value_name = "FILE")]
        emit_events: Option<PathBuf>,
        /// Refuse `--emit-events` when the traffic expands to more events than this
        /// (ServeGen windows expand to one event per request).
        #[arg(long, value_name = "N", default_value_t = 1_000_000)]
        emit_limit: u64,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
        /// ServeGen: assumed prompt,output tokens per request.
        #[arg(long, value_name = "IN,OUT", default_value = "1000,250")]
        servegen_tokens: String,
        /// Put t=0 of a relative trace clock (ServeGen, Mooncake) at this UTC date, YYYY-MM-DD.
        #[arg(long, value_name = "DATE")]
        start: Option<String>,
        /// Source region of calls that record none (recorded call events are priced at theirs; default us-east-1).
        #[arg(long, value_name = "REGION")]
        region: Option<String>,
    },
    /// Daily cost per feature from call events, with the spend spike alerts.
    Report {
        /// Call event files (JSON Lines).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Policy whose [alerts.spend_spike] sets group_by, factor, window and floor.
        #[arg(long)]
        rules: Option<PathBuf>,
        /// Also write a self-contained HTML page with a chart here.
        #[arg(long, value_name = "FILE")]
        html: Option<PathBuf>,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Score a policy's routing on per-prompt quality data (RouteLLM evals) vs all-strong.
    RouteEval {
        /// Policy file or directory.
        #[arg(long)]
        rules: PathBuf,
        /// Eval files or directories (e.g. data/routellm-evals).
        #[arg(required = true)]
        evals: Vec<PathBuf>,
        /// Prompts scored: report (odd xxh3 of the prompt id), tune (even) or all.
        #[arg(long, default_value = "report", value_parser = ["report", "tune", "all"])]
        split: String,
        /// Model alias standing for the data's strong model.
        #[arg(long, value_name = "ALIAS", default_value = "strong")]
        strong: String,
        /// Model alias standing for the data's weak model.
        #[arg(long, value_name = "ALIAS", default_value = "weak")]
        weak: String,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
        /// Quality-kept floor of one dataset, DATASET=KEPT (0 to 1); repeatable.
        #[arg(long = "floor", value_name = "DATASET=KEPT")]
        floors: Vec<String>,
        /// Floor of every other dataset; a dataset below its floor is flagged and the run exits 1.
        #[arg(long, default_value_t = 0.90)]
        default_floor: f64,
    },
    /// Train a learned router from eval records; print its curve and per-feature thresholds.
    RouteTrain {
        /// RouteLLM eval files or directories (e.g. data/routellm-evals).
        evals: Vec<PathBuf>,
        /// JSON Lines training records (prompt, feature, strong_score, weak_score, *_output_tokens).
        #[arg(long = "records", value_name = "FILE")]
        records: Vec<PathBuf>,
        /// The policy whose models price the strong and weak aliases.
        #[arg(long)]
        rules: PathBuf,
        /// Model file to write.
        #[arg(long)]
        out: PathBuf,
        /// Records trained on: tune (even xxh3 of the id), report (odd) or all.
        #[arg(long, default_value = "all", value_parser = ["report", "tune", "all"])]
        split: String,
        /// Model alias of the strong model.
        #[arg(long, value_name = "ALIAS", default_value = "strong")]
        strong: String,
        /// Model alias of the weak model.
        #[arg(long, value_name = "ALIAS", default_value = "weak")]
        weak: String,
        /// Quality floor of one feature, FEATURE=KEPT (0 to 1); repeatable.
        #[arg(long = "floor", value_name = "FEATURE=KEPT")]
        floors: Vec<String>,
        /// Quality floor of every other feature and of the default threshold.
        #[arg(long, default_value_t = 0.95)]
        default_floor: f64,
        /// 2^N hashed n-gram buckets.
        #[arg(long, default_value_t = 13)]
        hash_bits: u32,
        /// Ridge penalty.
        #[arg(long, default_value_t = 1.0)]
        lambda: f64,
        /// Conjugate-gradient iterations per regression.
        #[arg(long, default_value_t = 60)]
        iterations: usize,
        /// Out-of-fold parts for the threshold choice.
        #[arg(long, default_value_t = 5)]
        folds: u32,
        /// Router name used in the printed rules.
        #[arg(long, default_value = "learned")]
        router: String,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Eval score, latency and cost per model tier and use case, from call events.
    Tiers {
        /// Call event files (JSON Lines).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Eval records, JSON Lines: {"request_id": "...", "score": 0.0..1.0}.
        #[arg(long, value_name = "FILE")]
        evals: Option<PathBuf>,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Bedrock prices: what a model id is billed at, and checks of a price table.
    Prices {
        #[command(subcommand)]
        what: PricesCmd,
    },
    /// Ranked recommendations (rules to add, with their daily saving) from recorded call events.
    Advise {
        /// Call-event files (JSON Lines).
        #[arg(required = true)]
        events: Vec<PathBuf>,
        /// Source region of calls that record none (calls that record one are priced at theirs; default us-east-1).
        #[arg(long, value_name = "REGION")]
        region: Option<String>,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum PricesCmd {
    /// The prices a call with each model id is billed at in a region and tier (USD per million tokens).
    Show {
        /// Source region the call is made from (default us-east-1).
        #[arg(long, value_name = "REGION")]
        region: Option<String>,
        /// Service tier: default, flex, priority or reserved.
        #[arg(long, value_name = "TIER", default_value = "default")]
        tier: String,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
        /// Use this policy's effective price table (its `[policy] prices` file over the built-in one).
        #[arg(long, value_name = "PATH")]
        rules: Option<PathBuf>,
        /// Model ids as called (base ids, profile ids such as `us.ID`, ARNs); default: every model of the table.
        models: Vec<String>,
    },
    /// Write a price table from AWS's Price List offer file for Amazon Bedrock.
    Import {
        /// The offer file (JSON: products with attributes, terms.OnDemand).
        offer: PathBuf,
        /// Region to import (repeatable; the first gives each model's own prices, default us-east-1).
        #[arg(long = "region", value_name = "REGION")]
        regions: Vec<String>,
        /// Write the table here instead of stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Usage-type mapping table (default: rules/pricing/bedrock-usage-types.toml, built in).
        #[arg(long, value_name = "FILE")]
        map: Option<PathBuf>,
    },
    /// Check a price table (the built-in one by default): batch at 50%, cache prices at their provider's ratios, profile prefixes.
    Check {
        /// Price table file in the format of rules/pricing/bedrock.toml.
        file: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum PlanCmd {
    /// The saving from moving the traffic the policy's [[batch]] rules (or --when) select to batch prices.
    Batch {
        /// Policy file or directory.
        #[arg(long)]
        rules: PathBuf,
        /// Select by this expression over the recorded attributes instead of the [[batch]] rules.
        #[arg(long, value_name = "EXPR")]
        when: Option<String>,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
        /// Call-event files (JSON Lines).
        #[arg(required = true)]
        events: Vec<PathBuf>,
        /// Source region of calls that record none (calls that record one are priced at theirs; default us-east-1).
        #[arg(long, value_name = "REGION")]
        region: Option<String>,
    },
    /// Provisioned throughput at the traffic floor (held >= 16 h a day) vs on demand.
    Provisioned {
        /// Policy whose model prices the on-demand traffic.
        #[arg(long)]
        rules: PathBuf,
        /// Model alias of the policy.
        #[arg(long, value_name = "ALIAS")]
        model: String,
        /// Tokens (prompt + output) per minute one model unit serves (your AWS quote).
        #[arg(long, value_name = "N")]
        unit_tokens_per_minute: u64,
        /// USD per hour of one model unit (your AWS quote).
        #[arg(long, value_name = "USD")]
        unit_usd_per_hour: f64,
        /// Input format (default: guessed).
        #[arg(long, value_parser = ["events", "azure", "mooncake", "servegen"])]
        format: Option<String>,
        /// ServeGen: assumed prompt,output tokens per request.
        #[arg(long, value_name = "IN,OUT", default_value = "1000,250")]
        servegen_tokens: String,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
        /// Traffic files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Source region the on-demand traffic is priced at (default us-east-1).
        #[arg(long, value_name = "REGION")]
        region: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let r = match cli.cmd {
        Cmd::Check {
            paths,
            deny_warnings,
            format,
        } => check(&paths, deny_warnings, format),
        Cmd::Test { paths, coverage } => test(&paths, coverage),
        Cmd::Explain {
            path,
            request,
            json,
        } => explain(&path, &request, json),
        Cmd::Decide { path } => decide(&path),
        Cmd::Diff {
            old,
            new,
            requests,
            json,
        } => tools::diff(&old, &new, &requests, json),
        Cmd::Bench {
            path,
            requests,
            json,
            count,
        } => tools::bench(&path, requests.as_deref(), json, count),
        Cmd::Plan {
            what:
                PlanCmd::Batch {
                    rules,
                    when,
                    json,
                    events,
                    region,
                },
        } => plan_cmd::batch(&rules, &events, when.as_deref(), region.as_deref(), json),
        Cmd::Plan {
            what:
                PlanCmd::Provisioned {
                    rules,
                    model,
                    unit_tokens_per_minute,
                    unit_usd_per_hour,
                    format,
                    servegen_tokens,
                    json,
                    files,
                    region,
                },
        } => replay_cmd::plan_provisioned(replay_cmd::PlanArgs {
            rules,
            model,
            unit_tokens_per_minute,
            unit_usd_per_hour,
            format,
            servegen_tokens,
            json,
            files,
            region,
        }),
        Cmd::Replay {
            rules,
            format,
            files,
            set,
            baseline_model,
            diff,
            emit_events,
            emit_limit,
            json,
            servegen_tokens,
            start,
            region,
        } => replay_cmd::run(replay_cmd::Args {
            rules,
            format,
            files,
            set,
            baseline_model,
            diff,
            emit_events,
            emit_limit,
            json,
            servegen_tokens,
            start,
            region,
        }),
        Cmd::Report {
            files,
            rules,
            html,
            json,
        } => report_cmd::report(report_cmd::ReportArgs {
            files,
            rules,
            html,
            json,
        }),
        Cmd::Tiers { files, evals, json } => {
            report_cmd::tiers(report_cmd::TiersArgs { files, evals, json })
        }
        Cmd::Prices {
            what:
                PricesCmd::Show {
                    region,
                    tier,
                    json,
                    rules,
                    models,
                },
        } => prices_cmd::show(prices_cmd::ShowArgs {
            region,
            tier,
            json,
            rules,
            models,
        }),
        Cmd::Prices {
            what: PricesCmd::Check { file },
        } => prices_cmd::check(file.as_deref()),
        Cmd::Prices {
            what:
                PricesCmd::Import {
                    offer,
                    regions,
                    out,
                    map,
                },
        } => prices_import::import(prices_import::ImportArgs {
            offer,
            regions,
            out,
            map,
        }),
        Cmd::Advise {
            events,
            region,
            json,
        } => plan_cmd::advise(&events, region.as_deref(), json),
        Cmd::RouteEval {
            rules,
            evals,
            split,
            strong,
            weak,
            json,
            floors,
            default_floor,
        } => route_eval_cmd::run(route_eval_cmd::Args {
            rules,
            evals,
            split,
            strong,
            weak,
            json,
            floors,
            default_floor,
        }),
        Cmd::RouteTrain {
            evals,
            records,
            rules,
            out,
            split,
            strong,
            weak,
            floors,
            default_floor,
            hash_bits,
            lambda,
            iterations,
            folds,
            router,
            json,
        } => route_train_cmd::run(route_train_cmd::Args {
            evals,
            records,
            rules,
            out,
            split,
            strong,
            weak,
            floors,
            default_floor,
            hash_bits,
            lambda,
            iterations,
            folds,
            router,
            json,
        }),
    };
    match r {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

/// Load a policy, printing diagnostics (errors and warnings) to stderr.
fn load(path: &std::path::Path) -> Option<Loaded> {
    match load_path(path, &LoadOptions::default()) {
        Ok(l) => {
            for w in &l.warnings {
                eprint!("{}", w.render(&l.policy.sources));
            }
            Some(l)
        }
        Err(e) => {
            eprint!("{}", e.render());
            let n = e.errors().count();
            eprintln!(
                "{}: {n} error{}, policy not loaded",
                path.display(),
                if n == 1 { "" } else { "s" }
            );
            None
        }
    }
}

fn check(paths: &[PathBuf], deny_warnings: bool, format: Format) -> Result<bool, String> {
    let mut ok = true;
    let mut all = Vec::new();
    for path in paths {
        let (diags, sources, summary) = match load_path(path, &LoadOptions::default()) {
            Ok(l) => {
                let p = &l.policy;
                let summary = format!(
                    "{}: ok, policy `{}`, {} rules, {} models, {} tests, {} warning{}",
                    path.display(),
                    p.name,
                    p.rule_count(),
                    p.models.len(),
                    p.tests.len(),
                    l.warnings.len(),
                    if l.warnings.len() == 1 { "" } else { "s" }
                );
                if deny_warnings && !l.warnings.is_empty() {
                    ok = false;
                }
                (l.warnings, l.policy.sources, Some(summary))
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

fn test(paths: &[PathBuf], coverage: bool) -> Result<bool, String> {
    let (mut passed, mut failed) = (0usize, 0usize);
    for path in paths {
        let Some(l) = load(path) else {
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

fn read_request(arg: &str) -> Result<String, String> {
    match arg.strip_prefix('@') {
        Some(file) => {
            std::fs::read_to_string(file).map_err(|e| format!("cannot read `{file}`: {e}"))
        }
        None => Ok(arg.to_string()),
    }
}

/// Learned routers' scores of the request's `prompt` member (a string),
/// set into `ctx` before deciding; empty when the policy has no routers or
/// the request no prompt.
fn score_prompt(
    policy: &Policy,
    ctx: &mut Context<'_>,
    request: &str,
) -> Vec<(String, tollgate_lang::router::RouterScore)> {
    if policy.routers.is_empty() {
        return Vec::new();
    }
    let v: serde_json::Value = serde_json::from_str(request).unwrap_or_default();
    let Some(prompt) = v.get("prompt").and_then(serde_json::Value::as_str) else {
        return Vec::new();
    };
    tollgate_engine::routers::score_routers(policy, ctx, prompt);
    policy
        .routers
        .iter()
        .map(|r| (r.name.clone(), r.model.score(prompt)))
        .collect()
}

fn explain(path: &std::path::Path, request: &str, json: bool) -> Result<bool, String> {
    let Some(l) = load(path) else {
        return Ok(false);
    };
    let policy = &l.policy;
    let text = read_request(request)?;
    let req = Request::parse(&policy.schema, &text).map_err(|e| format!("request: {e}"))?;
    let mut ctx = req.context(&policy.schema);
    let scores = score_prompt(policy, &mut ctx, &text);
    let engine = engine::Engine::new(policy.clone()).map_err(|e| e.to_string())?;
    let explanation = engine.explain(&ctx);
    let d = explanation.decision;
    let trace = explanation.steps;
    if json {
        let mut out = to_json(policy, &d, &ctx);
        if let Some(o) = out.as_object_mut() {
            o.insert("trace".into(), trace_json(policy, &trace));
            o.insert("unknown_keys".into(), serde_json::json!(req.unknown));
            let routers: serde_json::Map<String, serde_json::Value> = scores
                .iter()
                .map(|(n, s)| {
                    (
                        n.clone(),
                        serde_json::json!({"gain": s.gain, "gain_per_usd": s.gain_per_usd}),
                    )
                })
                .collect();
            o.insert("routers".into(), routers.into());
        }
        println!("{out}");
        return Ok(true);
    }
    for (n, s) in &scores {
        println!(
            "router `{n}`: {n}.gain = {}, {n}.gain_per_usd = {}",
            s.gain, s.gain_per_usd
        );
    }
    print_explanation(policy, &d, &ctx, &trace, &req.unknown);
    Ok(true)
}

fn describe(policy: &Policy, o: &Outcome) -> (String, Option<String>, Option<String>) {
    let loc = |s: tollgate_lang::Span| policy.sources.location(s);
    let snip = |s: tollgate_lang::Span| policy.sources.snippet(s).to_string();
    match o {
        Outcome::Matched => ("matched".into(), None, None),
        Outcome::False { culprit } => ("false".into(), Some(snip(*culprit)), Some(loc(*culprit))),
        Outcome::Error(e) => {
            let why = match &e.kind {
                ErrorKind::Missing(a) => {
                    format!("error: attribute `{}` is missing", policy.schema.name(*a))
                }
                ErrorKind::Overflow => "error: integer overflow".into(),
                ErrorKind::DivisionByZero => "error: division by zero".into(),
                ErrorKind::BadConversion(c) => {
                    format!("error: no `{}()` value for this argument", c.name())
                }
                ErrorKind::StringIndex(f) => {
                    format!("error: an index out of range in `{}()`", f.name())
                }
                ErrorKind::IndexOutOfRange { index, len } => {
                    format!("error: index {index} is out of range for a list of {len}")
                }
                ErrorKind::NoSuchKey(k) => {
                    let mut lit = String::new();
                    let _ = tollgate_lang::expr::ast::quote(k, &mut lit);
                    format!("error: the map has no key {lit}")
                }
                ErrorKind::TimeOutOfRange => {
                    "error: a timestamp outside the years 1 to 9999, or a duration past 292 years"
                        .into()
                }
                ErrorKind::UnknownTimeZone(z) => format!("error: unknown time zone `{z}`"),
            };
            (why, Some(snip(e.span)), Some(loc(e.span)))
        }
    }
}

fn trace_json(policy: &Policy, steps: &[Step]) -> serde_json::Value {
    serde_json::Value::Array(
        steps
            .iter()
            .map(|s| {
                let (what, expr, at) = describe(policy, &s.outcome);
                let rule = tollgate_engine::decision::rule_name(policy, s.section, Some(s.rule));
                let outcome = match &s.outcome {
                    Outcome::Matched => "matched",
                    Outcome::False { .. } => "false",
                    Outcome::Error(_) => "error",
                };
                serde_json::json!({
                    "section": s.section.name(),
                    "rule": rule,
                    "outcome": outcome,
                    "detail": if outcome == "error" { Some(what) } else { s.note.clone() },
                    "expression": expr,
                    "at": at,
                })
            })
            .collect(),
    )
}

fn print_explanation(
    policy: &Policy,
    d: &Decision,
    ctx: &Context<'_>,
    steps: &[Step],
    unknown: &[String],
) {
    let j = to_json(policy, d, ctx);
    println!("policy `{}` ({})", policy.name, policy.hash_hex());
    let model = policy.model(d.model);
    // The tier and latency are shown when the route sets them (else the
    // request's own are sent).
    let tier = d
        .service_tier
        .map(|t| format!(", service_tier {}", t.name()))
        .unwrap_or_default();
    let latency = d
        .latency
        .map(|l| format!(", latency {}", l.name()))
        .unwrap_or_default();
    println!(
        "decision: model `{}` ({}), max_output_tokens {}{tier}{latency}",
        model.map(|m| m.alias.as_str()).unwrap_or(""),
        model.map(|m| m.id.as_str()).unwrap_or(""),
        d.max_output_tokens
            .map(|c| c.to_string())
            .unwrap_or_else(|| "none".into())
    );
    for sec in Section::ALL {
        let decided = tollgate_engine::decision::rule_name(policy, sec, d.rule(sec));
        let extra = if sec == Section::Route && d.route.is_none() {
            " (default model)"
        } else {
            ""
        };
        println!("\n[[{}]] -> {decided}{extra}", sec.name());
        let mut any = false;
        for s in steps.iter().filter(|s| s.section == sec) {
            any = true;
            let (what, expr, at) = describe(policy, &s.outcome);
            let rule = tollgate_engine::decision::rule_name(policy, s.section, Some(s.rule));
            match (&s.note, expr, at) {
                (Some(n), _, _) => println!("  {rule:<28} not applied: {n}"),
                (None, Some(e), Some(at)) => println!("  {rule:<28} {what}: `{e}` at {at}"),
                _ => println!("  {rule:<28} {what}"),
            }
            if let (None, Outcome::False { culprit }) = (&s.note, &s.outcome) {
                print_values(policy, s, *culprit, ctx);
            }
        }
        if !any {
            println!("  (no rules)");
        }
    }
    if !unknown.is_empty() {
        println!(
            "\nignored keys (not attributes of this policy): {}",
            unknown.join(", ")
        );
    }
    let _ = j;
}

/// The value of each sub-expression of a false condition's culprit
/// (its attributes, calls and operators; literals are left out).
fn print_values(policy: &Policy, s: &Step, culprit: tollgate_lang::Span, ctx: &Context<'_>) {
    let rules = policy.section_rules(s.section);
    let Some(when) = rules
        .get(s.rule.0 as usize)
        .and_then(|(_, when, _)| *when)
        .and_then(|w| tollgate_engine::eval::find(w, culprit))
    else {
        return;
    };
    // The culprit itself is false (printed above); a sub-expression
    // written twice has one value.
    let mut seen: Vec<String> = Vec::new();
    for (span, v) in tollgate_engine::eval::sub_values(when, ctx)
        .into_iter()
        .skip(1)
    {
        let text = policy.sources.snippet(span);
        let text: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
        if seen.contains(&text) {
            continue;
        }
        seen.push(text.clone());
        match v {
            Ok(v) => println!("      {text} = {v}"),
            Err(_) => println!("      {text} = error"),
        }
    }
}

fn decide(path: &std::path::Path) -> Result<bool, String> {
    let Some(l) = load(path) else {
        return Ok(false);
    };
    let policy = &l.policy;
    let engine = engine::Engine::new(policy.clone()).map_err(|e| e.to_string())?;
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let mut ok = true;
    let mut buf = Vec::new();
    let mut input = stdin.lock();
    let mut line_no = 0usize;
    loop {
        buf.clear();
        let n = input
            .read_until(b'\n', &mut buf)
            .map_err(|e| format!("stdin: {e}"))?;
        if n == 0 {
            break;
        }
        line_no += 1;
        let mut bytes: &[u8] = &buf;
        if line_no == 1 {
            bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        }
        let bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
        let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
        if bytes.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let parsed = std::str::from_utf8(bytes)
            .map_err(|e| format!("invalid UTF-8: {e}"))
            .and_then(|t| Request::parse(&policy.schema, t).map_err(|e| e.to_string()));
        let r = match parsed {
            Ok(req) => {
                let mut ctx = req.context(&policy.schema);
                score_prompt(
                    policy,
                    &mut ctx,
                    std::str::from_utf8(bytes).unwrap_or_default(),
                );
                let d = engine.decide(&ctx);
                serde_json::to_writer(&mut out, &to_json(policy, &d, &ctx))
            }
            Err(e) => {
                ok = false;
                serde_json::to_writer(&mut out, &serde_json::json!({"line": line_no, "error": e}))
            }
        };
        r.map_err(|e| format!("stdout: {e}"))?;
        out.write_all(b"\n").map_err(|e| format!("stdout: {e}"))?;
    }
    out.flush().map_err(|e| format!("stdout: {e}"))?;
    Ok(ok)
}
