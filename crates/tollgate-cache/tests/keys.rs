//! Response-cache keys: golden vectors (the fleet-wide contract), the
//! documented encoding byte by byte, and the properties that make keys
//! safe: every named field counts, unnamed ones do not, length prefixes
//! keep splits apart, scope and namespace separate entries.

// Test code: a failed unwrap or panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use tollgate_cache::{
    cache_key, encode_key, retrieval_ids_of, CacheKey, FieldSet, Inference, KeyInput, KeySpec,
    Message, Part, Role, ScopeValue,
};
use tollgate_engine::{decide_reference, Request, StrList};
use tollgate_lang::{load_str, LoadOptions};
use tollgate_lang::{KeyField, Normalize};

const ALL: [KeyField; 6] = [
    KeyField::System,
    KeyField::Messages,
    KeyField::RetrievalIds,
    KeyField::Model,
    KeyField::Inference,
    KeyField::Tools,
];

fn spec<'a>(fields: &[KeyField], scope: ScopeValue<'a>) -> KeySpec<'a> {
    KeySpec {
        rule: "kb-answers",
        version: 2,
        fields: FieldSet::of(fields),
        normalize: None,
        scope,
    }
}

const TENANT_A: ScopeValue<'static> = ScopeValue::Attr {
    name: "tenant",
    value: "acme",
};

fn hex(k: CacheKey) -> String {
    k.to_hex()
}

