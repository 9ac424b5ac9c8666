//! Call events: building from a decision, privacy, serde round trips, and
//! the README's documented example.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use common::{decide, policy, request};
use serde_json::json;

use tollgate_cost::{
    CacheOutcome, CallEvent, CancelReason, EventOptions, Fingerprint, Hash128, Mode, Status, Tags,
    Timestamp, Usage,
};
use tollgate_engine::{decide_reference, Request};
use tollgate_lang::{Latency, Tier};

const KB: &str = r#"{"feature": "kb", "tenant": "acme", "app": "assistant",
    "user": {"id": "u-7", "email": "ana@example.com", "tier": "pro"},
    "input_tokens": 800, "prompt": "how do I rotate keys?",
    "retrieval_ids": ["doc-1", "doc-9"], "experiments": [17, 3], "complexity": 0.25,
    "has_tools": false}"#;

fn kb_event(options: &EventOptions) -> CallEvent {
    let p = policy();
    let req = request(&p, KB);
    let ctx = req.context(p.schema());
    let d = decide(&p, &req);
    CallEvent::builder(&p, &d, &ctx)
        .options(options)
        .timestamp(Timestamp::parse_rfc3339("2026-11-26T10:15:30.123Z").unwrap())
        .request_id("req-42")
        .mode(Mode::Stream)
        .attempts(1)
        .usage(Usage {
            input_tokens: 800,
            output_tokens: 310,
            cache_read_input_tokens: 2048,
            cache_write_input_tokens: 0,
            cache_write_1h_input_tokens: 0,
        })
        .latency_ms(812)
        .fingerprint(Fingerprint::of(
            &["You answer from the knowledge base."],
            [("user", "how do I rotate keys?")],
        ))
        .text("how do I rotate keys?", "Open Settings, then API keys.")
        .build()
}

#[test]
fn event_names_the_decision_tags_model_and_exact_cost() {
    let ev = kb_event(&EventOptions::default());
    assert_eq!(ev.version, 2);
    assert_eq!(ev.timestamp.to_rfc3339(), "2026-11-26T10:15:30.123Z");
    assert_eq!(ev.policy, "cost-test");
    assert_eq!(ev.policy_hash.len(), 32);
    assert_eq!(ev.rules.route.as_deref(), Some("kb-small"));
    assert_eq!(ev.rules.cache.as_deref(), Some("kb-answers"));
    assert_eq!(ev.rules.prompt_cache, None);
    assert_eq!(ev.rules.batch, None);
    assert_eq!(ev.rules.limit.as_deref(), Some("default-guard"));
    assert_eq!(ev.rules.budget.as_deref(), Some("kb-daily"));
    assert_eq!(
        ev.tags,
        Tags {
            app: Some("assistant".into()),
            feature: Some("kb".into()),
            user: Some("u-7".into()),
            use_case: None,
            tenant: Some("acme".into()),
        }
    );
    assert_eq!(
        (ev.model.as_str(), ev.model_id.as_str()),
        ("haiku", "us.anthropic.claude-3-5-haiku-20241022-v1:0")
    );
    assert_eq!(ev.mode, Mode::Stream);
    assert_eq!(
        ev.cache,
        CacheOutcome::Miss,
        "a cache rule matched and no hit was reported"
    );
    assert_eq!(ev.max_output_tokens, Some(500));
    // Haiku 3.5: 800 x 800 + 310 x 4000 + 2048 x 80 nanos.
    assert_eq!(ev.cost_nanos, 640_000 + 1_240_000 + 163_840);
    assert_eq!(ev.cost_breakdown.total_nanos, ev.cost_nanos);
    assert_eq!(ev.cost_usd, 0.00204384);
    assert_eq!(ev.cost_error, None);
    let fp = ev.fingerprint;
    assert_eq!(fp.system.unwrap().to_string().len(), 32);
    assert_eq!(
        fp.messages,
        Some(tollgate_cost::fingerprint_messages([(
            "user",
            "how do I rotate keys?"
        )]))
    );
}

