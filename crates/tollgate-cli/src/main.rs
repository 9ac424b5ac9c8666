//! The `tollgate` command: check, test, explain and decide with rule files;
//! replay, report and tiers over recorded traffic.
//!
//! This file parses arguments and dispatches; each subcommand's arguments
//! are a `clap::Args` struct in its module, passed whole to its handler,
//! and the work happens in the library crates. `explain` is still here.

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use tollgate_engine::Step;
use tollgate_engine::{to_json, Context, Decision, Request};
use tollgate_engine::{ErrorKind, Outcome};
use tollgate_lang::Section;
use tollgate_lang::{load_path, LoadOptions, Loaded, Policy};

mod check_cmd;
mod decide_cmd;
mod engine;
mod plan_cmd;
mod prices_cmd;
mod prices_import;
mod replay_cmd;
mod report_cmd;
mod route_eval_cmd;
mod route_train_cmd;
mod test_cmd;
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

#[derive(Subcommand)]
enum Cmd {
    /// Check rule files: syntax, types, references, lints.
    Check(check_cmd::Args),
    /// Run the `[[test]]` cases of rule files.
    Test(test_cmd::Args),
    /// Show the decision for one request and why each rule matched or not.
    Explain(ExplainArgs),
    /// Decide JSON Lines requests from stdin, one JSON decision per line.
    Decide(decide_cmd::Args),
    /// Show which requests two policies decide differently, section by section.
    Diff(tools::DiffArgs),
    /// Time context construction + decide() for a policy.
    Bench(tools::BenchArgs),
    /// Capacity plans over recorded traffic.
    Plan {
        #[command(subcommand)]
        what: PlanCmd,
    },
    /// Price a policy on recorded traffic: baseline vs projected cost.
    Replay(replay_cmd::Args),
    /// Daily cost per feature from call events, with the spend spike alerts.
    Report(report_cmd::ReportArgs),
    /// Score a policy's routing on per-prompt quality data (RouteLLM evals) vs all-strong.
    RouteEval(route_eval_cmd::Args),
    /// Train a learned router from eval records; print its curve and per-feature thresholds.
    RouteTrain(route_train_cmd::Args),
    /// Eval score, latency and cost per model tier and use case, from call events.
    Tiers(report_cmd::TiersArgs),
    /// Bedrock prices: what a model id is billed at, and checks of a price table.
    Prices {
        #[command(subcommand)]
        what: PricesCmd,
    },
    /// Ranked recommendations (rules to add, with their daily saving) from recorded call events.
    Advise(plan_cmd::AdviseArgs),
}

#[derive(Subcommand)]
enum PricesCmd {
    /// The prices a call with each model id is billed at in a region and tier (USD per million tokens).
    Show(prices_cmd::ShowArgs),
    /// Write a price table from AWS's Price List offer file for Amazon Bedrock.
    Import(prices_import::ImportArgs),
    /// Check a price table (the built-in one by default): batch at 50%, cache prices at their provider's ratios, profile prefixes.
    Check(prices_cmd::CheckArgs),
}

#[derive(Subcommand)]
enum PlanCmd {
    /// The saving from moving the traffic the policy's [[batch]] rules (or --when) select to batch prices.
    Batch(plan_cmd::BatchArgs),
    /// Provisioned throughput at the traffic floor (held >= 16 h a day) vs on demand.
    Provisioned(replay_cmd::ProvisionedArgs),
}

