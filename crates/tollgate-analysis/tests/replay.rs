//! Replay on tiny hand-computed traces (one per format, with each format's
//! traps), on the real bundled traces, and against the aggregate cache
//! simulations of tollgate-cache.
//!
//! Prices of `fixtures/policy.toml`, nano-dollars per token:
//! big 2,000 in / 10,000 out / 1,000 + 5,000 batch; small 1,000 in / 4,000
//! out / 1,250 5m write / 100 read. `feature == "chat"` routes to small
//! with a 100-token cap, response-caches for 60 s and prompt-caches prompts
//! of 1,024 tokens and more for 5 minutes.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::path::{Path, PathBuf};
use tollgate_analysis::PrefixCaches;
use tollgate_analysis::{
    parse_azure_timestamp, read_bytes, read_path, servegen_gap_note, servegen_windows,
    ServeGenTokens,
};
use tollgate_analysis::{replay, replay_emitting, Format, ReplayOptions, Report, Trace};
use tollgate_cost::{CallEvent, Fingerprint, Hash128, Timestamp, Usage};
use tollgate_engine::{compile, CompiledPolicy, Request};
use tollgate_lang::{load_path, LoadOptions};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn policy(path: &Path) -> CompiledPolicy {
    let loaded = load_path(path, &LoadOptions::default()).map_err(|e| e.render());
    compile(
        loaded
            .ok()
            .map(|l| l.policy)
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("policy {path:?} loads")),
    )
    .unwrap_or_else(|e| panic!("compiles: {e}"))
}

fn opts(set: &[(&str, &str)], baseline: Option<&str>) -> ReplayOptions {
    ReplayOptions {
        set: set
            .iter()
            .map(|(a, v)| (a.to_string(), v.to_string()))
            .collect(),
        baseline_model: baseline.map(str::to_owned),
        progress: false,
        region: None,
    }
}

