//! Compiled engine vs reference interpreter, on policies and requests built
//! from the fuzzer's bytes.
//!
//! Random bytes almost never spell a valid policy, so the input drives a
//! small generator instead: each rule's condition combines atoms from a
//! fixed menu (equality, `in`, ranges, negations, presence, string
//! functions, arithmetic that can overflow or divide by zero, conversions,
//! indexing, list macros, lookups, keys and sizes of string and int maps,
//! timestamps and durations) with `&&`,
//! `||` and `!`, in every section; each request sets or leaves out every
//! attribute with values from small domains, so that rules often nearly
//! match. Any difference between `CompiledPolicy::decide` and
//! `decide_reference` is a crash.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tollgate_engine::compile;
use tollgate_engine::{decide_reference, Context, Slot, StrList};
use tollgate_lang::{load_str, LoadOptions};

const HEADER: &str = r#"[policy]
name = "fuzz"
default_model = "m0"
[attributes]
a = "string"
b = "string"
n = "int"
k = "int"
x = "float"
f = "bool"
l = "list<string>"
m = "map<string, string>"
q = "map<string,int>"
t = "timestamp"
requested_max_tokens = "int"
[models.m0]
id = "anthropic.claude-3-5-haiku-20241022-v1:0"
[models.m1]
id = "anthropic.claude-sonnet-4-20250514-v1:0"
"#;

const ATOMS: &[&str] = &[
    r#"a == "p""#,
    r#"a != "q""#,
    r#"a in ["p", "q"]"#,
    r#"b == "p""#,
    r#"b in ["q", "r", "p"]"#,
    "n < 10",
    "n >= 3",
    "n == 5",
    "n in [1, 2, 3]",
    "k > n",
    "f",
    "!f",
    "has(b)",
    "!has(a)",
    "x > 1.5",
    "x <= n",
    r#""p" in l"#,
    "size(l) > 1",
    r#"b.contains("q")"#,
    r#"a.startsWith("p")"#,
    r#"b.matches("^[pq]+$")"#,
    "n / (k - 2) > 1",
    "n * 4611686018427387904 > 0",
    "(f ? n : k) > 2",
    "size(a + b) == 2",
    "int(x) == n",
    "double(n) * 1.5 > x",
    r#"string(n) == "5""#,
    r#"int(b) > 1"#,
    r#"l[0] == "p""#,
    "size(l[k]) == 1",
    r#"l.exists(s, s.startsWith("p"))"#,
    r#"l.all(s, s != a)"#,
    r#"l.exists_one(s, s == b)"#,
    "[1, 2, 0].exists(i, n / i == 1)",
    r#"m["t"] == "p""#,
    r#"m[a] == b"#,
    r#""t" in m"#,
    r#"a in m"#,
    "has(m.t)",
    "size(m) >= 2",
    r#"m["u"].startsWith("p") || f"#,
    r#"q["t"] < 3"#,
    r#"q[a] >= n"#,
    r#""t" in q"#,
    r#"b in q"#,
    "has(q.t)",
    "!has(q.u)",
    "size(q) > 1",
    "q.size() == size(m)",
    r#"q["u"] + k > 2 || f"#,
    r#"q["p"] * 4611686018427387904 > 0"#,
    r#"10 / q["t"] == 5"#,
    r#"t.getHours("Europe/Berlin") >= 22"#,
    r#"t.getDayOfWeek(a) == 0"#,
    r#"t < timestamp("2026-03-29T01:00:00Z")"#,
    r#"t - timestamp("2026-03-29T00:00:00Z") > duration("90m")"#,
    r#"(t + duration("1h")).getDate("America/New_York") == 29"#,
    r#"timestamp(n).getFullYear() == 1970"#,
    r#"duration(a) < duration("1s")"#,
    r#"(t - timestamp("0001-01-01T00:00:00Z")).getHours() > 0"#,
];

struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn next(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }
}

fn condition(b: &mut Bytes<'_>, depth: u8) -> String {
    let op = b.next();
    if depth >= 3 || op % 4 == 0 {
        let atom = ATOMS[b.next() as usize % ATOMS.len()];
        return if op % 8 == 4 { format!("!({atom})") } else { atom.to_string() };
    }
    let lhs = condition(b, depth + 1);
    let rhs = condition(b, depth + 1);
    match op % 4 {
        1 => format!("({lhs}) && ({rhs})"),
        2 => format!("({lhs}) || ({rhs})"),
        _ => format!("!(({lhs}) && ({rhs}))"),
    }
}

