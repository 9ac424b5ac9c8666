//! The response cache end to end on the in-process store: hits report the
//! cost they avoided, what is never cached, tenant isolation through the
//! real decision path, single-flight (blocking and async), and store
//! failures that leave calls unharmed.

// Test code: a failed unwrap or panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};
use tollgate_cache::{
    cache_key, CacheConfig, CacheKey, CallResult, Entry, FillResult, FillRule, KeyInput, KeySpec,
    Lookup, MemoryConfig, MemoryStore, Message, NotCached, Outcome, Part, Put, ResponseCache, Role,
    Served, StopReason, Store, StoreError, Usage,
};
use tollgate_engine::{decide_reference, Request};
use tollgate_lang::{load_str, LoadOptions};

const RULE: FillRule = FillRule {
    ttl: Duration::from_secs(600),
    cache_truncated: false,
};

fn answer(text: &str, stop: StopReason) -> Entry {
    Entry {
        body: text.as_bytes().to_vec(),
        stop_reason: stop,
        usage: Usage {
            input: 2000,
            output: 300,
            cache_read: 0,
            cache_write: 0,
        },
        // Sonnet 4: 2000 x 3000 + 300 x 15000 nanos.
        cost_nanos: 10_500_000,
        model_id: "us.anthropic.claude-sonnet-4-20250514-v1:0".into(),
        created_unix_ms: 1,
    }
}

fn ok(text: &str) -> CallResult {
    CallResult::Answered {
        entry: answer(text, StopReason::EndTurn),
        guardrail_flagged: false,
    }
}

fn memory_cache(single_flight: bool) -> ResponseCache {
    ResponseCache::new(
        MemoryStore::new(MemoryConfig::default()),
        CacheConfig {
            single_flight,
            ..CacheConfig::default()
        },
    )
}

#[test]
fn hit_serves_the_entry_and_reports_the_cost_it_avoided() {
    let c = memory_cache(true);
    let k = CacheKey(42);
    let first = c.get_or_call(k, RULE, || ok("Paris"));
    assert!(matches!(
        first,
        Served::Called {
            fill: FillResult::Stored,
            ..
        }
    ));
    let calls = AtomicU64::new(0);
    for _ in 0..3 {
        match c.get_or_call(k, RULE, || {
            calls.fetch_add(1, Ordering::Relaxed);
            ok("other")
        }) {
            Served::Hit(e) => {
                assert_eq!(e.body, b"Paris");
                assert_eq!(e.cost_nanos, 10_500_000);
                assert_eq!(e.usage.output, 300);
            }
            other => panic!("expected a hit, got {other:?}"),
        }
    }
    assert_eq!(calls.load(Ordering::Relaxed), 0);
    let st = c.stats();
    assert_eq!((st.hits, st.misses, st.stored), (3, 1, 1));
    assert_eq!(st.avoided_nanos, 3 * 10_500_000);
}

#[test]
fn never_cached_errors_throttles_cut_flagged_or_filtered_answers() {
    let cases = [
        (CallResult::Failed, NotCached::Error),
        (CallResult::Throttled, NotCached::Throttled),
        (
            CallResult::Answered {
                entry: answer("cut mid-sen", StopReason::MaxTokens),
                guardrail_flagged: false,
            },
            NotCached::Truncated,
        ),
        (
            CallResult::Answered {
                entry: answer("fine-looking", StopReason::EndTurn),
                guardrail_flagged: true,
            },
            NotCached::Guardrail,
        ),
        (
            CallResult::Answered {
                entry: answer("", StopReason::GuardrailIntervened),
                guardrail_flagged: false,
            },
            NotCached::Guardrail,
        ),
        (
            CallResult::Answered {
                entry: answer("", StopReason::ContentFiltered),
                guardrail_flagged: false,
            },
            NotCached::ContentFiltered,
        ),
        (
            CallResult::Answered {
                entry: answer(
                    "",
                    StopReason::Other("model_context_window_exceeded".into()),
                ),
                guardrail_flagged: false,
            },
            NotCached::OtherStop,
        ),
    ];
    let c = memory_cache(true);
    for (i, (result, why)) in cases.into_iter().enumerate() {
        let k = CacheKey(i as u128);
        match c.get_or_call(k, RULE, || result.clone()) {
            Served::Called { fill, .. } => assert_eq!(fill, FillResult::NotStored(why)),
            other => panic!("case {i}: {other:?}"),
        }
        // The next identical request calls again: nothing was stored.
        assert!(matches!(
            c.get_or_call(k, RULE, || ok("fresh")),
            Served::Called {
                fill: FillResult::Stored,
                ..
            }
        ));
    }
    let st = c.stats();
    let n = st.not_stored;
    assert_eq!(
        (
            n.error,
            n.throttled,
            n.truncated,
            n.guardrail,
            n.content_filtered,
            n.other_stop
        ),
        (1, 1, 1, 2, 1, 1)
    );
    assert_eq!((st.stored, st.hits), (7, 0));
}