fn run(trace: &Trace, set: &[(&str, &str)]) -> Report {
    replay(
        &policy(&fixture("policy.toml")),
        trace,
        &opts(set, Some("big")),
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

fn read(name: &str, f: Format) -> Trace {
    read_path(
        &fixture(name),
        Some(f),
        ServeGenTokens {
            input: 100,
            output: 10,
        },
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn azure_timestamps_keep_seven_fractional_digits() {
    assert_eq!(
        parse_azure_timestamp("2023-11-16 18:17:03.9799600"),
        Some(1_700_158_623_979_960_000)
    );
    assert_eq!(
        parse_azure_timestamp("2023-11-16 18:17:04.0000001"),
        Some(1_700_158_624_000_000_100)
    );
    assert_eq!(
        parse_azure_timestamp("2023-11-16 18:17:04"),
        Some(1_700_158_624_000_000_000)
    );
    assert_eq!(parse_azure_timestamp("2023-11-16T18:17:04"), None);
    // Signs, impossible dates and empty fields are refused, not normalised.
    for bad in [
        "2023-11-16 -5:-3:-1.5",
        "2023-11-16 +5:03:01",
        "2023-02-31 00:00:00",
        "2023-02-29 00:00:00",
        "2023-04-31 00:00:00",
        "2023-11-16 18::04",
    ] {
        assert_eq!(parse_azure_timestamp(bad), None, "{bad}");
    }
    assert_eq!(
        parse_azure_timestamp("2024-02-29 00:00:00"),
        Some(1_709_164_800_000_000_000)
    );
}

#[test]
fn a_call_event_file_that_starts_with_a_byte_order_mark_keeps_its_first_event() {
    let line = include_str!("fixtures/spend.jsonl").lines().next().unwrap();
    let bytes = format!("\u{feff}{line}\n");
    assert_eq!(Format::detect(bytes.as_bytes()), Some(Format::Events));
    let t = read_bytes(
        "bom.jsonl",
        bytes.as_bytes(),
        Format::Events,
        ServeGenTokens::default(),
    )
    .unwrap();
    assert_eq!(t.requests.len(), 1, "notes: {:?}", t.notes);
    assert!(t.notes.is_empty(), "{:?}", t.notes);
}

#[test]
fn an_absurd_servegen_rate_is_refused_with_its_line() {
    let csv = "0,1.0,1.0,Gamma,1,1\n600,1e17,1.0,Gamma,1,1\n";
    let err = read_bytes(
        "sg.csv",
        csv.as_bytes(),
        Format::ServeGen,
        ServeGenTokens::default(),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "sg.csv:2: `rate` must be a number of requests/s from 0 to 1e9, found `1e17`"
    );
}

#[test]
fn malformed_azure_rows_are_refused_with_their_line_and_what_is_wrong() {
    let read = |body: &str| {
        let csv = format!("TIMESTAMP,ContextTokens,GeneratedTokens\r\n{body}");
        read_bytes(
            "az.csv",
            csv.as_bytes(),
            Format::Azure,
            ServeGenTokens::default(),
        )
        .map(|t| t.requests.len())
        .map_err(|e| e.to_string())
    };
    let good = "2023-11-16 18:17:03.9799600,1000,50\r\n";
    // Lines are counted across CRLF terminators and blank lines.
    assert_eq!(
        read(&format!(
            "{good}\r\n  \r\n2023-11-16 18:17:04.0000001,2000\r\n"
        )),
        Err("az.csv:5: expected 3 fields".to_owned())
    );
    assert_eq!(
        read(&format!("{good}2023-02-30 18:17:04,2000,300")),
        Err(
            "az.csv:3: `2023-02-30 18:17:04` is not a `YYYY-MM-DD HH:MM:SS.fffffff` timestamp"
                .to_owned()
        )
    );
    assert_eq!(
        read("2023-11-16 18:17:04,2k,300\r\n"),
        Err("az.csv:2: `ContextTokens` must be a non-negative integer, found `2k`".to_owned())
    );
    assert_eq!(
        read("2023-11-16 18:17:04,2000,-1\r\n"),
        Err("az.csv:2: `GeneratedTokens` must be a non-negative integer, found `-1`".to_owned())
    );
    let not_utf8 = [
        b"TIMESTAMP,ContextTokens,GeneratedTokens\n".as_slice(),
        b"2023-11-16 18:17:04,\xff,1\n",
    ]
    .concat();
    assert_eq!(
        read_bytes(
            "az.csv",
            &not_utf8,
            Format::Azure,
            ServeGenTokens::default()
        )
        .map_err(|e| e.to_string())
        .err()
        .as_deref(),
        Some("az.csv:2: the line is not UTF-8")
    );
    assert_eq!(
        read_bytes(
            "az.csv",
            b"\n\nTIMESTAMP,Context,Generated\n",
            Format::Azure,
            ServeGenTokens::default()
        )
        .map_err(|e| e.to_string())
        .err()
        .as_deref(),
        Some("az.csv:3: expected the header `TIMESTAMP,ContextTokens,GeneratedTokens`")
    );
    // Fields are CSV: quoted ones are read, spaces around numbers allowed.
    assert_eq!(
        read(&format!("{good}\"2023-11-16 18:17:04\", 2000 ,300")),
        Ok(2)
    );
}

#[test]
fn malformed_servegen_rows_are_refused_with_their_line() {
    let read = |csv: &str| {
        read_bytes(
            "sg.csv",
            csv.as_bytes(),
            Format::ServeGen,
            ServeGenTokens::default(),
        )
        .map(|t| t.request_count())
        .map_err(|e| e.to_string())
    };
    assert_eq!(
        read("0,1.0,1.0,Gamma,1,1\r\n\r\n600,1.0,1.0,Gamma,1\r\n"),
        Err("sg.csv:3: expected 6 fields `timestamp,rate,cv,pattern,param1,param2`".to_owned())
    );
    assert_eq!(
        read("0,1.0,1.0,Gamma,1,1\n-600,1.0,1.0,Gamma,1,1\n"),
        Err("sg.csv:2: `timestamp` must be a non-negative integer, found `-600`".to_owned())
    );
    assert_eq!(read("0,0.5,1.0,\"Gamma, fitted\",1,1"), Ok(300));
}

#[test]
fn diff_prints_a_minus_b_with_its_sign() {
    let report = |name: &str, nanos: u128| Report {
        policy: name.into(),
        baseline_nanos: 4_000_000_000,
        projected_nanos: nanos,
        ..Report::default()
    };
    let (cheap, dear) = (report("a", 1_000_000_000), report("b", 3_000_000_000));
    let text = tollgate_analysis::diff_text(&cheap, &dear);
    assert!(text.ends_with("; A - B = -$2.00\n"), "{text}");
    let text = tollgate_analysis::diff_text(&dear, &cheap);
    assert!(text.ends_with("; A - B = $2.00\n"), "{text}");
}

#[test]
fn azure_crlf_without_final_newline_reads_every_row() {
    let t = read("azure.csv", Format::Azure);
    let rows: Vec<(u64, u64, u64)> = t
        .requests
        .iter()
        .map(|r| (r.at_ms, r.input_tokens, r.output_tokens))
        .collect();
    assert_eq!(
        rows,
        vec![
            (1_700_158_623_979, 1000, 50),
            (1_700_158_624_000, 2000, 300),
            (1_700_158_625_123, 500, 100)
        ]
    );
    // Detected without --format.
    let guessed =
        read_path(&fixture("azure.csv"), None, ServeGenTokens::default()).map(|t| t.formats);
    assert_eq!(guessed.ok(), Some(vec![Format::Azure]));
}

#[test]
fn azure_replay_costs_exactly_the_hand_computed_figures() {
    // baseline on big: 1000x2000+50x10000 + 2000x2000+300x10000 + 500x2000+100x10000
    // projected on small, cap 100: 1000x1000+50x4000 + 2000x1000+100x4000 + 500x1000+100x4000
    let r = run(&read("azure.csv", Format::Azure), &[("feature", "chat")]);
    assert_eq!(r.requests, 3);
    assert_eq!(r.baseline_nanos, 11_500_000);
    assert_eq!(r.projected_nanos, 4_500_000);
    assert_eq!(r.capped, 1);
    assert!(!r.response_cache.simulated && !r.prompt_cache.simulated);
    assert_eq!(
        r.by_model
            .iter()
            .map(|m| (m.name.as_str(), m.requests))
            .collect::<Vec<_>>(),
        vec![("small", 3)]
    );
}

#[test]
fn mooncake_replay_reads_ms_timestamps_and_simulates_both_caches() {
    // t=0: miss, writes 1,100 tokens: 1100x1250 + 10x4000 = 1,415,000
    // t=30 s: same content within 60 s: a response-cache hit, 0
    // t=90 s: blocks 1,2 cached (1,024 tokens read), 576 written, output capped
    //         at 100: 1024x100 + 576x1250 + 100x4000 = 1,222,400
    // t=400 s: response entry and prefix (last touched at 90 s) expired: 1,415,000
    let r = run(
        &read("mooncake.jsonl", Format::Mooncake),
        &[("feature", "chat")],
    );
    assert_eq!(r.requests, 4);
    assert_eq!(r.baseline_nanos, 2_300_000 * 3 + 5_200_000);
    assert_eq!(r.projected_nanos, 1_415_000 + 1_222_400 + 1_415_000);
    assert_eq!(
        (
            r.response_cache.eligible,
            r.response_cache.hits,
            r.response_cache.avoided_nanos
        ),
        (4, 1, 1_415_000)
    );
    let pc = r.prompt_cache;
    assert_eq!(
        (pc.with_point, pc.reading, pc.read_tokens, pc.write_tokens),
        (3, 1, 1024, 2776)
    );
    assert_eq!(r.capped, 1);
}

#[test]
fn servegen_windows_expand_to_weighted_requests_and_gaps_are_reported() {
    // Windows of 0.5, 0 and 0.01 req/s: 300 + 0 + 6 requests of 100 in / 10 out,
    // batch-priced on big: 100x1000 + 10x5000 = 150,000 each; baseline 300,000.
    let t = read("servegen.csv", Format::ServeGen);
    let r = run(&t, &[("feature", "bulk")]);
    assert_eq!(r.requests, 306);
    assert_eq!(r.batch, 306);
    assert_eq!(r.baseline_nanos, 306 * 300_000);
    assert_eq!(r.projected_nanos, 306 * 150_000);
    assert_eq!(r.savings_pct(), 50.0);
    assert_eq!(
        servegen_gap_note(&servegen_windows([&t])).as_deref(),
        Some("servegen: 1 zero-rate windows (0.2 h) in 1 runs, counted as no traffic (not filled): day 0 00:10-00:20")
    );
    assert!(r.notes.iter().any(|n| n.ends_with("1 windows with rate 0")));
}

/// Three events recorded on `big`: two with the same messages 10 s apart, one long.
fn recorded_events(p: &CompiledPolicy) -> Vec<u8> {
    let pol = p.policy();
    let big = pol.model_by_alias("big").unwrap_or_else(|| panic!("big"));
    let mut out = Vec::new();
    for (at, input, output, msg) in [
        (0, 1000, 50, 1u128),
        (10_000, 1000, 50, 1),
        (20_000, 3000, 500, 2),
    ] {
        let req = Request::parse(
            pol.schema(),
            &format!(r#"{{"feature": "chat", "input_tokens": {input}}}"#),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let ctx = req.context(pol.schema());
        let d = p.decide(&ctx);
        let ev = CallEvent::builder(pol, &d, &ctx)
            .served_model(big)
            .timestamp(Timestamp::from_unix_ms(1_800_000_000_000 + at))
            .usage(Usage::new(input, output))
            .fingerprint(Fingerprint {
                system: None,
                messages: Some(Hash128(msg)),
            })
            .build();
        ev.write_json_line(&mut out)
            .unwrap_or_else(|e| panic!("{e}"));
    }
    out.extend_from_slice(b"{\"torn\": ");
    out
}

#[test]
fn events_replay_against_their_recorded_cost() {
    let p = policy(&fixture("policy.toml"));
    let bytes = recorded_events(&p);
    let t = read_bytes(
        "events.jsonl",
        &bytes,
        Format::Events,
        ServeGenTokens::default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(t.requests.len(), 3);
    assert!(t
        .notes
        .iter()
        .any(|n| n.contains("1 lines were not call events")));
    let r = replay(&p, &t, &opts(&[], None)).unwrap_or_else(|e| panic!("{e}"));
    // Recorded on big: 2,500,000 + 2,500,000 + (3000x2000 + 500x10000).
    assert_eq!(r.baseline_nanos, 16_000_000);
    // Small: 1,200,000; a hit; 3000x1000 + 100x4000 (no block hashes, model changed: uncached).
    assert_eq!(r.projected_nanos, 1_200_000 + 3_400_000);
    assert_eq!((r.response_cache.hits, r.capped), (1, 1));
}

#[test]
fn emitted_events_sum_to_the_projected_cost() {
    let p = policy(&fixture("policy.toml"));
    let t = read("mooncake.jsonl", Format::Mooncake);
    let mut sum = 0u64;
    let mut lines = 0;
    let mut sink = |ev: &CallEvent| -> Result<(), String> {
        sum += ev.cost_nanos;
        lines += 1;
        Ok(())
    };
    let r = replay_emitting(
        &p,
        &t,
        &opts(&[("feature", "chat")], Some("big")),
        Some(&mut sink),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((lines, u128::from(sum)), (4, r.projected_nanos));
}

#[test]
fn diff_of_a_policy_against_itself_is_zero() {
    let a = policy(&root().join("rules/example.toml"));
    let b = policy(&root().join("rules/example.toml"));
    let t = read("mooncake.jsonl", Format::Mooncake);
    let o = opts(
        &[("feature", "chat"), ("has_images", "false")],
        Some("sonnet"),
    );
    let (ra, rb) = (replay(&a, &t, &o), replay(&b, &t, &o));
    let (ra, rb) = (
        ra.unwrap_or_else(|e| panic!("{e}")),
        rb.unwrap_or_else(|e| panic!("{e}")),
    );
    assert_eq!(ra, rb);
    assert_eq!(tollgate_analysis::diff_json(&ra, &rb)["delta_nanos"], 0.0);
}

#[test]
fn data_without_a_model_needs_a_baseline_model() {
    let e = replay(
        &policy(&fixture("policy.toml")),
        &read("azure.csv", Format::Azure),
        &opts(&[], None),
    );
    assert_eq!(
        e.map(|_| ()).map_err(|e| e.to_string()),
        Err("the data has no model: pass `--baseline-model ALIAS` (e.g. the policy's default, `big`)".into())
    );
}

#[test]
fn bundled_azure_traces_parse_completely() {
    for (file, rows, ctx, gen) in [
        (
            "AzureLLMInferenceTrace_code.csv",
            8_819,
            18_059_974,
            245_896,
        ),
        (
            "AzureLLMInferenceTrace_conv.csv",
            19_366,
            22_361_870,
            4_088_665,
        ),
    ] {
        let t = read_path(
            &root().join("data/azure-llm-2023").join(file),
            None,
            ServeGenTokens::default(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let sums = t.requests.iter().fold((0, 0), |(a, b), r| {
            (a + r.input_tokens, b + r.output_tokens)
        });
        assert_eq!((t.requests.len(), sums), (rows, (ctx, gen)), "{file}");
    }
}

#[test]
fn bundled_mooncake_trace_parses_and_the_stepped_prefix_cache_matches_the_aggregate_one() {
    let t = read_path(
        &root().join("data/mooncake-conversation/conversation_trace.jsonl"),
        None,
        ServeGenTokens::default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(t.requests.len(), 12_031);
    assert_eq!(t.requests.last().map(|r| r.at_ms), Some(3_536_999));
    let pol = policy(&root().join("rules/example.toml"));
    let sonnet = pol
        .policy()
        .model_by_alias("sonnet")
        .and_then(|m| pol.policy().model(m))
        .map(|m| m.prices.clone());
    let cfg = tollgate_cache::PromptSimConfig::for_model(
        &sonnet.unwrap_or_default(),
        tollgate_cache::PromptTtl::FiveMinutes,
        512,
    )
    .unwrap_or_else(|| panic!("sonnet has cache prices"));
    let agg = tollgate_cache::simulate_prompt_cache(
        t.requests.iter().map(|r| tollgate_cache::PrefixRequest {
            at_ms: r.at_ms,
            input_tokens: r.input_tokens,
            blocks: t.blocks_of(r),
        }),
        cfg,
    );
    let mut caches = PrefixCaches::new();
    let (mut read, mut write) = (0, 0);
    for r in &t.requests {
        let s = caches.step(
            0,
            r.at_ms,
            r.input_tokens,
            t.blocks_of(r),
            512,
            cfg.ttl_ms,
            cfg.min_tokens,
        );
        read += s.read;
        write += s.write;
    }
    assert_eq!((read, write), (agg.read_tokens, agg.write_tokens));
}

/// A route's `service_tier` prices the projection at that tier where the
/// model's price entry offers it, and the emitted events say so; a model
/// without it is priced at the default tier.
#[test]
fn replay_prices_a_rule_s_tier() {
    let text = |model: &str| {
        format!(
            r#"
[policy]
name = "flex-replay"
default_model = "nova"

[models.nova]
id = "{model}"

[[route]]
name = "flex"
model = "nova"
service_tier = "flex"
"#
        )
    };
    let t = read("azure.csv", Format::Azure);
    let run_on = |model: &str| {
        let loaded = tollgate_lang::load_str("p.toml", &text(model), &LoadOptions::default())
            .unwrap_or_else(|e| panic!("{}", e.render()));
        let p = compile(loaded.policy).unwrap_or_else(|e| panic!("{e}"));
        let mut tiers = Vec::new();
        let mut sum = 0u64;
        let mut sink = |ev: &CallEvent| -> Result<(), String> {
            tiers.push(ev.service_tier);
            sum += ev.cost_nanos;
            Ok(())
        };
        let r = replay_emitting(&p, &t, &opts(&[], Some("nova")), Some(&mut sink))
            .unwrap_or_else(|e| panic!("{e}"));
        (r.baseline_nanos, r.projected_nanos, u128::from(sum), tiers)
    };
    // Nova Pro: on demand $0.80 / $3.20, flex $0.40 / $1.60 per Mtok.
    // Tokens: 1000+2000+500 in, 50+300+100 out.
    let flex = Some(tollgate_lang::Tier::Flex);
    assert_eq!(
        run_on("us.amazon.nova-pro-v1:0"),
        (
            3500 * 800 + 450 * 3200,
            3500 * 400 + 450 * 1600,
            3500 * 400 + 450 * 1600,
            vec![flex, flex, flex]
        )
    );
    // Haiku 3.5 offers no flex: $0.80 / $4.00 both ways.
    let haiku = 3500 * 800 + 450 * 4000;
    assert_eq!(
        run_on("us.anthropic.claude-3-5-haiku-20241022-v1:0"),
        (haiku, haiku, haiku, vec![None, None, None])
    );
}
