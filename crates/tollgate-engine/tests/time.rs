//! Timestamps and durations: literals, arithmetic, comparisons and the
//! calendar accessors with and without time zones (across daylight-saving
//! changes), in the reference interpreter and the compiled engine, from
//! slots, JSON requests and `[[test]]` cases.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use tollgate_engine::eval;
use tollgate_engine::{
    compile, decide_reference, Context, ErrorKind, Owned, Request, RequestError, Value,
};
use tollgate_lang::{check, parse, CheckLimits, OffsetMap};
use tollgate_lang::{load_str, FileId, LoadOptions, Schema, Type};
use tollgate_lang::{Duration, Timestamp};

fn schema() -> Schema {
    Schema::new()
        .with("t", Type::Timestamp)
        .and_then(|s| s.with("zone", Type::String))
        .and_then(|s| s.with("text", Type::String))
        .and_then(|s| s.with("n", Type::Int))
        .expect("schema")
}

fn ts(s: &str) -> Timestamp {
    Timestamp::parse(s).unwrap_or_else(|| panic!("{s}"))
}

/// Evaluate `text` with `t` set (or missing), `zone`, `text` and `n` set.
fn value_with(
    text: &str,
    t: Option<&str>,
    zone: &str,
    s: &str,
    n: i64,
) -> Result<Value, ErrorKind> {
    let schema = schema();
    let node = parse(text).unwrap_or_else(|e| panic!("{text}: {}", e.message));
    let mut diags = Vec::new();
    let map = OffsetMap::identity(FileId::default(), text.len());
    let e = check(&node, &schema, &map, CheckLimits::default(), &mut diags)
        .unwrap_or_else(|| panic!("{text}: {diags:?}"));
    let mut ctx = Context::new(&schema);
    if let Some(t) = t {
        ctx.set_timestamp(schema.id("t").unwrap(), ts(t));
    }
    ctx.set_str(schema.id("zone").unwrap(), zone);
    ctx.set_str(schema.id("text").unwrap(), s);
    ctx.set_int(schema.id("n").unwrap(), n);
    eval(&e, &ctx).map_err(|e| e.kind)
}

/// `text` at 2026-03-29T00:30:00Z, a Sunday: 01:30 in Berlin (CET), one
/// hour before Europe moves its clocks forward, and Saturday evening in
/// New York (already on daylight time).
fn at_dst_eve(text: &str) -> Result<Value, ErrorKind> {
    value_with(text, Some("2026-03-29T00:30:00Z"), "Europe/Berlin", "", 0)
}

fn int(i: i64) -> Result<Value, ErrorKind> {
    Ok(Value::Int(i))
}

