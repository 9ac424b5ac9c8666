//! JSON Lines files, rotated by UTC day and by size.
//!
//! **Files.** `DIR/PREFIX-YYYY-MM-DD.jsonl`, then `PREFIX-YYYY-MM-DD.1.jsonl`,
//! `.2.jsonl`, ... when a file would pass `max_file_bytes`. The day is the
//! event's own UTC day (so a file holds one day of calls); the sink only
//! moves forward, so a late event from an earlier day goes into the current
//! file. On start it appends to the newest file of the day.
//!
//! **No complete line is lost on a crash.** Each `write(2)` carries whole
//! lines only (never a `BufWriter`, which would cut a line at its buffer's
//! edge), to a file opened with `O_APPEND`. Once the call returns, the lines
//! are in the kernel's page cache and survive the process dying; only the
//! line a crash interrupts mid-`write` can be torn, and it is the file's last
//! line. Readers ([`super::reader`]) skip a torn last line, and before this
//! sink appends to an existing file it ends a torn line with a newline, so
//! the next complete line is never glued to it. (Surviving a power loss needs
//! `fsync_on_flush`.)
//!
//! **Flush policy.** [`FlushPolicy::EveryLine`] (the default) writes each
//! line with its own `write(2)` before [`Sink::write`] returns.
//! [`FlushPolicy::Buffered`] appends lines to a buffer written (one call,
//! whole lines) when it would pass `max_bytes`, on [`Sink::flush`], on
//! rotation and on drop: lines still in the buffer are lost if the process
//! dies. Behind [`super::AsyncSink`], which flushes whenever its queue runs
//! empty, `Buffered` batches under load and still writes promptly when idle.
//!
//! One process should own a directory's files: two writers appending to one
//! file could interleave a line split by a partial write.

use super::{Sink, SinkError};
use crate::event::CallEvent;
use crate::time::Day;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

/// When buffered lines reach the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushPolicy {
    /// One `write(2)` per line, before `write` returns.
    EveryLine,
    /// Lines gather in a buffer of up to `max_bytes`, written whole.
    Buffered {
        /// Buffer size that triggers a write.
        max_bytes: usize,
    },
}

/// Where and how to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonlConfig {
    /// The directory (created if missing).
    pub dir: PathBuf,
    /// File name prefix (default `calls`).
    pub prefix: String,
    /// Size at which a new file of the day starts (default 256 MiB).
    pub max_file_bytes: u64,
    /// When lines reach the file.
    pub flush: FlushPolicy,
    /// `fdatasync` on every flush and rotation, for power-loss durability.
    pub fsync_on_flush: bool,
}

impl JsonlConfig {
    /// Defaults for a directory.
    pub fn new(dir: impl Into<PathBuf>) -> JsonlConfig {
        JsonlConfig {
            dir: dir.into(),
            prefix: "calls".to_owned(),
            max_file_bytes: 256 << 20,
            flush: FlushPolicy::EveryLine,
            fsync_on_flush: false,
        }
    }
}

struct Open {
    file: File,
    path: PathBuf,
    day: Day,
    seq: u32,
    /// Bytes in the file.
    len: u64,
}

struct State {
    open: Option<Open>,
    /// Complete lines not yet written.
    buf: Vec<u8>,
    /// A write failed part-way: start the next write with a newline.
    torn: bool,
    /// Lines whose `write` returned `Ok` (buffered) and that a later
    /// failed write dropped; taken by [`Sink::take_lost`].
    lost: u64,
}

/// JSON Lines files rotated by UTC day and size.
pub struct JsonlSink {
    cfg: JsonlConfig,
    state: Mutex<State>,
}

impl JsonlSink {
    /// A sink writing under `cfg.dir` (created if missing). Files open on the
    /// first event.
    pub fn new(cfg: JsonlConfig) -> io::Result<JsonlSink> {
        std::fs::create_dir_all(&cfg.dir)?;
        Ok(JsonlSink {
            cfg,
            state: Mutex::new(State {
                open: None,
                buf: Vec::with_capacity(64 << 10),
                torn: false,
                lost: 0,
            }),
        })
    }

    /// The file being written, if any.
    pub fn current_path(&self) -> Option<PathBuf> {
        self.lock().open.as_ref().map(|o| o.path.clone())
    }

