//! Response-cache keys: distinct canonical contents never share a key, and
//! equal contents always do.
//!
//! The fuzzer's bytes build two structured requests (and two key specs)
//! through `arbitrary`, with values from small domains (short strings over
//! a few letters and white-space characters, signed zeros and NaNs) so that
//! the two are often equal, nearly equal, or equal after normalisation.
//! An independent model of the canonical content (the fields the spec
//! names; texts trimmed and white space collapsed when the spec says
//! `normalize = "whitespace"`; `-0.0` as `0.0`, every NaN as one NaN) is
//! compared: `cache_key(a) == cache_key(b)` must hold exactly when the
//! models are equal, and the canonical encodings must agree with the keys.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use tollgate_cache::{
    cache_key, encode_key, FieldSet, Inference, KeyInput, KeySpec, Message, Part, Role, ScopeValue,
};
use tollgate_engine::StrList;
use tollgate_lang::{KeyField, Normalize};

/// A short string over a small alphabet: letters, ASCII and Unicode white
/// space, a NUL, a multi-byte letter.
#[derive(Debug, Clone, Arbitrary)]
struct S(Vec<u8>);

const ALPHABET: &[&str] = &[
    "a", "b", " ", "\t", "\n", "\u{3000}", "\u{85}", "\0", "é", "ab",
];

impl S {
    fn text(&self) -> String {
        self.0
            .iter()
            .take(6)
            .map(|b| ALPHABET[*b as usize % ALPHABET.len()])
            .collect()
    }
}

#[derive(Debug, Clone, Copy, Arbitrary)]
enum F {
    Zero,
    NegZero,
    Nan,
    OtherNan,
    Half,
    One,
    Any(f32),
}

impl F {
    fn value(self) -> f32 {
        match self {
            F::Zero => 0.0,
            F::NegZero => -0.0,
            F::Nan => f32::NAN,
            F::OtherNan => f32::from_bits(0xffc0_0001),
            F::Half => 0.5,
            F::One => 1.0,
            F::Any(x) => x,
        }
    }
}

#[derive(Debug, Clone, Arbitrary)]
enum P {
    Text(S),
    Blob(u8, Vec<u8>),
}

#[derive(Debug, Clone, Arbitrary)]
struct M {
    assistant: bool,
    parts: Vec<P>,
}

#[derive(Debug, Clone, Arbitrary)]
struct Spec {
    rule: u8,
    version: u8,
    fields: u8,
    whitespace: bool,
    scope: Option<(u8, S)>,
}

#[derive(Debug, Clone, Arbitrary)]
struct Req {
    system: Vec<S>,
    messages: Vec<M>,
    retrieval_ids: Vec<S>,
    ids_as_strings: bool,
    model: u8,
    max_tokens: Option<u8>,
    temperature: Option<F>,
    top_p: Option<F>,
    stop: Vec<S>,
    tools: Vec<S>,
}

#[derive(Debug, Arbitrary)]
struct Input {
    spec_a: Spec,
    req_a: Req,
    /// `None`: the second request's spec is the first's.
    spec_b: Option<Spec>,
    /// `None`: the second request is the first, with the edits below.
    req_b: Option<Req>,
    /// Edits to a copied request: (field, value).
    edits: Vec<(u8, S)>,
}

const RULES: &[&str] = &["r", "rr", "r\0", ""];
const MODELS: &[&str] = &["", "m", "anthropic.claude-3-5-haiku-20241022-v1:0"];
const KINDS: &[&str] = &["image/png", "tool_result", ""];
const ATTRS: &[&str] = &["tenant", "user"];
const FIELDS: [KeyField; 6] = [
    KeyField::System,
    KeyField::Messages,
    KeyField::RetrievalIds,
    KeyField::Model,
    KeyField::Inference,
    KeyField::Tools,
];

/// Owned form of a request (the key input borrows from it).
struct Owned {
    system: Vec<String>,
    messages: Vec<(Role, Vec<(u8, String, Vec<u8>)>)>,
    ids: Vec<String>,
    ids_as_strings: bool,
    model: &'static str,
    max_tokens: Option<u32>,
    temperature: Option<f32>,
    top_p: Option<f32>,
    stop: Vec<String>,
    tools: Vec<String>,
}

