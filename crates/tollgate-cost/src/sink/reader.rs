//! Reading JSON Lines call events back, tolerating a crash's torn line.
//!
//! A line that does not parse is skipped and reported, never fatal: after a
//! crash the file's last line may be cut anywhere, and [`super::JsonlSink`]
//! ends such a line with a newline before appending, so it can also sit in
//! the middle of a file. Blank lines are ignored. A last line without its
//! newline is kept when it parses (it is whole; only the newline is missing).

use crate::event::CallEvent;
use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::Path;

/// A line that was not an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// 1-based line number.
    pub line: usize,
    /// It was the last line and had no newline (a torn write).
    pub unterminated: bool,
    /// Why it did not parse.
    pub error: String,
}

/// The events of a file and the lines skipped.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReadOutcome {
    /// Events in file order.
    pub events: Vec<CallEvent>,
    /// Lines that were not events.
    pub skipped: Vec<Skipped>,
}

/// Reads every event from a reader.
pub fn read_events(reader: impl BufRead) -> io::Result<ReadOutcome> {
    let mut out = ReadOutcome::default();
    for_each_event(reader, |ev| out.events.push(ev), |s| out.skipped.push(s))?;
    Ok(out)
}

/// Reads every event from a file.
pub fn read_file(path: &Path) -> io::Result<ReadOutcome> {
    read_events(BufReader::with_capacity(1 << 16, File::open(path)?))
}

/// Streams events to `on_event` and skipped lines to `on_skip`, holding one
/// line in memory at a time.
pub fn for_each_event(
    mut reader: impl BufRead,
    mut on_event: impl FnMut(CallEvent),
    mut on_skip: impl FnMut(Skipped),
) -> io::Result<()> {
    let mut line = Vec::with_capacity(2048);
    let mut number = 0usize;
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        number += 1;
        if number == 1 && line.starts_with(b"\xEF\xBB\xBF") {
            // A byte-order mark, as some editors and tools write.
            line.drain(..3);
        }
        let terminated = line.last() == Some(&b'\n');
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match CallEvent::from_json_line(&line) {
            Ok(ev) => on_event(ev),
            Err(e) => on_skip(Skipped {
                line: number,
                unterminated: !terminated,
                error: e.to_string(),
            }),
        }
    }
}