fn policy_text(b: &mut Bytes<'_>) -> String {
    let mut s = HEADER.to_string();
    for (section, extra) in [
        ("route", "model = \"m1\"\nmax_output_tokens = 300\n"),
        ("cache", "key = [\"messages\"]\nscope = \"b\"\nttl = \"1m\"\n"),
        ("batch", ""),
        ("limit", "max_output_tokens = 200\n"),
        ("budget", "daily_usd = 1.0\naction = \"reject\"\n"),
    ] {
        let rules = b.next() % 6;
        for i in 0..rules {
            let when = if b.next() % 7 == 0 { String::new() } else { format!("when = '{}'\n", condition(b, 0)) };
            s.push_str(&format!("[[{section}]]\nname = \"{section}{i}\"\n{when}{extra}\n"));
        }
    }
    s
}

fuzz_target!(|data: &[u8]| {
    let mut b = Bytes(data);
    let text = policy_text(&mut b);
    let Ok(loaded) = load_str("fuzz.toml", &text, &LoadOptions::default()) else {
        return;
    };
    let policy = loaded.policy;
    let Ok(compiled) = compile(policy.clone()) else {
        return;
    };
    let schema = policy.schema();
    let id = |name: &str| schema.id(name).unwrap();
    let strs = ["p", "q", "r", "pq", ""];
    let lists: [&[&str]; 3] = [&[], &["p"], &["q", "p"]];
    // Around the 2026 spring daylight-saving change in Europe (01:00 UTC).
    let times = [0, 1_774_742_400, 1_774_746_000, 1_774_749_599, 253_402_300_799]
        .map(|s| tollgate_lang::Timestamp::new(s, 0).unwrap());
    let maps: [&[(&str, &str)]; 4] = [&[], &[("t", "p")], &[("p", "q"), ("t", "r")], &[("u", "pq"), ("u", "q")]];
    // Keys repeat (the first pair counts); values reach zero and the ends
    // of the range, for overflow and division by zero.
    let int_maps: [&[(&str, i64)]; 5] = [
        &[],
        &[("t", 2)],
        &[("p", 5), ("t", 0)],
        &[("u", i64::MAX), ("u", 1), ("t", -1)],
        &[("q", i64::MIN), ("p", 2), ("pq", 3)],
    ];
    for _ in 0..16 {
        let mut ctx = Context::new(schema);
        let pick = |b: &mut Bytes<'_>| b.next();
        let v = pick(&mut b);
        if v % 5 != 0 {
            ctx.set_str(id("a"), strs[v as usize % strs.len()]);
        }
        let v = pick(&mut b);
        if v % 5 != 0 {
            ctx.set_str(id("b"), strs[v as usize % strs.len()]);
        }
        let v = pick(&mut b);
        if v % 5 != 0 {
            ctx.set_int(id("n"), [0, 1, 2, 3, 5, 9, 10, 11, i64::MAX, i64::MIN][v as usize % 10]);
        }
        let v = pick(&mut b);
        if v % 5 != 0 {
            ctx.set_int(id("k"), i64::from(v % 7));
        }
        let v = pick(&mut b);
        if v % 5 != 0 {
            ctx.set_float(id("x"), [0.5, 1.5, 2.0, f64::NAN, -0.0, 1e300][v as usize % 6]);
        }
        let v = pick(&mut b);
        if v % 5 != 0 {
            ctx.set_bool(id("f"), v % 2 == 0);
        }
        let v = pick(&mut b);
        if v % 5 != 0 {
            let _ = ctx.set(id("l"), Slot::StrList(StrList::Strs(lists[v as usize % 3])));
        }
        let v = pick(&mut b);
        if v % 5 != 0 {
            ctx.set_map(id("m"), maps[v as usize % maps.len()]);
        }
        let v = pick(&mut b);
        if v % 5 != 0 {
            ctx.set_timestamp(id("t"), times[v as usize % times.len()]);
        }
        let v = pick(&mut b);
        if v % 3 == 0 {
            ctx.set_int(id("requested_max_tokens"), i64::from(v) * 3);
        }
        let v = pick(&mut b);
        if v % 5 != 0 {
            ctx.set_int_map(id("q"), int_maps[v as usize % int_maps.len()]);
        }
        let got = compiled.decide(&ctx);
        let want = decide_reference(&policy, &ctx);
        assert_eq!(got, want, "compiled and reference disagree\npolicy:\n{text}\ncontext: {:?}", ctx.slots());
    }
});