fn owned(r: &Req) -> Owned {
    Owned {
        system: r.system.iter().take(4).map(S::text).collect(),
        messages: r
            .messages
            .iter()
            .take(4)
            .map(|m| {
                let role = if m.assistant {
                    Role::Assistant
                } else {
                    Role::User
                };
                let parts = m
                    .parts
                    .iter()
                    .take(4)
                    .map(|p| match p {
                        // kind 0xff marks a text part
                        P::Text(s) => (0xff, s.text(), Vec::new()),
                        P::Blob(k, b) => (
                            *k % KINDS.len() as u8,
                            String::new(),
                            b.iter().take(4).map(|x| x % 3).collect(),
                        ),
                    })
                    .collect();
                (role, parts)
            })
            .collect(),
        ids: r.retrieval_ids.iter().take(4).map(S::text).collect(),
        ids_as_strings: r.ids_as_strings,
        model: MODELS[r.model as usize % MODELS.len()],
        max_tokens: r.max_tokens.map(|n| u32::from(n % 4)),
        temperature: r.temperature.map(F::value),
        top_p: r.top_p.map(F::value),
        stop: r.stop.iter().take(3).map(S::text).collect(),
        tools: r.tools.iter().take(3).map(S::text).collect(),
    }
}

fn edit(o: &mut Owned, edits: &[(u8, S)]) {
    for (which, s) in edits.iter().take(3) {
        let t = s.text();
        match which % 8 {
            0 => o.system.push(t),
            1 => {
                if let Some(x) = o.system.last_mut() {
                    *x = t;
                }
            }
            2 => {
                if let Some((_, parts)) = o.messages.last_mut() {
                    parts.push((0xff, t, Vec::new()));
                }
            }
            3 => o.ids.push(t),
            4 => o.ids_as_strings = !o.ids_as_strings,
            5 => o.stop.push(t),
            6 => o.temperature = o.temperature.map(|x| -x),
            _ => o.tools.push(t),
        }
    }
}

