//! A sink fault never fails or slows a call: events go into a bounded queue
//! that one background thread drains into the wrapped sink.
//!
//! When the queue is full the event is dropped and counted, not waited for:
//! a stuck disk or a blocked pipe costs events, never latency. A write the
//! wrapped sink refuses is counted too (and logged, at most once a second).
//! The thread flushes the wrapped sink whenever the queue runs empty, so a
//! [`super::FlushPolicy::Buffered`] file sink batches under load and still
//! writes promptly when traffic stops.
//!
//! The queue is `std::sync::mpsc::sync_channel` (since Rust 1.67 a port of
//! crossbeam-channel's bounded array queue): `try_send` never blocks and
//! never allocates beyond the event itself, so no extra crate is needed.

use super::{Sink, SinkError};
use crate::event::CallEvent;
use std::cell::Cell;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

enum Msg {
    Event(Box<CallEvent>),
    Flush(SyncSender<()>),
}

#[derive(Default)]
struct Counters {
    accepted: AtomicU64,
    written: AtomicU64,
    dropped: AtomicU64,
    failed: AtomicU64,
}

/// What the background sink has done so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AsyncStats {
    /// Events queued.
    pub accepted: u64,
    /// Events the wrapped sink took.
    pub written: u64,
    /// Events dropped because the queue was full (or the thread was gone).
    pub dropped: u64,
    /// Events the wrapped sink refused (an error).
    pub failed: u64,
}

impl AsyncStats {
    /// Events queued and not yet written or failed.
    pub fn pending(&self) -> u64 {
        self.accepted
            .saturating_sub(self.written)
            .saturating_sub(self.failed)
    }

    /// Events lost: dropped plus failed.
    pub fn lost(&self) -> u64 {
        self.dropped + self.failed
    }
}

/// Wraps a sink with a bounded queue and a background thread.
pub struct AsyncSink {
    tx: Option<SyncSender<Msg>>,
    counters: Arc<Counters>,
    done: Mutex<Receiver<()>>,
    drain_timeout: Duration,
}

impl AsyncSink {
    /// Starts the thread. `capacity` is the queue length in events (at least 1).
    pub fn new(inner: impl Sink + 'static, capacity: usize) -> io::Result<AsyncSink> {
        let (tx, rx) = mpsc::sync_channel::<Msg>(capacity.max(1));
        let (done_tx, done) = mpsc::sync_channel::<()>(1);
        let counters = Arc::new(Counters::default());
        let c = Arc::clone(&counters);
        std::thread::Builder::new()
            .name("tollgate-sink".to_owned())
            .spawn(move || {
                drain(&inner, &rx, &c);
                let _ = inner.flush();
                drop(inner);
                let _ = done_tx.send(());
            })?;
        Ok(AsyncSink {
            tx: Some(tx),
            counters,
            done: Mutex::new(done),
            drain_timeout: Duration::from_secs(2),
        })
    }

    /// How long dropping the sink waits for the queue to drain (default 2 s).
    pub fn with_drain_timeout(mut self, d: Duration) -> AsyncSink {
        self.drain_timeout = d;
        self
    }

    /// Queues an event; `false` when it was dropped (queue full). Never blocks.
    pub fn submit(&self, ev: CallEvent) -> bool {
        let Some(tx) = &self.tx else {
            self.counters.dropped.fetch_add(1, Ordering::Relaxed);
            return false;
        };
        match tx.try_send(Msg::Event(Box::new(ev))) {
            Ok(()) => {
                self.counters.accepted.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.counters.dropped.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> AsyncStats {
        let c = &self.counters;
        AsyncStats {
            accepted: c.accepted.load(Ordering::Relaxed),
            written: c.written.load(Ordering::Relaxed),
            dropped: c.dropped.load(Ordering::Relaxed),
            failed: c.failed.load(Ordering::Relaxed),
        }
    }

    /// Waits until every event queued before this call has been handed to
    /// the wrapped sink and the sink flushed; `false` on timeout.
    pub fn flush_timeout(&self, timeout: Duration) -> bool {
        let Some(tx) = &self.tx else { return false };
        let deadline = Instant::now() + timeout;
        let (ack_tx, ack) = mpsc::sync_channel(1);
        let mut msg = Msg::Flush(ack_tx);
        loop {
            match tx.try_send(msg) {
                Ok(()) => break,
                Err(TrySendError::Full(m)) => {
                    if Instant::now() >= deadline {
                        return false;
                    }
                    msg = m;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(TrySendError::Disconnected(_)) => return false,
            }
        }
        ack.recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .is_ok()
    }
}

fn drain(inner: &dyn Sink, rx: &Receiver<Msg>, c: &Counters) {
    let last_log: Cell<Option<Instant>> = Cell::new(None);
    let warn = |e: &SinkError, events: u64| {
        if last_log
            .get()
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(1))
        {
            last_log.set(Some(Instant::now()));
            tracing::warn!(target: "tollgate::sink", error = %e, events, "call event sink failed; events counted as lost");
        }
    };
    // After a write or flush: events the sink took (`written`) and lost
    // later, when it wrote out its buffer, move to `failed`; then the
    // error, if any, is reported with every event it cost.
    let settle = |result: Result<(), (SinkError, u64)>| {
        let lost = inner.take_lost();
        if lost > 0 {
            let _ = c
                .written
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |w| {
                    Some(w.saturating_sub(lost))
                });
            c.failed.fetch_add(lost, Ordering::Relaxed);
        }
        if let Err((e, n)) = result {
            warn(&e, n + lost);
        }
    };
    let handle = |msg: Msg| match msg {
        Msg::Event(ev) => settle(match inner.write(&ev) {
            Ok(()) => {
                c.written.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(e) => {
                c.failed.fetch_add(1, Ordering::Relaxed);
                Err((e, 1))
            }
        }),
        Msg::Flush(ack) => {
            // Counted before the caller hears the flush is done.
            settle(inner.flush().map_err(|e| (e, 0)));
            let _ = ack.try_send(());
        }
    };
    while let Ok(msg) = rx.recv() {
        handle(msg);
        // Take whatever else is queued, then flush once the queue is empty.
        while let Ok(more) = rx.try_recv() {
            handle(more);
        }
        settle(inner.flush().map_err(|e| (e, 0)));
    }
}

impl Sink for AsyncSink {
    /// Queues a copy of the event; always `Ok` (a full queue is counted as a drop).
    fn write(&self, event: &CallEvent) -> Result<(), SinkError> {
        self.submit(event.clone());
        Ok(())
    }

    fn flush(&self) -> Result<(), SinkError> {
        if self.flush_timeout(self.drain_timeout) {
            Ok(())
        } else {
            Err(SinkError::Io(io::Error::new(
                io::ErrorKind::TimedOut,
                "the background sink did not drain in time",
            )))
        }
    }
}

impl Drop for AsyncSink {
    /// Closes the queue and waits up to the drain timeout for the thread to
    /// write what is queued; a blocked sink's thread is left behind, not joined.
    fn drop(&mut self) {
        drop(self.tx.take());
        let done = self.done.lock().unwrap_or_else(|p| p.into_inner());
        let _ = done.recv_timeout(self.drain_timeout);
    }
}