#[test]
fn cut_answers_are_cached_when_the_rule_allows_it() {
    let c = memory_cache(true);
    let allow = FillRule {
        cache_truncated: true,
        ..RULE
    };
    let cut = CallResult::Answered {
        entry: answer("a long list: 1, 2, 3", StopReason::MaxTokens),
        guardrail_flagged: false,
    };
    assert!(matches!(
        c.get_or_call(CacheKey(1), allow, || cut.clone()),
        Served::Called {
            fill: FillResult::Stored,
            ..
        }
    ));
    assert!(matches!(
        c.get_or_call(CacheKey(1), allow, || ok("x")),
        Served::Hit(_)
    ));
    // A flagged cut answer is still never stored.
    let flagged = CallResult::Answered {
        entry: answer("x", StopReason::MaxTokens),
        guardrail_flagged: true,
    };
    assert!(matches!(
        c.get_or_call(CacheKey(2), allow, || flagged),
        Served::Called {
            fill: FillResult::NotStored(NotCached::Guardrail),
            ..
        }
    ));
}

const POLICY: &str = r#"
[policy]
name = "t"
default_model = "sonnet"

[attributes]
feature = "string"
tenant = "string"

[models.sonnet]
id = "us.anthropic.claude-sonnet-4-20250514-v1:0"

[[cache]]
name = "kb-answers"
when = 'feature == "kb"'
key = ["system", "messages"]
scope = "tenant"
ttl = "10m"
"#;

#[test]
fn scope_isolation() {
    let policy = load_str("t.toml", POLICY, &LoadOptions::default())
        .unwrap()
        .policy;
    let c = memory_cache(true);
    let q = [Part::Text("What is the refund window?")];
    let messages = [Message {
        role: Role::User,
        content: &q,
    }];
    let input = KeyInput {
        system: &["Answer from the tenant's own handbook."],
        messages: &messages,
        ..KeyInput::default()
    };
    let serve = |tenant: &str, reply: &str| {
        let req = Request::parse(
            policy.schema(),
            &format!(r#"{{"feature": "kb", "tenant": "{tenant}"}}"#),
        )
        .unwrap();
        let ctx = req.context(policy.schema());
        let d = decide_reference(&policy, &ctx);
        let spec = KeySpec::from_decision(&policy, &d, &ctx).unwrap();
        let rule = FillRule::from_decision(&policy, &d).unwrap();
        assert_eq!(rule, FillRule::from_rule(&policy.caches[0].then));
        assert_eq!(rule.ttl, Duration::from_secs(600));
        c.get_or_call(cache_key(&spec, &input), rule, || ok(reply))
    };
    // Tenant A's answer is stored; tenant B, identical prompt, calls for its own.
    assert!(matches!(serve("acme", "30 days"), Served::Called { .. }));
    match serve("globex", "14 days") {
        Served::Called { result, .. } => assert_eq!(result, ok("14 days")),
        other => panic!("tenant B must not see tenant A's entry: {other:?}"),
    }
    // Each tenant now hits only its own entry.
    match serve("acme", "unused") {
        Served::Hit(e) => assert_eq!(e.body, b"30 days"),
        other => panic!("{other:?}"),
    }
    match serve("globex", "unused") {
        Served::Hit(e) => assert_eq!(e.body, b"14 days"),
        other => panic!("{other:?}"),
    }
    // A request without a tenant matches no cache rule at all.
    let req = Request::parse(policy.schema(), r#"{"feature": "kb"}"#).unwrap();
    let ctx = req.context(policy.schema());
    assert_eq!(decide_reference(&policy, &ctx).cache, None);
}

/// Eight threads miss on the same key at once; the model is called once.
#[test]
fn single_flight() {
    let c = memory_cache(true);
    let calls = AtomicU64::new(0);
    let start = Barrier::new(8);
    let served: Vec<Served> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..8)
            .map(|_| {
                s.spawn(|| {
                    start.wait();
                    c.get_or_call(CacheKey(7), RULE, || {
                        calls.fetch_add(1, Ordering::Relaxed);
                        // Long enough for every thread to arrive.
                        std::thread::sleep(Duration::from_millis(150));
                        ok("once")
                    })
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(calls.load(Ordering::Relaxed), 1);
    let called = served
        .iter()
        .filter(|s| matches!(s, Served::Called { .. }))
        .count();
    let shared = served
        .iter()
        .filter(|s| matches!(s, Served::Shared(e) if e.body == b"once"))
        .count();
    let hits = served
        .iter()
        .filter(|s| matches!(s, Served::Hit(_)))
        .count();
    assert_eq!(called, 1);
    assert_eq!(shared + hits, 7);
    let st = c.stats();
    assert_eq!(st.shared as usize, shared);
    assert_eq!(st.avoided_nanos, 7 * 10_500_000);
    assert_eq!(c.in_flight(), 0);
}

#[test]
fn single_flight_off_every_miss_pays() {
    let c = memory_cache(false);
    let calls = AtomicU64::new(0);
    let start = Barrier::new(4);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                start.wait();
                c.get_or_call(CacheKey(7), RULE, || {
                    calls.fetch_add(1, Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(100));
                    ok("each")
                })
            });
        }
    });
    assert_eq!(calls.load(Ordering::Relaxed), 4);
    assert_eq!(c.stats().waited, 0);
}