#[test]
fn redacted_attributes_and_text_stay_out_of_the_event() {
    let ev = kb_event(&EventOptions::default());
    let attrs = serde_json::Value::Object(ev.attributes.to_map());
    assert_eq!(
        attrs,
        json!({
            "feature": "kb", "tenant": "acme", "app": "assistant", "user.id": "u-7",
            "user.tier": "pro", "input_tokens": 800, "retrieval_ids": ["doc-1", "doc-9"],
            "experiments": [17, 3], "complexity": 0.25, "has_tools": false
        })
    );
    // `user.email` is in [policy] redact; `prompt` always is.
    assert_eq!(
        ev.redacted,
        vec!["user.email".to_owned(), "prompt".to_owned()]
    );
    assert_eq!(
        (ev.prompt_text.as_ref(), ev.response_text.as_ref()),
        (None, None)
    );
    let line = String::from_utf8(ev.to_json_line().unwrap()).unwrap();
    assert!(!line.contains("ana@example.com"));
    assert!(!line.contains("rotate keys"));
    assert!(!line.contains("prompt_text"));
}

#[test]
fn text_is_recorded_only_when_the_application_opts_in() {
    let ev = kb_event(&EventOptions {
        app: None,
        record_prompt_text: true,
        record_response_text: false,
    });
    assert_eq!(ev.prompt_text.as_deref(), Some("how do I rotate keys?"));
    assert_eq!(ev.response_text, None);
    let ev = kb_event(&EventOptions {
        app: None,
        record_prompt_text: true,
        record_response_text: true,
    });
    assert_eq!(
        ev.response_text.as_deref(),
        Some("Open Settings, then API keys.")
    );
}

#[test]
fn an_attribute_named_prompt_is_redacted_even_without_the_policy_saying_so() {
    let text = common::POLICY.replace("redact = [\"user.email\"]\n", "");
    assert_ne!(text, common::POLICY);
    let p = tollgate_lang::load_str("p.toml", &text, &Default::default())
        .map_err(|e| e.render())
        .unwrap()
        .policy;
    let req = request(&p, KB);
    let ctx = req.context(p.schema());
    let d = decide(&p, &req);
    let ev = CallEvent::builder(&p, &d, &ctx).build();
    assert!(!ev.attributes.contains_key("prompt"));
    assert_eq!(ev.redacted, vec!["prompt".to_owned()]);
    assert_eq!(
        ev.attributes.get("user.email"),
        Some(&json!("ana@example.com"))
    );
}

#[test]
fn event_round_trips_through_json_lines() {
    let mut ev = kb_event(&EventOptions {
        app: None,
        record_prompt_text: true,
        record_response_text: true,
    });
    ev.cancel_reason = Some(CancelReason::Repetition);
    ev.status = Status::Cancelled;
    ev.response_model_id = Some("arn:aws:bedrock:us-east-1::foundation-model/x".into());
    let line = ev.to_json_line().unwrap();
    assert_eq!(line.last(), Some(&b'\n'));
    assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1, "one line");
    let back = CallEvent::from_json_line(&line).unwrap();
    assert_eq!(back, ev);
    // And again through a serde_json::Value.
    let v = serde_json::to_value(&ev).unwrap();
    assert_eq!(serde_json::from_value::<CallEvent>(v).unwrap(), ev);
}

#[test]
fn recorded_attributes_replay_to_the_same_decision() {
    let p = policy();
    let req = request(&p, KB);
    let d = decide(&p, &req);
    let ev = CallEvent::builder(&p, &d, &req.context(p.schema())).build();
    let replayed = Request::from_map(p.schema(), &ev.attributes.to_map()).unwrap();
    assert!(replayed.unknown.is_empty());
    assert_eq!(decide_reference(&p, &replayed.context(p.schema())), d);
}

#[test]
fn defaults_follow_the_decision() {
    let p = policy();
    let req = request(
        &p,
        r#"{"feature": "enrich", "latency": "tolerant", "input_tokens": 10}"#,
    );
    let d = decide(&p, &req);
    let ev = CallEvent::builder(&p, &d, &req.context(p.schema()))
        .usage(Usage::new(1000, 1000))
        .build();
    assert_eq!(ev.rules.batch.as_deref(), Some("nightly"));
    assert_eq!(ev.mode, Mode::Batch, "a batch rule matched");
    assert_eq!(ev.cache, CacheOutcome::Bypass, "no cache rule matched");
    assert_eq!(ev.rules.route, None, "the default model served");
    assert_eq!(ev.model, "sonnet");
    // Sonnet 4 batch: 1000 x 1500 + 1000 x 7500.
    assert_eq!(ev.cost_nanos, 9_000_000);
    assert_eq!((ev.status, ev.attempts), (Status::Ok, 1));
}