struct OwnedSpec {
    rule: &'static str,
    version: u32,
    fields: Vec<KeyField>,
    whitespace: bool,
    scope: Option<(&'static str, String)>,
}

fn owned_spec(s: &Spec) -> OwnedSpec {
    OwnedSpec {
        rule: RULES[s.rule as usize % RULES.len()],
        version: u32::from(s.version % 3),
        fields: FIELDS
            .iter()
            .enumerate()
            .filter(|(i, _)| s.fields & (1 << i) != 0)
            .map(|(_, f)| *f)
            .collect(),
        whitespace: s.whitespace,
        scope: s
            .scope
            .as_ref()
            .map(|(a, v)| (ATTRS[*a as usize % ATTRS.len()], v.text())),
    }
}

/// The model of canonical content: what the key must be a function of,
/// and nothing else.
#[derive(Debug, PartialEq)]
struct Canon {
    rule: String,
    version: u32,
    scope: Option<(String, String)>,
    whitespace: bool,
    system: Option<Vec<String>>,
    messages: Option<Vec<(bool, Vec<(Option<String>, String, Vec<u8>)>)>>,
    ids: Option<Vec<String>>,
    model: Option<String>,
    inference: Option<(Option<u32>, Option<u32>, Option<u32>, Vec<String>)>,
    tools: Option<Vec<String>>,
}

fn norm(t: &str, ws: bool) -> String {
    if ws {
        t.split_whitespace().collect::<Vec<_>>().join(" ")
    } else {
        t.to_string()
    }
}

fn canon_f32(x: Option<f32>) -> Option<u32> {
    x.map(|x| {
        if x.is_nan() {
            0x7fc0_0000
        } else if x == 0.0 {
            0
        } else {
            x.to_bits()
        }
    })
}

fn canon(s: &OwnedSpec, o: &Owned) -> Canon {
    let has = |f: KeyField| s.fields.contains(&f);
    let ws = s.whitespace;
    Canon {
        rule: s.rule.to_string(),
        version: s.version,
        scope: s.scope.as_ref().map(|(a, v)| (a.to_string(), v.clone())),
        whitespace: ws,
        system: has(KeyField::System).then(|| o.system.iter().map(|t| norm(t, ws)).collect()),
        messages: has(KeyField::Messages).then(|| {
            o.messages
                .iter()
                .map(|(role, parts)| {
                    let parts = parts
                        .iter()
                        .map(|(k, t, b)| {
                            if *k == 0xff {
                                (None, norm(t, ws), Vec::new())
                            } else {
                                (
                                    Some(KINDS[*k as usize].to_string()),
                                    String::new(),
                                    b.clone(),
                                )
                            }
                        })
                        .collect();
                    (*role == Role::Assistant, parts)
                })
                .collect()
        }),
        ids: has(KeyField::RetrievalIds).then(|| o.ids.clone()),
        model: has(KeyField::Model).then(|| o.model.to_string()),
        inference: has(KeyField::Inference).then(|| {
            (
                o.max_tokens,
                canon_f32(o.temperature),
                canon_f32(o.top_p),
                o.stop.clone(),
            )
        }),
        tools: has(KeyField::Tools).then(|| o.tools.clone()),
    }
}

/// Compute key and encoding of one request under one spec.
fn key_of(s: &OwnedSpec, o: &Owned) -> (u128, Vec<u8>) {
    let parts: Vec<Vec<Part<'_>>> = o
        .messages
        .iter()
        .map(|(_, parts)| {
            parts
                .iter()
                .map(|(k, t, b)| {
                    if *k == 0xff {
                        Part::Text(t)
                    } else {
                        Part::Blob {
                            kind: KINDS[*k as usize],
                            bytes: b,
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
        .map(|((role, _), p)| Message {
            role: *role,
            content: p,
        })
        .collect();
    let system: Vec<&str> = o.system.iter().map(String::as_str).collect();
    let ids: Vec<&str> = o.ids.iter().map(String::as_str).collect();
    let stop: Vec<&str> = o.stop.iter().map(String::as_str).collect();
    let tools: Vec<&str> = o.tools.iter().map(String::as_str).collect();
    let input = KeyInput {
        system: &system,
        messages: &messages,
        retrieval_ids: if o.ids_as_strings {
            StrList::Strings(&o.ids)
        } else {
            StrList::Strs(&ids)
        },
        model_id: o.model,
        inference: Inference {
            max_tokens: o.max_tokens,
            temperature: o.temperature,
            top_p: o.top_p,
            stop: &stop,
        },
        tools: &tools,
    };
    let spec = KeySpec {
        rule: s.rule,
        version: s.version,
        fields: FieldSet::of(&s.fields),
        normalize: s.whitespace.then_some(Normalize::Whitespace),
        scope: match &s.scope {
            None => ScopeValue::Global,
            Some((name, value)) => ScopeValue::Attr { name, value },
        },
    };
    (cache_key(&spec, &input).0, encode_key(&spec, &input))
}

fuzz_target!(|input: Input| {
    let spec_a = owned_spec(&input.spec_a);
    let spec_b = owned_spec(input.spec_b.as_ref().unwrap_or(&input.spec_a));
    let a = owned(&input.req_a);
    let mut b = owned(input.req_b.as_ref().unwrap_or(&input.req_a));
    edit(&mut b, &input.edits);

    let (ka, ea) = key_of(&spec_a, &a);
    let (kb, eb) = key_of(&spec_b, &b);
    let (ca, cb) = (canon(&spec_a, &a), canon(&spec_b, &b));
    let same = ca == cb;
    assert_eq!(
        ka == kb,
        same,
        "key equality != content equality\na: {ca:?}\nb: {cb:?}"
    );
    assert_eq!(
        ea == eb,
        same,
        "encoding equality != content equality\na: {ca:?}\nb: {cb:?}"
    );
    // The key is the hash of the encoding, and a request keys the same twice.
    assert_eq!(key_of(&spec_a, &a).0, ka);
});
