//! Where call events go.
//!
//! | sink | for |
//! |---|---|
//! | [`JsonlSink`] | JSON Lines files rotated by UTC day and size: the input of replay and reports |
//! | [`EmfSink`] | CloudWatch Embedded Metric Format lines on stdout (Lambda) or any writer (agent, FireLens) |
//! | [`TracingSink`] | a `tracing` span per call with OpenTelemetry GenAI field names |
//! | [`AsyncSink`] | wraps any sink: a bounded queue and a background thread, so a slow or failing sink never slows or fails a call |
//! | [`MultiSink`] | several sinks, each tried |
//!
//! A sink's error is for the operator (counted, logged), never for the
//! call: put a sink that does I/O behind [`AsyncSink`].

mod background;
mod emf;
mod jsonl;
mod otel;
pub mod reader;

pub use background::{AsyncSink, AsyncStats};
pub use emf::{Dimension, EmfConfig, EmfSink};
pub use jsonl::{FlushPolicy, JsonlConfig, JsonlSink};
pub use otel::{call_span, record_outcome, TracingSink, TARGET as TRACING_TARGET};

use crate::event::CallEvent;

/// A sink could not take an event.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SinkError {
    /// Writing failed.
    #[error("cannot write the call event: {0}")]
    Io(#[from] std::io::Error),
    /// The event could not be serialized.
    #[error("cannot serialize the call event: {0}")]
    Json(#[from] serde_json::Error),
    /// The sink was shut down.
    #[error("the sink is closed")]
    Closed,
}

/// Takes call events. Implementations are shared across threads.
pub trait Sink: Send + Sync {
    /// Records one event.
    fn write(&self, event: &CallEvent) -> Result<(), SinkError>;

    /// Pushes anything buffered to its destination.
    fn flush(&self) -> Result<(), SinkError> {
        Ok(())
    }

    /// Events this sink accepted (`write` returned `Ok`, the line was
    /// buffered) and then lost when a later write failed, since the last
    /// call. [`AsyncSink`] moves them from `written` to `failed`.
    fn take_lost(&self) -> u64 {
        0
    }
}

impl<S: Sink + ?Sized> Sink for Box<S> {
    fn write(&self, event: &CallEvent) -> Result<(), SinkError> {
        (**self).write(event)
    }

    fn flush(&self) -> Result<(), SinkError> {
        (**self).flush()
    }

    fn take_lost(&self) -> u64 {
        (**self).take_lost()
    }
}

impl<S: Sink + ?Sized> Sink for std::sync::Arc<S> {
    fn write(&self, event: &CallEvent) -> Result<(), SinkError> {
        (**self).write(event)
    }

    fn flush(&self) -> Result<(), SinkError> {
        (**self).flush()
    }

    fn take_lost(&self) -> u64 {
        (**self).take_lost()
    }
}

/// Several sinks: each gets every event even when an earlier one fails;
/// the first error is returned.
#[derive(Default)]
pub struct MultiSink {
    sinks: Vec<Box<dyn Sink>>,
}

impl MultiSink {
    /// No sinks yet.
    pub fn new() -> MultiSink {
        MultiSink::default()
    }

    /// Adds a sink.
    pub fn with(mut self, sink: impl Sink + 'static) -> MultiSink {
        self.sinks.push(Box::new(sink));
        self
    }
}

impl Sink for MultiSink {
    fn write(&self, event: &CallEvent) -> Result<(), SinkError> {
        let mut first = Ok(());
        for s in &self.sinks {
            if let Err(e) = s.write(event) {
                if first.is_ok() {
                    first = Err(e);
                }
            }
        }
        first
    }

    fn flush(&self) -> Result<(), SinkError> {
        let mut first = Ok(());
        for s in &self.sinks {
            if let Err(e) = s.flush() {
                if first.is_ok() {
                    first = Err(e);
                }
            }
        }
        first
    }

    /// The sum over the sinks (an event two of them lost counts twice).
    fn take_lost(&self) -> u64 {
        self.sinks
            .iter()
            .fold(0u64, |n, s| n.saturating_add(s.take_lost()))
    }
}