    /// The sink's files in `dir`, oldest first (by day, then sequence).
    pub fn files(dir: &Path, prefix: &str) -> io::Result<Vec<PathBuf>> {
        let mut found: Vec<(String, u32, PathBuf)> = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if let Some((day, seq)) = parse_name(name, prefix) {
                found.push((day.to_owned(), seq, path.clone()));
            }
        }
        found.sort();
        Ok(found.into_iter().map(|(_, _, p)| p).collect())
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves at most unwritten lines in
        // the buffer; the state is still consistent, so go on with it.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn file_path(&self, day: Day, seq: u32) -> PathBuf {
        let name = if seq == 0 {
            format!("{}-{day}.jsonl", self.cfg.prefix)
        } else {
            format!("{}-{day}.{seq}.jsonl", self.cfg.prefix)
        };
        self.cfg.dir.join(name)
    }

    /// Opens the newest file of `day` (or the next one after `min_seq`).
    fn open(&self, day: Day, min_seq: u32) -> io::Result<Open> {
        let mut seq = min_seq;
        while self.file_path(day, seq + 1).exists() {
            seq += 1;
        }
        loop {
            let path = self.file_path(day, seq);
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .read(true)
                .open(&path)?;
            let mut len = file.metadata()?.len();
            if len >= self.cfg.max_file_bytes && seq < u32::MAX {
                seq += 1;
                continue;
            }
            if len > 0 && !ends_with_newline(&file, len)? {
                // A torn last line from a crash: end it, so the next line
                // stands alone (readers skip the torn one).
                (&file).write_all(b"\n")?;
                len += 1;
            }
            return Ok(Open {
                file,
                path,
                day,
                seq,
                len,
            });
        }
    }

    fn sync(&self, open: &Open) -> io::Result<()> {
        if self.cfg.fsync_on_flush {
            open.file.sync_data()?;
        }
        Ok(())
    }
}

fn ends_with_newline(file: &File, len: u64) -> io::Result<bool> {
    let mut last = [0u8; 1];
    file.read_exact_at(&mut last, len - 1)?;
    Ok(last[0] == b'\n')
}

/// `(day, seq)` of `PREFIX-YYYY-MM-DD[.N].jsonl`.
fn parse_name<'a>(name: &'a str, prefix: &str) -> Option<(&'a str, u32)> {
    let rest = name.strip_prefix(prefix)?.strip_prefix('-')?;
    let rest = rest.strip_suffix(".jsonl")?;
    let (day, seq) = match rest.split_once('.') {
        Some((d, s)) => (d, s.parse().ok()?),
        None => (rest, 0),
    };
    (day.len() == 10).then_some((day, seq))
}

impl State {
    /// Writes `buf[..upto]` (whole lines) in one call and removes it from
    /// the buffer. On failure the lines are dropped all the same (a failing
    /// disk must not grow memory without bound, nor write refused lines
    /// later): the error comes back with the number of lines dropped.
    fn write_out(&mut self, upto: usize) -> Result<(), (io::Error, u64)> {
        if upto == 0 {
            return Ok(());
        }
        let Some(open) = self.open.as_mut() else {
            self.buf.drain(..upto);
            return Ok(());
        };
        let chunk = self.buf.get(..upto).unwrap_or(&[]);
        let torn = std::mem::take(&mut self.torn);
        let res = (|| {
            if torn {
                (&open.file).write_all(b"\n")?;
                open.len += 1;
            }
            (&open.file).write_all(chunk)
        })();
        let lines = chunk.iter().filter(|&&b| b == b'\n').count() as u64;
        self.buf.drain(..upto);
        match res {
            Ok(()) => {
                open.len += upto as u64;
                Ok(())
            }
            Err(e) => {
                self.torn = true;
                Err((e, lines))
            }
        }
    }
}

impl Sink for JsonlSink {
    fn write(&self, event: &CallEvent) -> Result<(), SinkError> {
        let mut st = self.lock();
        let start = st.buf.len();
        event.write_json_line(&mut st.buf)?;
        let line_len = (st.buf.len() - start) as u64;
        let day = event.timestamp.day();
        let (new_day, full) = match &st.open {
            None => (true, false),
            Some(o) => {
                let pending = o.len + start as u64;
                (
                    day > o.day,
                    pending > 0 && pending + line_len > self.cfg.max_file_bytes,
                )
            }
        };
        if new_day || full {
            // Earlier lines belong to the current file. They were accepted:
            // if they cannot be written, they count as lost, and this
            // event is refused with them (its line dropped) so that the
            // error is not lost.
            let before = st.write_out(start).map_err(|(e, lines)| {
                st.lost += lines;
                e
            });
            let next = match &st.open {
                Some(o) if !new_day => (o.day, o.seq.saturating_add(1)),
                _ => (day, 0),
            };
            if let Some(o) = &st.open {
                let _ = self.sync(o);
            }
            match self.open(next.0, next.1) {
                Ok(o) => st.open = Some(o),
                Err(e) => {
                    st.buf.clear();
                    return Err(e.into());
                }
            }
            if let Err(e) = before {
                st.buf.clear();
                return Err(e.into());
            }
        }
        let due = match self.cfg.flush {
            FlushPolicy::EveryLine => true,
            FlushPolicy::Buffered { max_bytes } => st.buf.len() >= max_bytes,
        };
        if due {
            let n = st.buf.len();
            if let Err((e, lines)) = st.write_out(n) {
                // This event's line is one of them: its error is the `Err`.
                st.lost += lines.saturating_sub(1);
                return Err(e.into());
            }
        }
        Ok(())
    }

    fn flush(&self) -> Result<(), SinkError> {
        let mut st = self.lock();
        let n = st.buf.len();
        if let Err((e, lines)) = st.write_out(n) {
            st.lost += lines;
            return Err(e.into());
        }
        if let Some(o) = &st.open {
            self.sync(o)?;
        }
        Ok(())
    }

    fn take_lost(&self) -> u64 {
        std::mem::take(&mut self.lock().lost)
    }
}

impl Drop for JsonlSink {
    fn drop(&mut self) {
        let _ = Sink::flush(self);
    }
}