#[test]
fn a_served_fallback_model_is_priced_as_itself() {
    let p = policy();
    let req = request(&p, r#"{"feature": "chat", "input_tokens": 10}"#);
    let d = decide(&p, &req);
    let haiku = p.model_by_alias("haiku").unwrap();
    let ev = CallEvent::builder(&p, &d, &req.context(p.schema()))
        .served_model(haiku)
        .downgraded_from(d.model)
        .usage(Usage::new(1000, 0))
        .build();
    assert_eq!(ev.model, "haiku");
    assert_eq!(ev.downgraded_from.as_deref(), Some("sonnet"));
    assert_eq!(ev.cost_nanos, 800_000);
}

#[test]
fn fingerprints_are_canonical_xxh3_128() {
    let a = tollgate_cost::fingerprint_system(["ab", "c"]);
    let b = tollgate_cost::fingerprint_system(["a", "bc"]);
    assert_ne!(a, b, "pieces are length-prefixed");
    assert_eq!(
        tollgate_cost::fingerprint_system(["ab", "c"]),
        a,
        "deterministic"
    );
    let hex = a.to_string();
    assert_eq!(hex.len(), 32);
    assert!(hex
        .bytes()
        .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
    assert_eq!(Hash128::parse(&hex), Some(a));
    assert_eq!(Hash128::parse("xyz"), None);
    // The exact bytes hashed: u64-LE length then the text.
    let mut raw = Vec::new();
    raw.extend_from_slice(&2u64.to_le_bytes());
    raw.extend_from_slice(b"ab");
    raw.extend_from_slice(&1u64.to_le_bytes());
    raw.extend_from_slice(b"c");
    assert_eq!(a.0, xxhash_rust::xxh3::xxh3_128(&raw));
    // Roles matter.
    assert_ne!(
        tollgate_cost::fingerprint_messages([("user", "hi")]),
        tollgate_cost::fingerprint_messages([("assistant", "hi")])
    );
}

#[test]
fn timestamps_are_rfc3339_utc_and_days_are_utc() {
    let t = Timestamp::parse_rfc3339("2026-11-26T23:30:00.5-02:00").unwrap();
    assert_eq!(t.to_rfc3339(), "2026-11-27T01:30:00.500Z");
    assert_eq!(t.day().to_string(), "2026-11-27");
    assert_eq!(tollgate_cost::Day::from_ymd(2026, 11, 27), Some(t.day()));
    assert!(Timestamp::parse_rfc3339("yesterday").is_err());
    assert_eq!(
        Timestamp::from_unix_ms(0).to_rfc3339(),
        "1970-01-01T00:00:00.000Z"
    );
}

/// The JSON example in the crate README is a real event: it parses, and
/// writing it back gives the same JSON.
#[test]
fn readme_example_event_is_valid() {
    let readme = include_str!("../README.md");
    let start = readme
        .find("<!-- event-example -->")
        .expect("README marks its event example");
    let rest = &readme[start..];
    let body_start = rest.find("```json\n").unwrap() + "```json\n".len();
    let body_end = rest[body_start..].find("```").unwrap();
    let text = &rest[body_start..body_start + body_end];
    let ev: CallEvent = serde_json::from_str(text).unwrap();
    let expected: serde_json::Value = serde_json::from_str(text).unwrap();
    assert_eq!(serde_json::to_value(&ev).unwrap(), expected);
    // And it is what the builder writes for the request above.
    // (The policy hash is the test policy's; it changes with its text.)
    let mut built = kb_event(&EventOptions::default());
    built.tags.use_case = Some("support".into());
    built.policy_hash = ev.policy_hash.clone();
    assert_eq!(serde_json::to_value(&built).unwrap(), expected);
}

/// The hand-written line writer and the derived `Serialize` agree byte for
/// byte, over events with every optional member on and off, awkward strings
/// and numbers.
#[test]
fn the_fast_line_writer_matches_serde_byte_for_byte() {
    let base = kb_event(&EventOptions {
        app: None,
        record_prompt_text: true,
        record_response_text: true,
    });
    let awkward = [
        "",
        "plain",
        "quote \" and \\ backslash",
        "tab\tnew\nline\u{1}",
        "ünïcødé ✓ 🚀",
        "\u{7f}\u{2028}",
    ];
    let mut seed = 7u64;
    let mut next = move || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        seed >> 33
    };
    for round in 0..400 {
        let mut ev = base.clone();
        let pick = |n: u64| awkward[(n % awkward.len() as u64) as usize].to_owned();
        let maybe = |n: u64, s: String| if n.is_multiple_of(2) { Some(s) } else { None };
        ev.request_id = pick(next());
        ev.policy = pick(next()).into();
        ev.model_id = pick(next()).into();
        ev.response_model_id = maybe(next(), pick(next()));
        ev.downgraded_from = maybe(next(), pick(next())).map(Into::into);
        ev.error_type = maybe(next(), pick(next()));
        ev.cost_error = maybe(next(), pick(next()));
        ev.prompt_text = maybe(next(), pick(next()));
        ev.response_text = maybe(next(), pick(next()));
        ev.rules.route = maybe(next(), pick(next())).map(Into::into);
        ev.rules.batch = maybe(next(), pick(next())).map(Into::into);
        ev.tags.user = maybe(next(), pick(next())).map(Into::into);
        ev.tags.app = maybe(next(), pick(next())).map(Into::into);
        ev.cancel_reason = [
            None,
            Some(CancelReason::Repetition),
            Some(CancelReason::Caller),
            Some(CancelReason::Timeout),
            Some(CancelReason::OutputBudget),
        ][(next() % 5) as usize];
        ev.usage_estimated = next().is_multiple_of(2);
        ev.service_tier = [
            None,
            Some(Tier::Default),
            Some(Tier::Flex),
            Some(Tier::Priority),
        ][(next() % 4) as usize];
        ev.latency =
            [None, Some(Latency::Standard), Some(Latency::Optimized)][(next() % 3) as usize];
        ev.status = [
            Status::Ok,
            Status::Error,
            Status::Cancelled,
            Status::Rejected,
        ][(next() % 4) as usize];
        ev.mode =
            [Mode::Realtime, Mode::Stream, Mode::Batch, Mode::Embedding][(next() % 4) as usize];
        ev.cache =
            [CacheOutcome::Hit, CacheOutcome::Miss, CacheOutcome::Bypass][(next() % 3) as usize];
        ev.max_output_tokens = if next().is_multiple_of(3) {
            None
        } else {
            Some(next() as u32)
        };
        ev.usage.output_tokens = next() << (next() % 31);
        ev.cost_nanos = if round == 0 { u64::MAX } else { next() };
        ev.cost_usd = [
            0.0,
            1e-9,
            0.1 + 0.2,
            123456.789,
            f64::NAN,
            f64::INFINITY,
            1e300,
        ][(next() % 7) as usize];
        ev.cost_breakdown.long_context = next().is_multiple_of(2);
        ev.timestamp = Timestamp::from_unix_ms((next() as i64) * 1_000_003 - (1 << 40));
        ev.fingerprint.system = if next().is_multiple_of(2) {
            None
        } else {
            Some(Hash128(u128::from(next()) << 64 | u128::from(next())))
        };
        if next().is_multiple_of(3) {
            ev.redacted.clear();
        }
        ev.attributes.insert(pick(next()), json!(pick(next())));
        let fast = ev.to_json_line().unwrap();
        let mut slow = serde_json::to_vec(&ev).unwrap();
        slow.push(b'\n');
        assert_eq!(
            String::from_utf8_lossy(&fast),
            String::from_utf8_lossy(&slow),
            "round {round}"
        );
    }
}

#[test]
fn rfc3339_formatting_agrees_with_chrono() {
    let mut seed = 11u64;
    for i in 0..20_000i64 {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
        // Years 1970..=9999 and a few before the epoch.
        let ms = (seed >> 20) as i64 % 253_402_300_800_000 - if i % 10 == 0 { 1 << 40 } else { 0 };
        let ours = Timestamp::from_unix_ms(ms).to_rfc3339();
        let theirs = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
            .unwrap()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        assert_eq!(ours, theirs, "{ms}");
    }
    for ms in [
        0,
        -1,
        951_782_400_000, /* 2000-02-29 */
        253_402_300_799_999,
    ] {
        let theirs = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
            .unwrap()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        assert_eq!(Timestamp::from_unix_ms(ms).to_rfc3339(), theirs);
    }
    // Beyond year 9999 chrono formats it.
    let far = Timestamp::from_unix_ms(300_000_000_000_000);
    assert!(far.to_rfc3339().starts_with("+11476-"));
}

/// Shared names change nothing in the event; another policy's names are
/// ignored; the cache rebuilds them when the policy changes.
#[test]
fn shared_names_give_the_same_event() {
    use std::sync::Arc;
    use tollgate_cost::{EventNames, EventNamesCache};
    let p = policy();
    let req = request(&p, KB);
    let ctx = req.context(p.schema());
    let d = decide(&p, &req);
    let at = Timestamp::parse_rfc3339("2026-11-26T10:15:30.123Z").unwrap();
    let build = |names: Option<Arc<EventNames>>| {
        let b = CallEvent::builder(&p, &d, &ctx)
            .timestamp(at)
            .usage(Usage::new(800, 310))
            .downgraded_from(d.model);
        match names {
            Some(n) => b.names(n),
            None => b,
        }
        .build()
    };
    let plain = build(None);
    assert_eq!(plain.policy, "cost-test");
    assert!(plain.rules.route.is_some());
    assert!(plain.attributes.contains_key("feature"));

    let cache = EventNamesCache::new();
    let names = cache.get(&p, p.schema());
    assert!(Arc::ptr_eq(&names, &cache.get(&p, p.schema())));
    let shared = build(Some(names.clone()));
    assert_eq!(shared, plain);
    assert_eq!(
        shared.to_json_line().unwrap(),
        plain.to_json_line().unwrap()
    );
    // The event holds the cache's strings, not copies.
    assert!(std::ptr::eq(
        shared.policy.as_str(),
        names.policy().as_str()
    ));

    // Another policy (same text but a different name, so another hash).
    let mut other_text = common::POLICY.replace("name = \"cost-test\"", "name = \"other\"");
    other_text.push('\n');
    assert_ne!(other_text, common::POLICY.to_string() + "\n");
    let other = tollgate_lang::load_str("other.toml", &other_text, &Default::default())
        .map_err(|e| e.render())
        .unwrap()
        .policy;
    let stale = cache.get(&other, other.schema());
    assert_eq!(stale.policy(), "other");
    assert_eq!(build(Some(stale)), plain);
    let back = cache.get(&p, p.schema());
    assert!(!Arc::ptr_eq(&back, &names));
    assert_eq!(back.policy(), "cost-test");
}

/// A version-1 line (no `latency`, no `service_tier`) still reads: the
/// missing members are the defaults. Version 2 writes them when known.
#[test]
fn version_one_lines_read_with_default_tier_and_latency() {
    let mut ev = kb_event(&EventOptions::default());
    let v2 = String::from_utf8(ev.to_json_line().unwrap()).unwrap();
    assert!(v2.starts_with("{\"version\":2,"), "{v2}");
    assert!(!v2.contains("\"latency\""), "{v2}");
    let v1 = v2.replacen("{\"version\":2,", "{\"version\":1,", 1);
    let read = CallEvent::from_json_line(v1.as_bytes()).unwrap();
    assert_eq!(read.version, 1);
    assert_eq!(read.service_tier, None);
    assert_eq!(read.latency, None);
    assert_eq!(read.service_tier.unwrap_or_default(), Tier::Default);
    assert_eq!(read.latency.unwrap_or_default(), Latency::Standard);
    ev.service_tier = Some(Tier::Flex);
    ev.latency = Some(Latency::Optimized);
    let line = String::from_utf8(ev.to_json_line().unwrap()).unwrap();
    assert!(
        line.contains(",\"service_tier\":\"flex\",\"latency\":\"optimized\","),
        "{line}"
    );
    assert_eq!(CallEvent::from_json_line(line.as_bytes()).unwrap(), ev);
}