/// The `explain` arguments.
#[derive(clap::Args)]
struct ExplainArgs {
    /// Policy file or directory.
    path: PathBuf,
    /// The request as JSON, or @FILE.
    #[arg(long)]
    request: String,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let r = match Cli::parse().cmd {
        Cmd::Check(a) => check_cmd::run(a),
        Cmd::Test(a) => test_cmd::run(a),
        Cmd::Explain(a) => explain(a),
        Cmd::Decide(a) => decide_cmd::run(a),
        Cmd::Diff(a) => tools::diff(a),
        Cmd::Bench(a) => tools::bench(a),
        Cmd::Plan {
            what: PlanCmd::Batch(a),
        } => plan_cmd::batch(a),
        Cmd::Plan {
            what: PlanCmd::Provisioned(a),
        } => replay_cmd::plan_provisioned(a),
        Cmd::Replay(a) => replay_cmd::run(a),
        Cmd::Report(a) => report_cmd::report(a),
        Cmd::Tiers(a) => report_cmd::tiers(a),
        Cmd::Prices {
            what: PricesCmd::Show(a),
        } => prices_cmd::show(a),
        Cmd::Prices {
            what: PricesCmd::Check(a),
        } => prices_cmd::check(a),
        Cmd::Prices {
            what: PricesCmd::Import(a),
        } => prices_import::import(a),
        Cmd::Advise(a) => plan_cmd::advise(a),
        Cmd::RouteEval(a) => route_eval_cmd::run(a),
        Cmd::RouteTrain(a) => route_train_cmd::run(a),
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
                eprint!("{}", w.render(l.policy.sources()));
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
) -> Vec<(String, tollgate_lang::RouterScore)> {
    if policy.routers().is_empty() {
        return Vec::new();
    }
    let v: serde_json::Value = serde_json::from_str(request).unwrap_or_default();
    let Some(prompt) = v.get("prompt").and_then(serde_json::Value::as_str) else {
        return Vec::new();
    };
    tollgate_engine::score_routers(policy, ctx, prompt);
    policy
        .routers()
        .iter()
        .map(|r| (r.name.clone(), r.model.score(prompt)))
        .collect()
}

fn explain(a: ExplainArgs) -> Result<bool, String> {
    let (path, request, json) = (a.path.as_path(), a.request.as_str(), a.json);
    let Some(l) = load(path) else {
        return Ok(false);
    };
    let policy = &l.policy;
    let text = read_request(request)?;
    let req = Request::parse(policy.schema(), &text).map_err(|e| format!("request: {e}"))?;
    let mut ctx = req.context(policy.schema());
    let scores = score_prompt(policy, &mut ctx, &text);
    let engine = engine::Engine::new(policy.clone()).map_err(|e| e.to_string())?;
    let explanation = engine.explain(&ctx);
    let d = explanation.decision;
    let trace = explanation.steps;
    if json {
        let mut out = to_json(policy, &d, &ctx);
        if let Some(o) = out.as_object_mut() {
            o.insert("trace".into(), trace_json(policy, &trace, &ctx));
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
    let loc = |s: tollgate_lang::Span| policy.sources().location(s);
    let snip = |s: tollgate_lang::Span| policy.sources().snippet(s).to_string();
    match o {
        Outcome::Matched => ("matched".into(), None, None),
        Outcome::False { culprit } => ("false".into(), Some(snip(*culprit)), Some(loc(*culprit))),
        Outcome::Error(e) => {
            let why = format!("error: {}", error_text(policy, &e.kind));
            (why, Some(snip(e.span)), Some(loc(e.span)))
        }
    }
}

/// Why an expression has no value, in words (`attribute `x` is missing`).
fn error_text(policy: &Policy, kind: &ErrorKind) -> String {
    match kind {
        ErrorKind::Missing(a) => {
            format!("attribute `{}` is missing", policy.schema().name(*a))
        }
        ErrorKind::Overflow => "integer overflow".into(),
        ErrorKind::DivisionByZero => "division by zero".into(),
        ErrorKind::BadConversion(c) => {
            format!("no `{}()` value for this argument", c.name())
        }
        ErrorKind::StringIndex(f) => {
            format!("an index out of range in `{}()`", f.name())
        }
        ErrorKind::IndexOutOfRange { index, len } => {
            format!("index {index} is out of range for a list of {len}")
        }
        ErrorKind::NoSuchKey(k) => {
            let mut lit = String::new();
            let _ = tollgate_lang::__private::quote(k, &mut lit);
            format!("the map has no key {lit}")
        }
        ErrorKind::TimeOutOfRange => {
            "a timestamp outside the years 1 to 9999, or a duration past 292 years".into()
        }
        ErrorKind::UnknownTimeZone(z) => format!("unknown time zone `{z}`"),
    }
}

fn trace_json(policy: &Policy, steps: &[Step], ctx: &Context<'_>) -> serde_json::Value {
    serde_json::Value::Array(
        steps
            .iter()
            .map(|s| {
                let (what, expr, at) = describe(policy, &s.outcome);
                let rule = tollgate_engine::rule_name(policy, s.section, Some(s.rule));
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
                    "values": values_json(policy, s, ctx),
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
    println!("policy `{}` ({})", policy.name(), policy.hash_hex());
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
        let decided = tollgate_engine::rule_name(policy, sec, d.rule(sec));
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
            let rule = tollgate_engine::rule_name(policy, s.section, Some(s.rule));
            match (&s.note, expr, at) {
                (Some(n), _, _) => println!("  {rule:<28} not applied: {n}"),
                (None, Some(e), Some(at)) => println!("  {rule:<28} {what}: `{e}` at {at}"),
                _ => println!("  {rule:<28} {what}"),
            }
            print_values(policy, s, ctx);
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
fn print_values(policy: &Policy, s: &Step, ctx: &Context<'_>) {
    for v in tollgate_engine::culprit_values(policy, s, ctx) {
        match v.value {
            Ok(value) => println!("      {} = {value}", v.expr),
            Err(_) => println!("      {} = error", v.expr),
        }
    }
}

/// The JSON form of [`print_values`]: one object per sub-expression, with
/// its text, static type, value (null for an error) and error (null for a
/// value).
fn values_json(policy: &Policy, s: &Step, ctx: &Context<'_>) -> serde_json::Value {
    serde_json::Value::Array(
        tollgate_engine::culprit_values(policy, s, ctx)
            .into_iter()
            .map(|v| {
                let (value, error) = match &v.value {
                    Ok(value) => (value.to_json(), serde_json::Value::Null),
                    Err(e) => (serde_json::Value::Null, error_text(policy, &e.kind).into()),
                };
                serde_json::json!({
                    "expr": v.expr,
                    "type": v.ty.to_string(),
                    "value": value,
                    "error": error,
                })
            })
            .collect(),
    )
}
