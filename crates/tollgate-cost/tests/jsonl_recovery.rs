//! A JSONL sink whose disk fails for a while and then recovers: the lines
//! refused meanwhile are gone (their `write` said so), later lines are
//! written, and nothing refused turns up in the file afterwards.
//!
//! The failure is real: the process's file-size limit (`RLIMIT_FSIZE`) is
//! lowered to the file's size, so the kernel refuses every further byte
//! (EFBIG), then raised again. It is process-wide, hence this test has a
//! binary of its own.
#![cfg(all(target_os = "linux", target_arch = "x86_64"))]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use tollgate_cost::read_event_file;
use tollgate_cost::JsonlConfig;
use tollgate_cost::{JsonlSink, Sink};

#[repr(C)]
struct RLimit {
    cur: u64,
    max: u64,
}

extern "C" {
    fn getrlimit(resource: i32, rlim: *mut RLimit) -> i32;
    fn setrlimit(resource: i32, rlim: *const RLimit) -> i32;
    fn signal(sig: i32, handler: usize) -> usize;
}

const RLIMIT_FSIZE: i32 = 1;
const SIGXFSZ: i32 = 25;
const SIG_IGN: usize = 1;

#[test]
fn lines_refused_while_the_disk_fails_never_reach_the_file_later() {
    let dir = common::TempDir::new("recovery");
    let sink = JsonlSink::new(JsonlConfig::new(dir.path())).unwrap(); // a line per write
    sink.write(&common::event_at("2026-11-26T10:00:00Z", "a"))
        .unwrap();
    let path = sink.current_path().unwrap();
    let size = std::fs::metadata(&path).unwrap().len();
    let mut old = RLimit { cur: 0, max: 0 };
    // SAFETY: plain libc calls on valid pointers; SIGXFSZ ignored so that
    // the refused write is an EFBIG error, not a killed process.
    unsafe {
        signal(SIGXFSZ, SIG_IGN);
        assert_eq!(getrlimit(RLIMIT_FSIZE, &mut old), 0);
        assert_eq!(
            setrlimit(
                RLIMIT_FSIZE,
                &RLimit {
                    cur: size,
                    max: old.max
                }
            ),
            0
        );
    }
    let refused = (0..5)
        .filter(|i| {
            sink.write(&common::event_at("2026-11-26T10:00:01Z", &format!("b{i}")))
                .is_err()
        })
        .count();
    // SAFETY: as above, restoring the limit read before.
    unsafe {
        assert_eq!(setrlimit(RLIMIT_FSIZE, &old), 0);
    }
    assert_eq!(refused, 5);
    assert_eq!(
        sink.take_lost(),
        0,
        "every refused line was refused by its own write"
    );
    sink.write(&common::event_at("2026-11-26T10:00:02Z", "c"))
        .unwrap();
    let ids: Vec<String> = read_event_file(&path)
        .unwrap()
        .events
        .into_iter()
        .map(|e| e.request_id)
        .collect();
    assert_eq!(ids, ["a", "c"]);
}