#[test]
fn accessors_in_utc() {
    assert_eq!(at_dst_eve("t.getFullYear()"), int(2026));
    assert_eq!(at_dst_eve("t.getMonth()"), int(2), "March, counted from 0");
    assert_eq!(at_dst_eve("t.getDate()"), int(29), "counted from 1");
    assert_eq!(at_dst_eve("t.getDayOfMonth()"), int(28), "counted from 0");
    assert_eq!(at_dst_eve("t.getDayOfWeek()"), int(0), "Sunday");
    assert_eq!(at_dst_eve("t.getDayOfYear()"), int(87));
    assert_eq!(at_dst_eve("t.getHours()"), int(0));
    assert_eq!(at_dst_eve("t.getMinutes()"), int(30));
    assert_eq!(at_dst_eve("t.getSeconds()"), int(0));
    assert_eq!(
        at_dst_eve(r#"timestamp("2026-03-29T00:30:07.25Z").getMilliseconds()"#),
        int(250)
    );
    assert_eq!(
        at_dst_eve(r#"timestamp("2026-03-29T00:30:07.25Z").getSeconds()"#),
        int(7)
    );
}

#[test]
fn accessors_in_time_zones_and_across_daylight_saving() {
    // Berlin: 01:30 CET before the change, 03:30 CEST one hour later.
    assert_eq!(at_dst_eve(r#"t.getHours("Europe/Berlin")"#), int(1));
    assert_eq!(
        at_dst_eve(r#"(t + duration("1h")).getHours("Europe/Berlin")"#),
        int(3)
    );
    // A zone read from an attribute: the same answers.
    assert_eq!(at_dst_eve("t.getHours(zone)"), int(1));
    assert_eq!(at_dst_eve(r#"(t + duration("1h")).getHours(zone)"#), int(3));
    // New York is already on EDT (UTC-4): Saturday the 28th, 20:30.
    for (f, want) in [
        ("getHours", 20),
        ("getMinutes", 30),
        ("getDayOfWeek", 6),
        ("getDate", 28),
        ("getDayOfMonth", 27),
        ("getMonth", 2),
        ("getFullYear", 2026),
        ("getDayOfYear", 86),
    ] {
        assert_eq!(
            at_dst_eve(&format!(r#"t.{f}("America/New_York")"#)),
            int(want),
            "{f}"
        );
    }
    // Fixed offsets.
    assert_eq!(at_dst_eve(r#"t.getHours("+05:30")"#), int(6));
    assert_eq!(at_dst_eve(r#"t.getMinutes("+05:30")"#), int(0));
    assert_eq!(at_dst_eve(r#"t.getDate("-08:00")"#), int(28));
    assert_eq!(at_dst_eve(r#"t.getHours("UTC")"#), int(0));
    // New Year's Eve in UTC is already next year in Tokyo.
    let nye = r#"timestamp("2026-12-31T23:30:00Z")"#;
    assert_eq!(
        at_dst_eve(&format!(r#"{nye}.getFullYear("Asia/Tokyo")"#)),
        int(2027)
    );
    assert_eq!(
        at_dst_eve(&format!(r#"{nye}.getMonth("Asia/Tokyo")"#)),
        int(0)
    );
    assert_eq!(at_dst_eve(&format!(r#"{nye}.getFullYear()"#)), int(2026));
    // An unknown zone from an attribute is an error value.
    assert_eq!(
        value_with(
            "t.getHours(zone)",
            Some("2026-03-29T00:30:00Z"),
            "Mars/Base",
            "",
            0
        ),
        Err(ErrorKind::UnknownTimeZone("Mars/Base".into()))
    );
}

#[test]
fn arithmetic_and_comparisons() {
    let b = |x: bool| Ok(Value::Bool(x));
    assert_eq!(
        at_dst_eve(r#"t + duration("1h30m") == timestamp("2026-03-29T02:00:00Z")"#),
        b(true)
    );
    assert_eq!(
        at_dst_eve(r#"duration("1h") + t == timestamp("2026-03-29T01:30:00Z")"#),
        b(true)
    );
    assert_eq!(
        at_dst_eve(r#"t - duration("30m") == timestamp("2026-03-29T00:00:00Z")"#),
        b(true)
    );
    assert_eq!(
        at_dst_eve(r#"t - timestamp("2026-03-28T23:00:00-01:00")"#),
        Ok(Value::Duration(Duration::from_nanos(
            30 * 60 * 1_000_000_000
        )))
    );
    assert_eq!(
        at_dst_eve(r#"duration("1h") - duration("90m") < duration("0")"#),
        b(true)
    );
    assert_eq!(
        at_dst_eve(r#"t > timestamp("2026-03-29T00:29:59.999999999Z")"#),
        b(true)
    );
    assert_eq!(
        at_dst_eve(r#"t <= timestamp("2026-03-29T01:30:00+01:00")"#),
        b(true)
    );
    assert_eq!(at_dst_eve(r#"t != t + duration("1ns")"#), b(true));
    // Duration accessors count whole units, truncated toward zero.
    assert_eq!(at_dst_eve(r#"duration("1h30m").getMinutes()"#), int(90));
    assert_eq!(at_dst_eve(r#"duration("1h30m").getHours()"#), int(1));
    assert_eq!(at_dst_eve(r#"duration("1h30m").getSeconds()"#), int(5400));
    assert_eq!(
        at_dst_eve(r#"duration("1.5s").getMilliseconds()"#),
        int(1500)
    );
    assert_eq!(at_dst_eve(r#"duration("-90m").getHours()"#), int(-1));
    // Leaving the range is an error value.
    assert_eq!(
        at_dst_eve(r#"timestamp("9999-12-31T23:59:59Z") + duration("1s")"#),
        Err(ErrorKind::TimeOutOfRange)
    );
    assert_eq!(
        at_dst_eve(r#"timestamp("9999-12-31T23:59:59Z") - timestamp("0001-01-01T00:00:00Z")"#),
        Err(ErrorKind::TimeOutOfRange)
    );
    // ... absorbed by `||` as any error is.
    assert_eq!(
        at_dst_eve(r#"timestamp("9999-12-31T23:59:59Z") + duration("1s") > t || true"#),
        b(true)
    );
}

#[test]
fn conversions_of_computed_values() {
    let at = |text: &str, s: &str, n: i64| value_with(text, None, "UTC", s, n);
    assert_eq!(
        at("timestamp(n)", "", 1_767_571_200),
        Ok(Value::Timestamp(ts("2026-01-05T00:00:00Z")))
    );
    assert_eq!(
        at("timestamp(text).getHours()", "2026-01-05T10:00:00+02:00", 0),
        int(8)
    );
    assert_eq!(
        at("timestamp(text)", "yesterday", 0),
        Err(ErrorKind::BadConversion(tollgate_lang::Conv::Timestamp))
    );
    assert_eq!(at("duration(text).getSeconds()", "2m3.5s", 0), int(123));
    assert_eq!(
        at("duration(text)", "1d", 0),
        Err(ErrorKind::BadConversion(tollgate_lang::Conv::Duration))
    );
    assert_eq!(
        at("timestamp(n)", "", 253_402_300_800),
        Err(ErrorKind::BadConversion(tollgate_lang::Conv::Timestamp))
    );
    // A missing timestamp is an error value; `has()` tells.
    assert!(matches!(
        at("t.getHours()", "", 0),
        Err(ErrorKind::Missing(_))
    ));
    assert_eq!(at("has(t)", "", 0), Ok(Value::Bool(false)));
}

const POLICY: &str = r#"
[policy]
name = "off-peak"
default_model = "sonnet"

[attributes]
request_time = "timestamp"
feature = "string"

[models.haiku]
id = "us.anthropic.claude-3-5-haiku-20241022-v1:0"

[models.sonnet]
id = "us.anthropic.claude-sonnet-4-20250514-v1:0"

[[route]]
name = "off-peak"
when = '''
  request_time.getHours("Europe/Berlin") >= 22
  || request_time.getHours("Europe/Berlin") < 6
  || request_time.getDayOfWeek("Europe/Berlin") in [0, 6]
'''
model = "haiku"

[[route]]
name = "before-launch"
when = 'request_time < timestamp("2026-01-01T00:00:00Z") - duration("24h")'
model = "haiku"

[[test]]
name = "late evening in Berlin is off-peak (TOML date-time)"
request = { request_time = 2026-01-06T21:30:00Z }
expect = { route = "off-peak" }

[[test]]
name = "office hours in Berlin are not (RFC 3339 string)"
request = { request_time = "2026-01-06T10:30:00+01:00" }
expect = { model = "sonnet" }

[[test]]
name = "Saturday"
request = { request_time = 2026-01-10T12:00:00Z }
expect = { route = "off-peak" }
"#;

#[test]
fn json_requests_and_test_cases_fill_timestamps_and_both_engines_agree() {
    let policy = load_str("time.toml", POLICY, &LoadOptions::default())
        .unwrap_or_else(|e| panic!("{}", e.render()))
        .policy;
    let compiled = compile(policy.clone()).expect("compiles");
    let schema = &policy.schema();
    let cases = [
        // Tuesday 21:30 UTC is 22:30 in Berlin.
        (r#"{"request_time": "2026-01-06T21:30:00Z"}"#, Some(0)),
        (r#"{"request_time": "2026-01-06T20:30:00Z"}"#, None),
        // 05:59 in Berlin, 04:59 UTC.
        (r#"{"request_time": "2026-01-06T04:59:00Z"}"#, Some(0)),
        (r#"{"request_time": "2026-01-06T06:00:00+01:00"}"#, None),
        // Summer: 22:00 in Berlin is 20:00 UTC.
        (r#"{"request_time": "2026-07-07T20:00:00Z"}"#, Some(0)),
        (r#"{"request_time": "2026-07-07T19:59:59Z"}"#, None),
        (r#"{"request_time": "2025-12-30T12:00:00Z"}"#, Some(1)),
        (r#"{"feature": "chat"}"#, None),
    ];
    for (json, route) in cases {
        let req = Request::parse(schema, json).expect("parses");
        let ctx = req.context(schema);
        let d = compiled.decide(&ctx);
        assert_eq!(d, decide_reference(&policy, &ctx), "{json}");
        assert_eq!(d.route.map(|r| r.get()), route, "{json}");
    }
    let id = schema.id("request_time").unwrap();
    let req = Request::parse(schema, r#"{"request_time": "2026-01-06T10:30:00+01:00"}"#).unwrap();
    assert_eq!(
        req.values.get(&id),
        Some(&Owned::Timestamp(ts("2026-01-06T09:30:00Z")))
    );
    assert_eq!(
        Request::parse(schema, r#"{"request_time": 1767571200}"#),
        Err(RequestError::WrongType {
            name: "request_time".into(),
            expected: Type::Timestamp,
            found: "`1767571200`".into(),
        })
    );
    assert_eq!(
        Request::parse(schema, r#"{"request_time": "2026-01-06"}"#),
        Err(RequestError::WrongType {
            name: "request_time".into(),
            expected: Type::Timestamp,
            found: "the string `2026-01-06`".into(),
        })
    );
    let results = tollgate_engine::run_tests(&policy, &|ctx| compiled.decide(ctx));
    assert_eq!(results.len(), 3);
    assert!(results.iter().all(|r| r.passed()), "{results:?}");
}

#[test]
fn explaining_shows_each_sub_expression_value_in_cel_notation() {
    use tollgate_engine::sub_values;
    let schema = schema();
    let text = r#"t.getHours(zone) >= 22 && t - timestamp("2026-03-29T00:00:00Z") < duration("1m") && [n, 2].exists(x, x > 1)"#;
    let node = parse(text).unwrap();
    let map = OffsetMap::identity(FileId::default(), text.len());
    let e = check(
        &node,
        &schema,
        &map,
        CheckLimits::default(),
        &mut Vec::new(),
    )
    .unwrap();
    let mut ctx = Context::new(&schema);
    ctx.set_timestamp(schema.id("t").unwrap(), ts("2026-03-29T00:30:00.5Z"))
        .set_str(schema.id("zone").unwrap(), "Europe/Berlin")
        .set_int(schema.id("n").unwrap(), 7);
    let shown: Vec<String> = sub_values(&e, &ctx)
        .into_iter()
        .map(|(span, v)| {
            let at = span.start as usize..span.end as usize;
            match v {
                Ok(v) => format!("{} = {v}", &text[at]),
                Err(e) => format!("{} = {:?}", &text[at], e.kind),
            }
        })
        .collect();
    assert_eq!(
        shown,
        [
            format!("{text} = false"),
            r#"t.getHours(zone) >= 22 && t - timestamp("2026-03-29T00:00:00Z") < duration("1m") = false"#.to_string(),
            "t.getHours(zone) >= 22 = false".into(),
            "t.getHours(zone) = 1".into(),
            r#"t = timestamp("2026-03-29T00:30:00.5Z")"#.into(),
            r#"zone = "Europe/Berlin""#.into(),
            r#"t - timestamp("2026-03-29T00:00:00Z") < duration("1m") = false"#.into(),
            r#"t - timestamp("2026-03-29T00:00:00Z") = duration("1800.5s")"#.into(),
            r#"t = timestamp("2026-03-29T00:30:00.5Z")"#.into(),
            "[n, 2].exists(x, x > 1) = true".into(),
            "[n, 2] = [7, 2]".into(),
            "n = 7".into(),
        ]
    );
    assert_eq!(e.conjuncts()[1].ty, Type::Bool);
    assert_eq!(
        Value::Map(vec![("team".into(), "a\"b".into())]).to_string(),
        r#"{"team": "a\"b"}"#
    );
    assert_eq!(
        Value::Duration(Duration::from_nanos(-250_000_000)).to_string(),
        r#"duration("-0.25s")"#
    );
}
