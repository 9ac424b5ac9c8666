//! `map<string, string>` attributes: lookups, key membership, `size()` and
//! `has(m.k)`, in the reference interpreter and the compiled engine, from
//! borrowed pairs and from JSON requests.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use tollgate_engine::eval;
use tollgate_engine::{
    compile, decide_reference, Context, ErrorKind, Owned, Request, RequestError, Value,
};
use tollgate_lang::{check, parse, CheckLimits, OffsetMap};
use tollgate_lang::{load_str, FileId, LoadOptions, Schema, Type};

fn schema() -> Schema {
    Schema::new()
        .with("meta", Type::StrMap)
        .and_then(|s| s.with("key", Type::String))
        .and_then(|s| s.with("n", Type::Int))
        .expect("schema")
}

/// Evaluate `text` with `meta` set to `pairs` (or missing) and `key = "b"`.
fn value(text: &str, pairs: Option<&[(&str, &str)]>) -> Result<Value, ErrorKind> {
    let schema = schema();
    let node = parse(text).unwrap_or_else(|e| panic!("{text}: {}", e.message));
    let mut diags = Vec::new();
    let map = OffsetMap::identity(FileId::default(), text.len());
    let e = check(&node, &schema, &map, CheckLimits::default(), &mut diags)
        .unwrap_or_else(|| panic!("{text}: {diags:?}"));
    let mut ctx = Context::new(&schema);
    ctx.set_str(schema.id("key").unwrap(), "b");
    if let Some(p) = pairs {
        ctx.set_map(schema.id("meta").unwrap(), p);
    }
    eval(&e, &ctx).map_err(|e| e.kind)
}

const AB: &[(&str, &str)] = &[("a", "1"), ("b", "two"), ("a", "shadowed")];