/// The request most vectors use.
fn with_request<R>(f: impl FnOnce(&KeyInput<'_>) -> R) -> R {
    let q = [Part::Text("How do I rotate an API key?")];
    let a = [Part::Text("Open Settings, then Keys.")];
    let q2 = [
        Part::Text("And for a service account?"),
        Part::Blob {
            kind: "image/png",
            bytes: &[0x89, b'P', b'N', b'G'],
        },
    ];
    let messages = [
        Message {
            role: Role::User,
            content: &q,
        },
        Message {
            role: Role::Assistant,
            content: &a,
        },
        Message {
            role: Role::User,
            content: &q2,
        },
    ];
    let ids = ["kb:123", "kb:456"];
    let input = KeyInput {
        system: &["You answer from the knowledge base.", "Cite chunk ids."],
        messages: &messages,
        retrieval_ids: StrList::Strs(&ids),
        model_id: "us.anthropic.claude-sonnet-4-20250514-v1:0",
        inference: Inference {
            max_tokens: Some(800),
            temperature: Some(0.2),
            top_p: None,
            stop: &["\n\nHuman:"],
        },
        tools: &[r#"{"name":"search","input_schema":{"type":"object"}}"#],
    };
    f(&input)
}

#[test]
fn key_golden_vectors() {
    // Pinned: a change here breaks every fleet that mixes versions. Bump
    // KEY_FORMAT_VERSION and say so in the README if it must change.
    let empty = KeyInput::default();
    let global_nothing = KeySpec {
        rule: "r",
        version: 0,
        fields: FieldSet::EMPTY,
        normalize: None,
        scope: ScopeValue::Global,
    };
    assert_eq!(
        hex(cache_key(&global_nothing, &empty)),
        "fe955a53cf72cc1d68c156b8afebf6c2"
    );
    with_request(|input| {
        let kb = spec(
            &[KeyField::System, KeyField::Messages, KeyField::RetrievalIds],
            TENANT_A,
        );
        assert_eq!(
            hex(cache_key(&kb, input)),
            "17931fbf9dcf2fcdcadcdf9d6b6fe6dd"
        );
        let all = spec(&ALL, TENANT_A);
        assert_eq!(
            hex(cache_key(&all, input)),
            "e0aa628e25de190cf744beb0fe2b8105"
        );
        let global = spec(&ALL, ScopeValue::Global);
        assert_eq!(
            hex(cache_key(&global, input)),
            "45aba90268b8e426bc1531986768a21b"
        );
        let normalized = KeySpec {
            normalize: Some(Normalize::Whitespace),
            ..kb
        };
        assert_eq!(
            hex(cache_key(&normalized, input)),
            "1cd7609bb3e1d0cd949b82e853074502"
        );
    });
}

#[test]
fn key_encoding_is_the_documented_bytes() {
    let spec = KeySpec {
        rule: "r",
        version: 7,
        fields: FieldSet::of(&[KeyField::System, KeyField::Model]),
        normalize: None,
        scope: ScopeValue::Attr {
            name: "t",
            value: "a",
        },
    };
    let input = KeyInput {
        system: &["hi"],
        model_id: "m",
        ..KeyInput::default()
    };
    let le = |n: u64| n.to_le_bytes().to_vec();
    let mut want = b"TGK\x01".to_vec();
    want.push(0x10);
    want.extend(le(1));
    want.extend(b"r");
    want.extend(7u32.to_le_bytes());
    want.push(0x11);
    want.push(0x01);
    want.extend(le(1));
    want.extend(b"t");
    want.extend(le(1));
    want.extend(b"a");
    want.extend([0x12, 0x00]);
    want.push(0x01);
    want.extend(le(1));
    want.extend(le(2));
    want.extend(b"hi");
    want.push(0x04);
    want.extend(le(1));
    want.extend(b"m");
    let got = encode_key(&spec, &input);
    assert_eq!(got, want);
    assert_eq!(
        cache_key(&spec, &input),
        CacheKey(xxhash_rust::xxh3::xxh3_128(&want))
    );
}

#[test]
fn key_length_prefixes_keep_splits_apart() {
    let s = spec(&ALL, ScopeValue::Global);
    let k = |system: &[&str]| {
        cache_key(
            &s,
            &KeyInput {
                system,
                ..KeyInput::default()
            },
        )
    };
    assert_ne!(k(&["ab", "c"]), k(&["a", "bc"]));
    assert_ne!(k(&["abc"]), k(&["ab", "c"]));
    assert_ne!(k(&[""]), k(&[]));
    assert_ne!(k(&["", ""]), k(&[""]));
    // The same text as system prompt or as a message differs.
    let as_message = [Part::Text("ab")];
    let m = [Message {
        role: Role::User,
        content: &as_message,
    }];
    let in_messages = cache_key(
        &s,
        &KeyInput {
            messages: &m,
            ..KeyInput::default()
        },
    );
    assert_ne!(in_messages, k(&["ab"]));
    // A retrieval id is not a tool.
    let ids = ["x"];
    let id_key = cache_key(
        &s,
        &KeyInput {
            retrieval_ids: StrList::Strs(&ids),
            ..KeyInput::default()
        },
    );
    let tool_key = cache_key(
        &s,
        &KeyInput {
            tools: &["x"],
            ..KeyInput::default()
        },
    );
    assert_ne!(id_key, tool_key);
    // Text and a blob of the same bytes differ; blob kinds differ.
    let text = [Part::Text("abc")];
    let blob = [Part::Blob {
        kind: "",
        bytes: b"abc",
    }];
    let blob2 = [Part::Blob {
        kind: "image/png",
        bytes: b"abc",
    }];
    let one = |content: &[Part<'_>]| {
        let m = [Message {
            role: Role::User,
            content,
        }];
        cache_key(
            &s,
            &KeyInput {
                messages: &m,
                ..KeyInput::default()
            },
        )
    };
    assert_ne!(one(&text), one(&blob));
    assert_ne!(one(&blob), one(&blob2));
    // Roles count.
    let assistant = [Message {
        role: Role::Assistant,
        content: &text,
    }];
    let assistant_key = cache_key(
        &s,
        &KeyInput {
            messages: &assistant,
            ..KeyInput::default()
        },
    );
    assert_ne!(assistant_key, one(&text));
}

#[test]
fn key_covers_only_the_named_fields() {
    with_request(|input| {
        let kb = spec(
            &[KeyField::System, KeyField::Messages, KeyField::RetrievalIds],
            TENANT_A,
        );
        let base = cache_key(&kb, input);
        // Not named: model, inference, tools.
        let other_model = KeyInput {
            model_id: "us.anthropic.claude-3-5-haiku-20241022-v1:0",
            inference: Inference::default(),
            tools: &[],
            ..*input
        };
        assert_eq!(cache_key(&kb, &other_model), base);
        // Named: each one changes the key.
        let other_system = KeyInput {
            system: &["You answer from the knowledge base.", "Cite chunk ids!"],
            ..*input
        };
        assert_ne!(cache_key(&kb, &other_system), base);
        let ids = ["kb:456", "kb:123"];
        let reordered = KeyInput {
            retrieval_ids: StrList::Strs(&ids),
            ..*input
        };
        assert_ne!(cache_key(&kb, &reordered), base);
        // With `model` and `inference` named, those count too.
        let all = spec(&ALL, TENANT_A);
        let base = cache_key(&all, input);
        assert_ne!(cache_key(&all, &other_model), base);
        let warmer = KeyInput {
            inference: Inference {
                temperature: Some(0.7),
                ..input.inference
            },
            ..*input
        };
        assert_ne!(cache_key(&all, &warmer), base);
    });
}

#[test]
fn key_namespace_separates_rules_and_versions() {
    with_request(|input| {
        let kb = spec(&ALL, TENANT_A);
        let base = cache_key(&kb, input);
        let bumped = KeySpec { version: 3, ..kb };
        assert_ne!(cache_key(&bumped, input), base);
        let other_rule = KeySpec {
            rule: "docs-results",
            ..kb
        };
        assert_ne!(cache_key(&other_rule, input), base);
    });
}

#[test]
fn key_scope_separates_tenants_and_scope_kinds() {
    with_request(|input| {
        let a = spec(&ALL, TENANT_A);
        let b = spec(
            &ALL,
            ScopeValue::Attr {
                name: "tenant",
                value: "globex",
            },
        );
        let user_acme = spec(
            &ALL,
            ScopeValue::Attr {
                name: "user",
                value: "acme",
            },
        );
        let global = spec(&ALL, ScopeValue::Global);
        let keys = [
            cache_key(&a, input),
            cache_key(&b, input),
            cache_key(&user_acme, input),
            cache_key(&global, input),
        ];
        for (i, x) in keys.iter().enumerate() {
            for y in keys.iter().skip(i + 1) {
                assert_ne!(x, y);
            }
        }
    });
}

#[test]
fn key_whitespace_normalisation_merges_formatting_only() {
    let messy = [Part::Text("  What is   our\n\trefund policy?  ")];
    let tidy = [Part::Text("What is our refund policy?")];
    let cased = [Part::Text("what is our refund policy?")];
    let key = |normalize, content: &[Part<'_>], system: &[&str]| {
        let m = [Message {
            role: Role::User,
            content,
        }];
        let s = KeySpec {
            normalize,
            ..spec(&[KeyField::System, KeyField::Messages], ScopeValue::Global)
        };
        cache_key(
            &s,
            &KeyInput {
                system,
                messages: &m,
                ..KeyInput::default()
            },
        )
    };
    let ws = Some(Normalize::Whitespace);
    assert_eq!(
        key(ws, &messy, &["Be  brief.\n"]),
        key(ws, &tidy, &["Be brief."])
    );
    assert_ne!(
        key(ws, &tidy, &["Be brief."]),
        key(ws, &cased, &["Be brief."])
    );
    assert_ne!(
        key(None, &messy, &["Be brief."]),
        key(None, &tidy, &["Be brief."])
    );
    // Normalised and raw keys never mix, even for already-tidy text.
    assert_ne!(
        key(ws, &tidy, &["Be brief."]),
        key(None, &tidy, &["Be brief."])
    );
}

#[test]
fn key_floats_are_canonical() {
    let s = spec(&[KeyField::Inference], ScopeValue::Global);
    let k = |t: Option<f32>| {
        cache_key(
            &s,
            &KeyInput {
                inference: Inference {
                    temperature: t,
                    ..Inference::default()
                },
                ..KeyInput::default()
            },
        )
    };
    assert_eq!(k(Some(0.0)), k(Some(-0.0)));
    assert_eq!(k(Some(f32::NAN)), k(Some(-f32::NAN)));
    assert_ne!(k(Some(0.0)), k(None));
    assert_ne!(k(Some(0.2)), k(Some(0.3)));
}

const POLICY: &str = r#"
[policy]
name = "t"
default_model = "sonnet"

[attributes]
feature = "string"
tenant = "string"
retrieval_ids = "list<string>"

[models.sonnet]
id = "us.anthropic.claude-sonnet-4-20250514-v1:0"

[[cache]]
name = "kb-answers"
when = 'feature == "kb"'
key = ["system", "messages", "retrieval_ids"]
scope = "tenant"
ttl = "10m"
version = 2
"#;

#[test]
fn key_spec_from_decision_needs_the_scope_attribute() {
    let policy = load_str("t.toml", POLICY, &LoadOptions::default())
        .unwrap()
        .policy;
    let with_tenant = Request::parse(
        policy.schema(),
        r#"{"feature": "kb", "tenant": "acme", "retrieval_ids": ["kb:123", "kb:456"]}"#,
    )
    .unwrap();
    let ctx = with_tenant.context(policy.schema());
    let d = decide_reference(&policy, &ctx);
    let spec = KeySpec::from_decision(&policy, &d, &ctx).unwrap();
    assert_eq!(spec.rule, "kb-answers");
    assert_eq!(spec.version, 2);
    assert_eq!(spec.scope, TENANT_A);
    assert_eq!(
        spec.fields,
        FieldSet::of(&[KeyField::System, KeyField::Messages, KeyField::RetrievalIds])
    );
    // The retrieval ids come from the request's attribute.
    let ids = retrieval_ids_of(&ctx);
    assert_eq!(ids.iter().collect::<Vec<_>>(), ["kb:123", "kb:456"]);
    with_request(|input| {
        let from_ctx = KeyInput {
            retrieval_ids: ids,
            ..*input
        };
        assert_eq!(cache_key(&spec, &from_ctx), cache_key(&spec, input));
    });

    // No tenant: the rule does not match, and the rule alone gives no spec.
    let without = Request::parse(policy.schema(), r#"{"feature": "kb"}"#).unwrap();
    let ctx = without.context(policy.schema());
    let d = decide_reference(&policy, &ctx);
    assert_eq!(d.cache, None);
    assert_eq!(KeySpec::from_decision(&policy, &d, &ctx), None);
    let rule = policy.caches.first().unwrap();
    assert_eq!(KeySpec::from_rule(rule, &ctx), None);
}

// Random inputs over a tiny alphabet (so near-collisions are common):
// equal encodings only for equal inputs.
#[derive(Debug, Clone, PartialEq)]
struct Owned {
    system: Vec<String>,
    messages: Vec<(bool, Vec<(bool, String)>)>,
    ids: Vec<String>,
    model: String,
    max_tokens: Option<u32>,
    stop: Vec<String>,
    tools: Vec<String>,
}

fn small_str() -> impl Strategy<Value = String> {
    "[ab]{0,3}"
}

fn owned() -> impl Strategy<Value = Owned> {
    (
        prop::collection::vec(small_str(), 0..3),
        prop::collection::vec(
            (
                any::<bool>(),
                prop::collection::vec((any::<bool>(), small_str()), 0..3),
            ),
            0..3,
        ),
        prop::collection::vec(small_str(), 0..3),
        small_str(),
        prop::option::of(0u32..3),
        prop::collection::vec(small_str(), 0..2),
        prop::collection::vec(small_str(), 0..2),
    )
        .prop_map(
            |(system, messages, ids, model, max_tokens, stop, tools)| Owned {
                system,
                messages,
                ids,
                model,
                max_tokens,
                stop,
                tools,
            },
        )
}

fn encode_owned(o: &Owned) -> Vec<u8> {
    let system: Vec<&str> = o.system.iter().map(String::as_str).collect();
    let parts: Vec<Vec<Part<'_>>> = o
        .messages
        .iter()
        .map(|(_, ps)| {
            ps.iter()
                .map(|(is_text, s)| {
                    if *is_text {
                        Part::Text(s)
                    } else {
                        Part::Blob {
                            kind: "k",
                            bytes: s.as_bytes(),
                        }
                    }
                })
                .collect()
        })
        .collect();
    let messages: Vec<Message<'_>> = o
        .messages
        .iter()
        .zip(&parts)
        .map(|((user, _), content)| Message {
            role: if *user { Role::User } else { Role::Assistant },
            content,
        })
        .collect();
    let ids: Vec<&str> = o.ids.iter().map(String::as_str).collect();
    let stop: Vec<&str> = o.stop.iter().map(String::as_str).collect();
    let tools: Vec<&str> = o.tools.iter().map(String::as_str).collect();
    let input = KeyInput {
        system: &system,
        messages: &messages,
        retrieval_ids: StrList::Strs(&ids),
        model_id: &o.model,
        inference: Inference {
            max_tokens: o.max_tokens,
            temperature: None,
            top_p: None,
            stop: &stop,
        },
        tools: &tools,
    };
    encode_key(&spec(&ALL, ScopeValue::Global), &input)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]
    #[test]
    fn key_encoding_is_injective(a in owned(), b in owned()) {
        let (ea, eb) = (encode_owned(&a), encode_owned(&b));
        prop_assert_eq!(ea == eb, a == b);
    }
}

/// Normalising ASCII (fast path) and other text (general path) both encode
/// exactly the normal form with its length.
#[test]
fn key_normalisation_encodes_the_normal_form_on_every_path() {
    let raw_texts = [
        "  plain   ascii\ttext\r\n with\x0b\x0cbreaks  ",
        "caf\u{e9}\u{2003} na\u{ef}ve\u{3000}\u{85}end\u{a0} ",
        "",
        " \n ",
        "x",
    ];
    for t in raw_texts {
        assert_normal_form_encoded(t);
    }
}

fn assert_normal_form_encoded(t: &str) {
    let ws = KeySpec {
        normalize: Some(Normalize::Whitespace),
        ..spec(&[KeyField::System], ScopeValue::Global)
    };
    let raw = KeySpec {
        normalize: None,
        ..ws
    };
    let normal = t.split_whitespace().collect::<Vec<_>>().join(" ");
    assert_eq!(tollgate_cache::normalize_whitespace(t), normal);
    let got = encode_key(
        &ws,
        &KeyInput {
            system: &[t],
            ..KeyInput::default()
        },
    );
    let mut want = encode_key(
        &raw,
        &KeyInput {
            system: &[&normal],
            ..KeyInput::default()
        },
    );
    // The only difference: the normalisation byte after tag 0x12.
    let at = want.iter().position(|&b| b == 0x12).unwrap() + 1;
    want[at] = 1;
    assert_eq!(got, want, "{t:?}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]
    #[test]
    fn key_normalisation_matches_split_whitespace(t in "[ab \t\n\r\u{0b}\u{0c}\u{1c}\u{85}\u{a0}\u{2003}\u{3000}\u{e9}]{0,24}") {
        assert_normal_form_encoded(&t);
    }
}
