//! Single-flight: concurrent identical misses in one process wait for the
//! first call instead of all paying for it.
//!
//! The first miss on a key becomes the leader and calls the model; later
//! misses on the same key, while the leader is out, get a [`Waiter`]. When
//! the leader finishes, every waiter receives the leader's entry if it was
//! a cacheable answer, or `None` (the leader failed, was throttled, cut,
//! flagged, or gave up): then each waiter makes its own call, so an error
//! is never shared either.
//!
//! A waiter can block ([`Waiter::wait`], with a time limit) or be awaited
//! (it is a [`Future`] that works on any executor), so sync and async
//! callers share one mechanism. The in-flight table is sharded like the
//! in-process store.

use crate::entry::Entry;
use crate::key::CacheKey;
use parking_lot::{Condvar, Mutex};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

const SHARDS: usize = 16;

type FlightMap = Mutex<HashMap<u128, Arc<Flight>>>;

/// One call in flight.
pub(crate) struct Flight {
    state: Mutex<State>,
    done: Condvar,
}

#[derive(Default)]
struct State {
    finished: bool,
    result: Option<Arc<Entry>>,
    wakers: Vec<Waker>,
}

impl Flight {
    fn finish(&self, result: Option<Arc<Entry>>) {
        let wakers = {
            let mut s = self.state.lock();
            s.finished = true;
            s.result = result;
            std::mem::take(&mut s.wakers)
        };
        self.done.notify_all();
        for w in wakers {
            w.wake();
        }
    }
}

/// Waits for another call's result: `Some(entry)` to serve, or `None` to
/// make the call yourself.
pub struct Waiter {
    flight: Arc<Flight>,
}

impl Waiter {
    /// Blocks until the leader finishes or `limit` passes (then `None`).
    pub fn wait(self, limit: Duration) -> Option<Arc<Entry>> {
        let deadline = Instant::now().checked_add(limit);
        let mut s = self.flight.state.lock();
        while !s.finished {
            match deadline {
                Some(d) => {
                    if self.flight.done.wait_until(&mut s, d).timed_out() && !s.finished {
                        return None;
                    }
                }
                None => self.flight.done.wait(&mut s),
            }
        }
        s.result.clone()
    }
}

impl Future for Waiter {
    type Output = Option<Arc<Entry>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut s = self.flight.state.lock();
        if s.finished {
            return Poll::Ready(s.result.clone());
        }
        if !s.wakers.iter().any(|w| w.will_wake(cx.waker())) {
            s.wakers.push(cx.waker().clone());
        }
        Poll::Pending
    }
}

/// The leader's or a follower's part.
pub(crate) enum Join {
    /// Make the call, then [`Flights::finish`].
    Leader(Arc<Flight>),
    /// Wait for the leader.
    Follower(Waiter),
}

/// The table of calls in flight, by key.
pub(crate) struct Flights {
    shards: Box<[FlightMap]>,
}

impl Flights {
    pub(crate) fn new() -> Flights {
        Flights {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }

    fn shard(&self, key: CacheKey) -> Option<&FlightMap> {
        // INVARIANT: SHARDS is a power of two.
        let i = ((key.0 >> 64) as usize) & (SHARDS - 1);
        self.shards.get(i)
    }

    /// Leader if no call on `key` is in flight, else follower.
    pub(crate) fn join(&self, key: CacheKey) -> Join {
        let Some(shard) = self.shard(key) else {
            return Join::Leader(new_flight());
        };
        let mut map = shard.lock();
        if let Some(f) = map.get(&key.0) {
            return Join::Follower(Waiter {
                flight: Arc::clone(f),
            });
        }
        let f = new_flight();
        map.insert(key.0, Arc::clone(&f));
        Join::Leader(f)
    }

    /// Ends the leader's flight: later misses start a new one, and every
    /// waiter gets `result`.
    pub(crate) fn finish(&self, key: CacheKey, flight: &Arc<Flight>, result: Option<Arc<Entry>>) {
        if let Some(shard) = self.shard(key) {
            let mut map = shard.lock();
            if map.get(&key.0).is_some_and(|f| Arc::ptr_eq(f, flight)) {
                map.remove(&key.0);
            }
        }
        flight.finish(result);
    }

    /// Calls in flight now.
    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().len()).sum()
    }
}

fn new_flight() -> Arc<Flight> {
    Arc::new(Flight {
        state: Mutex::new(State::default()),
        done: Condvar::new(),
    })
}