#[test]
fn lookups_membership_and_size() {
    assert_eq!(value(r#"meta["a"]"#, Some(AB)), Ok(Value::Str("1".into())));
    assert_eq!(value("meta[key]", Some(AB)), Ok(Value::Str("two".into())));
    assert_eq!(
        value(r#"meta["zz"]"#, Some(AB)),
        Err(ErrorKind::NoSuchKey("zz".into()))
    );
    assert_eq!(value(r#""a" in meta"#, Some(AB)), Ok(Value::Bool(true)));
    assert_eq!(value(r#""A" in meta"#, Some(AB)), Ok(Value::Bool(false)));
    assert_eq!(value("key in meta", Some(&[])), Ok(Value::Bool(false)));
    // A key's later pairs are no entries: two keys, two entries.
    assert_eq!(value("size(meta)", Some(AB)), Ok(Value::Int(2)));
    assert_eq!(value("meta.size()", Some(&[])), Ok(Value::Int(0)));
    assert_eq!(value("has(meta.b)", Some(AB)), Ok(Value::Bool(true)));
    assert_eq!(value("has(meta.c)", Some(AB)), Ok(Value::Bool(false)));
}

#[test]
fn a_missing_key_or_map_is_an_error_value_absorbed_like_any_other() {
    // A missing key errs; `||` and `&&` absorb it as CEL does.
    assert_eq!(
        value(r#"meta["zz"] == "x" || true"#, Some(AB)),
        Ok(Value::Bool(true))
    );
    assert_eq!(
        value(r#"false && meta["zz"] == "x""#, Some(AB)),
        Ok(Value::Bool(false))
    );
    assert_eq!(
        value(r#""zz" in meta && meta["zz"] == "x""#, Some(AB)),
        Ok(Value::Bool(false))
    );
    // A missing map: lookups and `in` err, `has(m.k)` is false.
    assert!(matches!(
        value(r#""a" in meta"#, None),
        Err(ErrorKind::Missing(_))
    ));
    assert!(matches!(
        value(r#"meta["a"]"#, None),
        Err(ErrorKind::Missing(_))
    ));
    assert_eq!(value("has(meta.a)", None), Ok(Value::Bool(false)));
    assert_eq!(value("has(meta)", None), Ok(Value::Bool(false)));
}

const POLICY: &str = r#"
[policy]
name = "maps"
default_model = "sonnet"

[attributes]
feature = "string"
request_metadata = "map<string, string>"

[models.haiku]
id = "us.anthropic.claude-3-5-haiku-20241022-v1:0"

[models.sonnet]
id = "us.anthropic.claude-sonnet-4-20250514-v1:0"

[[route]]
name = "search-team"
when = 'request_metadata["team"] == "search"'
model = "haiku"

[[route]]
name = "tagged-feature"
when = 'feature in request_metadata'
model = "haiku"

[[test]]
name = "the team's requests go to haiku"
request = { request_metadata = { team = "search" } }
expect = { route = "search-team" }

[[test]]
name = "other teams keep the default"
request = { request_metadata = { team = "ads" }, feature = "chat" }
expect = { model = "sonnet" }
"#;

#[test]
fn json_requests_fill_maps_and_both_engines_agree() {
    let policy = load_str("maps.toml", POLICY, &LoadOptions::default())
        .unwrap_or_else(|e| panic!("{}", e.render()))
        .policy;
    let compiled = compile(policy.clone()).expect("compiles");
    let schema = &policy.schema();
    let cases = [
        (r#"{"request_metadata": {"team": "search"}}"#, Some(0)),
        (
            r#"{"request_metadata": {"team": "ads", "chat": "x"}, "feature": "chat"}"#,
            Some(1),
        ),
        (r#"{"request_metadata": {}, "feature": "chat"}"#, None),
        (r#"{"feature": "chat"}"#, None),
    ];
    for (json, route) in cases {
        let req = Request::parse(schema, json).expect("parses");
        let ctx = req.context(schema);
        let d = compiled.decide(&ctx);
        assert_eq!(d, decide_reference(&policy, &ctx), "{json}");
        assert_eq!(d.route.map(|r| r.get()), route, "{json}");
    }
    let req = Request::parse(schema, r#"{"request_metadata": {"a": "1", "b": "2"}}"#).unwrap();
    let id = schema.id("request_metadata").unwrap();
    assert_eq!(
        req.values.get(&id),
        Some(&Owned::StrMap(vec![
            ("a".into(), "1".into()),
            ("b".into(), "2".into())
        ]))
    );
    assert_eq!(
        Request::parse(schema, r#"{"request_metadata": {"a": 1}}"#),
        Err(RequestError::WrongType {
            name: "request_metadata".into(),
            expected: Type::StrMap,
            found: "an object".into(),
        })
    );
    let results = tollgate_engine::run_tests(&policy, &|ctx| compiled.decide(ctx));
    assert_eq!(results.len(), 2);
    assert!(results.iter().all(|r| r.passed()), "{results:?}");
}

#[test]
fn dotted_keys_are_entries_of_a_map_attribute() {
    let schema = schema();
    let meta = schema.id("meta").unwrap();
    let entries = |json: &str| Request::parse(&schema, json).map(|r| r.values.get(&meta).cloned());
    let pairs = |p: &[(&str, &str)]| {
        Ok(Some(Owned::StrMap(
            p.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )))
    };
    assert_eq!(
        entries(r#"{"meta.team": "search"}"#),
        pairs(&[("team", "search")])
    );
    // With the object form, in either order; a key whose name has a dot.
    assert_eq!(
        entries(r#"{"meta": {"a": "1"}, "meta.team": "search", "meta.x.y": "z"}"#),
        pairs(&[("a", "1"), ("team", "search"), ("x.y", "z")])
    );
    assert_eq!(
        entries(r#"{"meta.team": "search", "meta": {"a": "1"}}"#),
        pairs(&[("team", "search"), ("a", "1")])
    );
    // One key given both ways, or a value that is not a string.
    assert_eq!(
        entries(r#"{"meta": {"team": "ads"}, "meta.team": "search"}"#),
        Err(RequestError::Twice("meta.team".into()))
    );
    assert_eq!(
        entries(r#"{"meta.team": "search", "meta": {"team": "ads"}}"#),
        Err(RequestError::Twice("meta".into()))
    );
    assert_eq!(
        entries(r#"{"meta.n": 3}"#),
        Err(RequestError::WrongType {
            name: "meta.n".into(),
            expected: Type::String,
            found: "`3`".into(),
        })
    );
    // A name that is no map's entry stays an unknown key.
    let r = Request::parse(&schema, r#"{"key.x": "1", "other.y": "2"}"#).unwrap();
    assert_eq!(r.unknown, ["key.x", "other.y"]);
    // The entries decide like any map.
    let ctx_req = Request::parse(&schema, r#"{"meta.team": "search"}"#).unwrap();
    let ctx = ctx_req.context(&schema);
    let node = parse(r#"meta["team"] == "search""#).unwrap();
    let map = OffsetMap::identity(FileId::default(), 24);
    let e = check(
        &node,
        &schema,
        &map,
        CheckLimits::default(),
        &mut Vec::new(),
    )
    .unwrap();
    assert_eq!(eval(&e, &ctx), Ok(Value::Bool(true)));
}

const INT_POLICY: &str = r#"
[policy]
name = "int-maps"
default_model = "sonnet"

[attributes]
feature = "string"
quota = "map<string,  int>"

[models.haiku]
id = "us.anthropic.claude-3-5-haiku-20241022-v1:0"

[models.sonnet]
id = "us.anthropic.claude-sonnet-4-20250514-v1:0"

[[route]]
name = "small-quota"
when = 'quota["daily"] < 100 && size(quota) >= 1'
model = "haiku"

[[route]]
name = "per-feature"
when = 'feature in quota && quota[feature] * 2 > 10 && has(quota.extra)'
model = "haiku"

[[test]]
name = "a small daily quota goes to haiku"
request = { quota = { daily = 50 } }
expect = { route = "small-quota" }

[[test]]
name = "a feature's own quota"
request = { quota = { daily = 500, chat = 6, extra = 0 }, feature = "chat" }
expect = { route = "per-feature" }
"#;

#[test]
fn int_maps_from_json_tests_and_slots_decide_like_the_reference() {
    let policy = load_str("int_maps.toml", INT_POLICY, &LoadOptions::default())
        .unwrap_or_else(|e| panic!("{}", e.render()))
        .policy;
    let compiled = compile(policy.clone()).expect("compiles");
    let schema = &policy.schema();
    let quota = schema.id("quota").unwrap();
    assert_eq!(
        schema.get(quota).unwrap().ty.to_string(),
        "map<string, int>"
    );
    let cases = [
        (r#"{"quota": {"daily": 99}}"#, Some(0)),
        (
            r#"{"quota.daily": 100, "quota.chat": 6, "quota.extra": 1, "feature": "chat"}"#,
            Some(1),
        ),
        (
            r#"{"quota": {"chat": 5, "extra": 1}, "feature": "chat"}"#,
            None,
        ),
        (r#"{"quota": {"chat": 6}, "feature": "chat"}"#, None),
        (r#"{"feature": "chat"}"#, None),
    ];
    for (json, route) in cases {
        let req = Request::parse(schema, json).expect("parses");
        let ctx = req.context(schema);
        let d = compiled.decide(&ctx);
        assert_eq!(d, decide_reference(&policy, &ctx), "{json}");
        assert_eq!(d.route.map(|r| r.get()), route, "{json}");
    }
    let req = Request::parse(schema, r#"{"quota": {"a": 1, "b": 2.0}}"#).unwrap();
    assert_eq!(
        req.values.get(&quota),
        Some(&Owned::IntMap(vec![("a".into(), 1), ("b".into(), 2)]))
    );
    assert_eq!(
        Request::parse(schema, r#"{"quota": {"a": "1"}}"#),
        Err(RequestError::WrongType {
            name: "quota".into(),
            expected: Type::IntMap,
            found: "an object".into(),
        })
    );
    assert_eq!(
        Request::parse(schema, r#"{"quota.a": 1.5}"#),
        Err(RequestError::WrongType {
            name: "quota.a".into(),
            expected: Type::Int,
            found: "`1.5`".into(),
        })
    );
    // From borrowed pairs; the first pair of a key counts.
    let pairs: &[(&str, i64)] = &[("daily", 7), ("daily", 500)];
    let mut ctx = Context::new(schema);
    ctx.set_int_map(quota, pairs);
    let d = compiled.decide(&ctx);
    assert_eq!(d, decide_reference(&policy, &ctx));
    assert_eq!(d.route.map(|r| r.get()), Some(0));
    // A missing key is an error value, as for string maps.
    let node = parse(r#"quota["zz"] == 1"#).unwrap();
    let map = OffsetMap::identity(FileId::default(), 16);
    let e = check(&node, schema, &map, CheckLimits::default(), &mut Vec::new()).unwrap();
    assert_eq!(
        eval(&e, &ctx).map_err(|e| e.kind),
        Err(ErrorKind::NoSuchKey("zz".into()))
    );
    let results = tollgate_engine::run_tests(&policy, &|ctx| compiled.decide(ctx));
    assert_eq!(results.len(), 2);
    assert!(results.iter().all(|r| r.passed()), "{results:?}");
}

/// `Value::to_json`, the values `tollgate explain --json` prints: maps are
/// objects with the first pair of a key counting, floats stay floats (an
/// integral one too), and what JSON numbers cannot hold is CEL text.
#[test]
fn values_as_json() {
    let j = |v: Value| v.to_json().to_string();
    assert_eq!(
        j(Value::IntMap(vec![
            ("a".into(), 1),
            ("b".into(), -2),
            ("a".into(), 3)
        ])),
        r#"{"a":1,"b":-2}"#
    );
    assert_eq!(
        j(Value::Map(vec![
            ("x".into(), "1".into()),
            ("x".into(), "2".into())
        ])),
        r#"{"x":"1"}"#
    );
    assert_eq!(
        j(Value::List(vec![Value::Int(1), Value::Float(2.0)])),
        "[1,2.0]"
    );
    assert_eq!(j(Value::Float(f64::NAN)), r#""NaN""#);
    assert_eq!(j(Value::Float(f64::NEG_INFINITY)), r#""-Inf""#);
    assert_eq!(j(Value::Str("say \"hi\"".into())), r#""say \"hi\"""#);
    assert_eq!(j(Value::Bool(true)), "true");
}

const SIZES: &str = r#"
[policy]
name = "map-sizes"
default_model = "sonnet"

[attributes]
meta = "map<string, string>"
quota = "map<string, int>"

[models.haiku]
id = "us.anthropic.claude-3-5-haiku-20241022-v1:0"

[models.sonnet]
id = "us.anthropic.claude-sonnet-4-20250514-v1:0"

[[route]]
name = "three"
when = 'size(meta) == 3 || quota.size() == 3'
model = "haiku"

[[route]]
name = "two"
when = 'size(meta) == 2 && quota.size() == 2'
model = "haiku"
"#;

/// Regression: `size(m)` counted a repeated key's pairs (3 for
/// `[("a", _), ("b", _), ("a", _)]`) in both engines, where CEL (and
/// cel-interpreter, in tests/cel_differential.rs) count the map's two
/// keys; lookups already read the first pair of a key.
#[test]
fn size_counts_a_repeated_key_once_in_both_engines() {
    let policy = load_str("sizes.toml", SIZES, &LoadOptions::default())
        .unwrap_or_else(|e| panic!("{}", e.render()))
        .policy;
    let compiled = compile(policy.clone()).expect("compiles");
    let schema = &policy.schema();
    let ints: &[(&str, i64)] = &[("a", 1), ("b", 2), ("a", 3)];
    let mut ctx = Context::new(schema);
    ctx.set_map(schema.id("meta").unwrap(), AB);
    ctx.set_int_map(schema.id("quota").unwrap(), ints);
    let d = compiled.decide(&ctx);
    assert_eq!(d, decide_reference(&policy, &ctx));
    assert_eq!(d.route.map(|r| r.get()), Some(1));
}
