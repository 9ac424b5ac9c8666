//! Faults under the ledger and the sinks: a slow Redis (a delaying proxy in
//! front of a real `redis-server`), a Redis killed and restarted mid-run,
//! and sinks whose disk is full (a writer answering ENOSPC, and
//! `/dev/full`). No call fails or blocks; every fault is counted; what was
//! lost is exactly what the counters say.

// Test code: a failed unwrap or panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{self, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tollgate_cost::EmfConfig;
use tollgate_cost::{AsyncSink, EmfSink, Sink, SinkError};

/// A writer whose disk is full.
struct NoSpace;

impl Write for NoSpace {
    fn write(&mut self, _: &[u8]) -> io::Result<usize> {
        Err(io::Error::from_raw_os_error(28)) // ENOSPC
    }

    fn flush(&mut self) -> io::Result<()> {
        Err(io::Error::from_raw_os_error(28))
    }
}

fn events(n: usize) -> Vec<tollgate_cost::CallEvent> {
    (0..n)
        .map(|i| common::event_at("2026-11-26T10:00:00Z", &format!("req-{i}")))
        .collect()
}

#[test]
fn disk_full_writer_fails_the_write_not_the_call_and_is_counted() {
    // Directly: the sink reports the OS error, typed.
    let direct = EmfSink::new(EmfConfig::default(), NoSpace);
    let err = direct.write(&events(1)[0]).unwrap_err();
    match err {
        SinkError::Io(e) => assert_eq!(e.raw_os_error(), Some(28)),
        other => panic!("{other:?}"),
    }
    // Behind the background queue (how a gate uses it): every write is
    // accepted at once, every failure is counted, nothing blocks.
    let sink = AsyncSink::new(EmfSink::new(EmfConfig::default(), NoSpace), 1024).unwrap();
    let started = Instant::now();
    for ev in events(500) {
        assert!(sink.write(&ev).is_ok());
    }
    assert!(started.elapsed() < Duration::from_secs(2));
    // flush waits for the queue; the wrapped sink's flush fails with ENOSPC.
    let _ = sink.flush_timeout(Duration::from_secs(10));
    let s = sink.stats();
    assert_eq!(
        (s.accepted, s.written, s.failed, s.dropped),
        (500, 0, 500, 0)
    );
    assert_eq!(s.lost(), 500);
}

#[cfg(target_os = "linux")]
#[test]
fn dev_full_is_counted_not_fatal() {
    let Ok(file) = std::fs::OpenOptions::new().write(true).open("/dev/full") else {
        // No /dev/full on this system; the NoSpace writer test covers ENOSPC.
        return;
    };
    let direct = EmfSink::new(EmfConfig::default(), file.try_clone().unwrap());
    match direct.write(&events(1)[0]).unwrap_err() {
        SinkError::Io(e) => assert_eq!(e.raw_os_error(), Some(28)),
        other => panic!("{other:?}"),
    }
    let sink = AsyncSink::new(EmfSink::new(EmfConfig::default(), file), 64).unwrap();
    for ev in events(100) {
        assert!(sink.write(&ev).is_ok());
    }
    let _ = sink.flush_timeout(Duration::from_secs(10));
    let s = sink.stats();
    assert_eq!((s.written, s.failed + s.dropped), (0, 100), "{s:?}");
}

/// A buffered JSONL file on a full disk: its `write`s succeed (the lines
/// wait in the buffer) and the lines are lost when the buffer is written
/// out. The background sink counts them as failed, not written.
#[cfg(target_os = "linux")]
#[test]
fn buffered_lines_lost_on_a_full_disk_are_counted_as_failed() {
    use tollgate_cost::JsonlSink;
    use tollgate_cost::{FlushPolicy, JsonlConfig};
    let dir = common::TempDir::new("buffered-full");
    std::os::unix::fs::symlink("/dev/full", dir.path().join("calls-2026-11-26.jsonl")).unwrap();
    let mut cfg = JsonlConfig::new(dir.path());
    cfg.flush = FlushPolicy::Buffered { max_bytes: 1 << 20 };
    let sink = AsyncSink::new(JsonlSink::new(cfg).unwrap(), 1024).unwrap();
    for i in 0..50 {
        sink.submit(common::event_at("2026-11-26T10:00:00Z", &format!("r{i}")));
    }
    assert!(sink.flush_timeout(Duration::from_secs(10)));
    let s = sink.stats();
    assert_eq!(
        (s.accepted, s.written, s.failed, s.lost()),
        (50, 0, 50, 50),
        "{s:?}"
    );
}