#[test]
fn single_flight_never_shares_a_failure() {
    let c = memory_cache(true);
    let fill = match c.lookup(CacheKey(9), RULE) {
        Lookup::Miss(f) => f,
        _ => panic!("first lookup must miss"),
    };
    let wait = match c.lookup(CacheKey(9), RULE) {
        Lookup::InFlight(w) => w,
        _ => panic!("second lookup must wait"),
    };
    let waiter = std::thread::spawn(move || wait.wait(Duration::from_secs(5)));
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(
        fill.complete(Outcome::Throttled),
        FillResult::NotStored(NotCached::Throttled)
    );
    assert_eq!(waiter.join().unwrap(), None, "the waiter calls for itself");
    // A leader that gives up (drops its fill) releases waiters too.
    let fill = match c.lookup(CacheKey(10), RULE) {
        Lookup::Miss(f) => f,
        _ => panic!(),
    };
    let Lookup::InFlight(wait) = c.lookup(CacheKey(10), RULE) else {
        panic!()
    };
    drop(fill);
    assert_eq!(wait.wait(Duration::from_secs(5)), None);
    assert_eq!(c.stats().fallbacks, 2);
    assert_eq!(c.in_flight(), 0);
}

struct ThreadWaker(std::thread::Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// A minimal executor: any runtime drives the waiter the same way.
fn block_on<F: Future>(f: F) -> F::Output {
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut f = pin!(f);
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park_timeout(Duration::from_secs(1));
    }
}

#[test]
fn single_flight_waiter_can_be_awaited() {
    let c = memory_cache(true);
    let Lookup::Miss(fill) = c.lookup(CacheKey(11), RULE) else {
        panic!()
    };
    let Lookup::InFlight(wait) = c.lookup(CacheKey(11), RULE) else {
        panic!()
    };
    let waiter = std::thread::spawn(move || block_on(wait));
    std::thread::sleep(Duration::from_millis(20));
    let e = answer("async", StopReason::EndTurn);
    let r = fill.complete(Outcome::Answered {
        entry: &e,
        guardrail_flagged: false,
    });
    assert_eq!(r, FillResult::Stored);
    assert_eq!(waiter.join().unwrap().unwrap().body, b"async");
}

/// A store that always fails, the way a dead backend does.
struct Broken;

impl Store for Broken {
    fn get(&self, _: CacheKey) -> Result<Option<Arc<Entry>>, StoreError> {
        Err(StoreError::Timeout)
    }

    fn put(&self, _: CacheKey, _: Arc<Entry>, _: Duration) -> Result<Put, StoreError> {
        Err(StoreError::Backend("connection refused".into()))
    }
}

#[test]
fn store_failures_leave_the_call_unharmed() {
    let c = ResponseCache::new(Broken, CacheConfig::default());
    let t = Instant::now();
    for _ in 0..3 {
        match c.get_or_call(CacheKey(1), RULE, || ok("still answered")) {
            Served::Called { result, fill } => {
                assert_eq!(result, ok("still answered"));
                assert!(matches!(
                    fill,
                    FillResult::StoreFailed(StoreError::Backend(_))
                ));
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(t.elapsed() < Duration::from_secs(1));
    let st = c.stats();
    assert_eq!((st.get_errors, st.put_errors, st.misses), (3, 3, 3));
}