#[test]
fn a_full_queue_drops_and_counts_instead_of_blocking() {
    /// A sink stuck on a slow disk.
    struct Stuck;
    impl Sink for Stuck {
        fn write(&self, _: &tollgate_cost::CallEvent) -> Result<(), SinkError> {
            std::thread::sleep(Duration::from_millis(50));
            Ok(())
        }
    }
    let sink = Arc::new(AsyncSink::new(Stuck, 4).unwrap());
    let started = Instant::now();
    for ev in events(200) {
        assert!(sink.write(&ev).is_ok());
    }
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    let s = sink.stats();
    assert_eq!(s.accepted + s.dropped, 200, "{s:?}");
    assert!(s.dropped >= 190, "{s:?}");
}

// The cache crate's test support: a real `redis-server` on a free port,
// and a delaying TCP proxy.
#[cfg(feature = "redis")]
#[path = "../../tollgate-cache/tests/support/redis_server.rs"]
mod redis_server;
#[cfg(feature = "redis")]
#[path = "../../tollgate-cache/tests/support/slow_proxy.rs"]
mod slow_proxy;

#[cfg(feature = "redis")]
mod redis {
    use std::time::{Duration, Instant};
    use tollgate_cost::{Day, GroupKey, Ledger, LedgerConfig};
    use tollgate_cost::{RedisConfig, RedisStore};

    use super::redis_server::RedisServer;
    use super::slow_proxy::SlowProxy;

    fn day() -> Day {
        Day::from_ymd(2026, 11, 26).unwrap()
    }

    fn cfg(url: String) -> RedisConfig {
        RedisConfig {
            op_timeout: Duration::from_millis(50),
            connect_timeout: Duration::from_millis(200),
            backoff: Duration::from_millis(20),
            ..RedisConfig::new(url)
        }
    }

    /// Adds `nanos` to the global group; `true` when it was counted (the
    /// ledger's fault counter did not move).
    fn add(ledger: &Ledger, nanos: u64) -> bool {
        let before = ledger.faults();
        let started = Instant::now();
        ledger.add(&[GroupKey::global()], day(), nanos);
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        ledger.faults() == before
    }

    fn total(ledger: &Ledger) -> i64 {
        ledger.total(GroupKey::global(), day()).unwrap()
    }

    #[test]
    fn slow_redis_faults_are_counted_and_totals_stay_exact() {
        let server = RedisServer::start();
        let proxy = SlowProxy::start(server.port(), Duration::ZERO);
        let ledger = Ledger::new(
            RedisStore::open(cfg(proxy.url())).unwrap(),
            LedgerConfig::default(),
        );
        let mut counted = 0i64;
        for i in 1..=20u64 {
            assert!(add(&ledger, i));
            counted += i as i64;
        }
        assert_eq!(total(&ledger), counted);
        // Slow network: every add times out, is counted as a fault, and
        // the call goes on.
        proxy.set_delay(Duration::from_millis(300));
        let faults = ledger.faults();
        for i in 0..10u64 {
            assert!(!add(&ledger, 1_000 + i));
        }
        assert_eq!(ledger.faults(), faults + 10);
        // Recovered. A timed-out INCRBY may still have reached Redis (the
        // request was sent; only the reply was late): the total is the
        // counted adds plus some subset of the timed-out ones, never less.
        proxy.set_delay(Duration::ZERO);
        std::thread::sleep(Duration::from_millis(700));
        for i in 1..=20u64 {
            if add(&ledger, i) {
                counted += i as i64;
            }
        }
        let t = total(&ledger);
        let timed_out: i64 = (0..10).map(|i| 1_000 + i).sum();
        assert!(
            t >= counted && t <= counted + timed_out,
            "total {t}, counted {counted}"
        );
    }

    #[test]
    fn redis_restarted_mid_run_every_add_is_counted_or_a_fault() {
        let mut server = RedisServer::start();
        let port = server.port();
        let ledger = Ledger::new(
            RedisStore::open(cfg(server.url())).unwrap(),
            LedgerConfig::default(),
        );
        let mut before_kill = 0i64;
        for i in 1..=50u64 {
            assert!(add(&ledger, i));
            before_kill += i as i64;
        }
        assert_eq!(total(&ledger), before_kill);
        server.kill();
        let faults = ledger.faults();
        for i in 1..=50u64 {
            assert!(!add(&ledger, i), "the server is down");
        }
        assert_eq!(ledger.faults(), faults + 50);
        assert!(ledger.total(GroupKey::global(), day()).is_err());
        let _server = RedisServer::start_on(port).expect("restart on the same port");
        std::thread::sleep(Duration::from_millis(50));
        // The restarted server is empty (persistence off): what the ledger
        // holds now is exactly the adds counted after the restart.
        let mut after = 0i64;
        let mut lost = 0;
        for i in 1..=50u64 {
            if add(&ledger, i) {
                after += i as i64;
            } else {
                lost += 1;
            }
        }
        assert!(
            lost <= 1,
            "at most the first add after a restart reconnects: {lost}"
        );
        assert_eq!(total(&ledger), after);
        assert!(after > 0);
    }
}
