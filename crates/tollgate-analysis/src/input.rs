//! Readers for the four traffic formats replay accepts.
//!
//! | format | clock | tokens | identity |
//! |---|---|---|---|
//! | call events (JSONL) | `timestamp` (RFC 3339) | `usage` | fingerprints; model; recorded cost |
//! | Azure 2023 CSV | `TIMESTAMP` (7 fractional digits, no zone, read as UTC) | `ContextTokens`, `GeneratedTokens` | none |
//! | Mooncake JSONL | `timestamp` (ms) | `input_length`, `output_length` | `hash_ids` (512-token blocks) |
//! | ServeGen CSV | window start (s), 10-minute windows | assumed ([`ServeGenTokens`]) | none |
//!
//! The traps each reader handles: Azure lines end with CRLF and the last
//! line has no newline; its timestamps carry 100 ns digits. Mooncake
//! timestamps are milliseconds, not seconds. ServeGen files have no header,
//! and some windows have rate 0 (collection gaps): they are counted and
//! reported, never silently dropped or filled.
//!
//! The two CSV formats are read with `csv` (fields may be `"`-quoted, as
//! RFC 4180 has it) and the Azure timestamps with chrono; every bad row is
//! reported with its file and line.

use crate::trace::{Format, RecordedCall, Trace, TraceRequest};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;
use tollgate_cost::for_each_event;
use xxhash_rust::xxh3::Xxh3;

/// Why a file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The file could not be opened or read.
    #[error("cannot read `{path}`: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A line is not in the format.
    #[error("{path}:{line}: {message}")]
    Bad {
        /// The file.
        path: String,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The format could not be guessed.
    #[error("cannot tell the format of `{0}`: pass `--format events|azure|mooncake|servegen`")]
    Unknown(String),
}

/// Tokens assumed per ServeGen request (the traces have rates only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeGenTokens {
    /// Prompt tokens per request.
    pub input: u64,
    /// Output tokens per request.
    pub output: u64,
}

impl Default for ServeGenTokens {
    /// 1,000 prompt and 250 output tokens per request.
    fn default() -> Self {
        ServeGenTokens {
            input: 1000,
            output: 250,
        }
    }
}

/// Length of a ServeGen window, seconds.
pub const SERVEGEN_WINDOW_S: u64 = 600;

/// Tokens per Mooncake block.
pub const MOONCAKE_BLOCK_TOKENS: u64 = 512;

/// Reads a file in the given format (`None`: guessed from its first line).
pub fn read_path(
    path: &Path,
    format: Option<Format>,
    tokens: ServeGenTokens,
) -> Result<Trace, ReadError> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| ReadError::Io {
        path: name.clone(),
        source,
    })?;
    let format = match format {
        Some(f) => f,
        None => Format::detect(&bytes).ok_or_else(|| ReadError::Unknown(name.clone()))?,
    };
    read_bytes(&name, &bytes, format, tokens)
}

/// Reads a file's bytes in a format; `name` is for messages.
pub fn read_bytes(
    name: &str,
    bytes: &[u8],
    format: Format,
    tokens: ServeGenTokens,
) -> Result<Trace, ReadError> {
    let mut t = match format {
        Format::Azure => read_azure(name, bytes),
        Format::Mooncake => read_mooncake(name, bytes),
        Format::ServeGen => read_servegen(name, bytes, tokens),
        Format::Events => read_events(name, bytes),
    }?;
    t.formats = vec![format];
    Ok(t)
}

fn bad(name: &str, line: usize, message: impl Into<String>) -> ReadError {
    ReadError::Bad {
        path: name.to_owned(),
        line,
        message: message.into(),
    }
}

/// Lines without their terminator (`\n` or `\r\n`); a last line without a
/// newline is kept; blank lines are skipped. Yields 1-based line numbers.
fn lines(bytes: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    bytes
        .split(|&b| b == b'\n')
        .enumerate()
        .map(|(i, l)| (i + 1, l.strip_suffix(b"\r").unwrap_or(l)))
        .filter(|(_, l)| !l.iter().all(u8::is_ascii_whitespace))
}

/// The CSV reader of the trace formats: no header row (the Azure header is
/// checked as the first row), rows of any length (the readers report a
/// wrong count with the row's line), `"` quoting, any line terminator.
fn csv_reader(bytes: &[u8]) -> csv::Reader<&[u8]> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes)
}

/// Fields in the first CSV row of `line` (0 when it has none): what
/// [`Format::detect`] counts, read as the ServeGen reader reads it.
pub(crate) fn csv_fields(line: &[u8]) -> usize {
    let mut rec = csv::ByteRecord::new();
    match csv_reader(line).read_byte_record(&mut rec) {
        Ok(true) => rec.len(),
        _ => 0,
    }
}

/// 1-based line numbers of byte offsets, counted forward: csv's own line
/// count falls behind on `\r\n` (it ends a row at the `\r` and counts the
/// `\n` into the next row), so rows are located by their byte offset.
struct Lines<'a> {
    bytes: &'a [u8],
    /// Offset counted up to, and the line it is on.
    at: usize,
    line: usize,
}

impl Lines<'_> {
    /// The line of the row whose reading started at byte `pos` (before the
    /// terminators left over from the rows and blank lines before it).
    fn of(&mut self, pos: Option<&csv::Position>) -> usize {
        let Some(pos) = pos else {
            return self.line;
        };
        let mut start =
            usize::try_from(pos.byte()).map_or(self.bytes.len(), |b| b.min(self.bytes.len()));
        while let Some(b'\r' | b'\n') = self.bytes.get(start) {
            start += 1;
        }
        if let Some(skipped) = self.bytes.get(self.at..start) {
            self.line += skipped.iter().filter(|&&b| b == b'\n').count();
            self.at = start;
        }
        self.line
    }
}

/// Calls `row` with each CSV row of a trace file and its 1-based line (the
/// line it starts on); a byte-order mark is skipped, and so are rows that
/// are one field of whitespace (blank lines).
///
/// Rows are read as records rather than deserialized with serde: each
/// reader's messages name the field and the text found in it, which csv's
/// deserializer errors do not.
fn for_each_row(
    name: &str,
    bytes: &[u8],
    mut row: impl FnMut(usize, &csv::StringRecord) -> Result<(), ReadError>,
) -> Result<(), ReadError> {
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    let mut rdr = csv_reader(bytes);
    let mut lines = Lines {
        bytes,
        at: 0,
        line: 1,
    };
    let mut raw = csv::ByteRecord::new();
    loop {
        // Reading from memory cannot fail with I/O and, the reader being
        // flexible, not on row lengths either; kept as a located error.
        let more = rdr
            .read_byte_record(&mut raw)
            .map_err(|e| bad(name, lines.of(e.position()), format!("not CSV: {e}")))?;
        if !more {
            return Ok(());
        }
        let line = lines.of(raw.position());
        if raw.len() == 1 && raw[0].iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let rec = csv::StringRecord::from_byte_record(std::mem::take(&mut raw))
            .map_err(|_| bad(name, line, "the line is not UTF-8"))?;
        row(line, &rec)?;
        raw = rec.into_byte_record();
    }
}

fn int(name: &str, n: usize, field: &str, s: &str) -> Result<u64, ReadError> {
    s.trim().parse::<u64>().map_err(|_| {
        bad(
            name,
            n,
            format!("`{field}` must be a non-negative integer, found `{s}`"),
        )
    })
}

/// `YYYY-MM-DD HH:MM:SS[.f{1,9}]` (no zone, read as UTC, from 1970 on) to
/// nanoseconds since the Unix epoch; a leap second `:60` is the next
/// minute's first second, a `.` without digits no fraction.
///
/// chrono reads the fields. Its numeric fields would also take a sign or
/// leading whitespace, its space any run of whitespace (even none), and
/// its fraction drops digits past the ninth: the trace's fields are ASCII
/// digits, date and time one space apart, so anything else is refused
/// first. A field padded beyond its width (`2023-011-16`, a 5-digit year)
/// is refused too.
pub fn parse_azure_timestamp(s: &str) -> Option<i128> {
    let s = s.trim();
    let (date, time) = s.split_once(' ')?;
    let frac = time.split_once('.').map_or("", |(_, f)| f);
    if !date.bytes().all(|b| b.is_ascii_digit() || b == b'-')
        || !time
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b':' || b == b'.')
        || frac.len() > 9
    {
        return None;
    }
    let s = s.strip_suffix('.').unwrap_or(s);
    let t = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f")
        .ok()?
        .and_utc();
    // A leap second's sub-second part counts from 1 s up.
    let ns = i128::from(t.timestamp()) * 1_000_000_000 + i128::from(t.timestamp_subsec_nanos());
    (t.timestamp() >= 0).then_some(ns)
}

/// The Azure LLM inference trace: `TIMESTAMP,ContextTokens,GeneratedTokens`.
pub fn read_azure(name: &str, bytes: &[u8]) -> Result<Trace, ReadError> {
    const HEADER: [&str; 3] = ["TIMESTAMP", "ContextTokens", "GeneratedTokens"];
    let mut t = Trace::default();
    let mut header_read = false;
    for_each_row(name, bytes, |n, rec| {
        if !header_read {
            header_read = true;
            return if rec.iter().eq(HEADER) {
                Ok(())
            } else {
                Err(bad(
                    name,
                    n,
                    "expected the header `TIMESTAMP,ContextTokens,GeneratedTokens`",
                ))
            };
        }
        let (Some(ts), Some(ctx), Some(gen), 3) = (rec.get(0), rec.get(1), rec.get(2), rec.len())
        else {
            return Err(bad(name, n, "expected 3 fields"));
        };
        let ns = parse_azure_timestamp(ts).ok_or_else(|| {
            bad(
                name,
                n,
                format!("`{ts}` is not a `YYYY-MM-DD HH:MM:SS.fffffff` timestamp"),
            )
        })?;
        let at_ms = u64::try_from(ns.div_euclid(1_000_000))
            .map_err(|_| bad(name, n, "timestamp before 1970"))?;
        t.requests.push(TraceRequest {
            at_ms,
            count: 1,
            input_tokens: int(name, n, "ContextTokens", ctx)?,
            output_tokens: int(name, n, "GeneratedTokens", gen)?,
            content: None,
            blocks_start: 0,
            blocks_len: 0,
            call: None,
        });
        Ok(())
    })?;
    t.requests.sort_by_key(|r| r.at_ms);
    Ok(t)
}

#[derive(Deserialize)]
struct MooncakeRow {
    timestamp: u64,
    input_length: u64,
    output_length: u64,
    #[serde(default)]
    hash_ids: Vec<u64>,
}

/// The Mooncake trace: `{"timestamp": ms, "input_length", "output_length", "hash_ids"}`.
/// A request's content identity is its length and whole list of block
/// hashes (equal lists = equal prompts, up to the partial last block).
pub fn read_mooncake(name: &str, bytes: &[u8]) -> Result<Trace, ReadError> {
    let mut t = Trace {
        block_tokens: MOONCAKE_BLOCK_TOKENS,
        ..Trace::default()
    };
    for (n, l) in lines(bytes) {
        let row: MooncakeRow = serde_json::from_slice(l)
            .map_err(|e| bad(name, n, format!("not a Mooncake row: {e}")))?;
        let mut h = Xxh3::new();
        h.update(&row.input_length.to_le_bytes());
        for b in &row.hash_ids {
            h.update(&b.to_le_bytes());
        }
        let start = t.blocks.len() as u32;
        t.blocks.extend_from_slice(&row.hash_ids);
        t.requests.push(TraceRequest {
            at_ms: row.timestamp,
            count: 1,
            input_tokens: row.input_length,
            output_tokens: row.output_length,
            content: Some(h.digest128()),
            blocks_start: start,
            blocks_len: row.hash_ids.len() as u32,
            call: None,
        });
    }
    t.requests.sort_by_key(|r| r.at_ms);
    Ok(t)
}

/// Zero-rate windows of ServeGen traces, summed over every file read: the
/// note that reports them.
pub fn servegen_gap_note(windows: &BTreeMap<u64, f64>) -> Option<String> {
    let gaps: Vec<u64> = windows
        .iter()
        .filter(|(_, &r)| r == 0.0)
        .map(|(&t, _)| t)
        .collect();
    if gaps.is_empty() {
        return None;
    }
    let mut runs: Vec<(u64, u64)> = Vec::new();
    for g in gaps.iter().copied() {
        match runs.last_mut() {
            Some((_, end)) if *end == g => *end = g + SERVEGEN_WINDOW_S,
            _ => runs.push((g, g + SERVEGEN_WINDOW_S)),
        }
    }
    let hm = |s: u64| format!("{:02}:{:02}", (s % 86_400) / 3600, (s % 3600) / 60);
    let shown: Vec<String> = runs
        .iter()
        .take(6)
        .map(|&(a, b)| format!("day {} {}-{}", a / 86_400, hm(a), hm(b)))
        .collect();
    Some(format!(
        "servegen: {} zero-rate windows ({:.1} h) in {} runs, counted as no traffic (not filled): {}{}",
        gaps.len(),
        (gaps.len() as u64 * SERVEGEN_WINDOW_S) as f64 / 3600.0,
        runs.len(),
        shown.join(", "),
        if runs.len() > 6 { ", ..." } else { "" }
    ))
}

/// The highest ServeGen rate taken, requests/s: far above any service's,
/// low enough that no sum of window counts can overflow.
const MAX_SERVEGEN_RATE: f64 = 1e9;

/// One ServeGen rate file: `timestamp,rate,cv,pattern,param1,param2`, no
/// header. Each window becomes one request weighted `round(rate x 600)`
/// with the assumed token counts; the windows' rates are kept in
/// [`Trace::notes`] only through the gap note the caller builds with
/// [`servegen_windows`].
pub fn read_servegen(name: &str, bytes: &[u8], tokens: ServeGenTokens) -> Result<Trace, ReadError> {
    let mut t = Trace::default();
    let mut zero = 0usize;
    for_each_row(name, bytes, |n, rec| {
        let (Some(ts), Some(rate), 6) = (rec.get(0), rec.get(1), rec.len()) else {
            return Err(bad(
                name,
                n,
                "expected 6 fields `timestamp,rate,cv,pattern,param1,param2`",
            ));
        };
        let ts = int(name, n, "timestamp", ts)?;
        let rate: f64 = rate
            .trim()
            .parse()
            .ok()
            .filter(|r: &f64| r.is_finite() && (0.0..=MAX_SERVEGEN_RATE).contains(r))
            .ok_or_else(|| {
                bad(
                    name,
                    n,
                    format!("`rate` must be a number of requests/s from 0 to 1e9, found `{rate}`"),
                )
            })?;
        if rate == 0.0 {
            zero += 1;
        }
        let count = (rate * SERVEGEN_WINDOW_S as f64).round() as u64;
        t.requests.push(TraceRequest {
            at_ms: ts.saturating_mul(1000),
            count,
            input_tokens: tokens.input,
            output_tokens: tokens.output,
            content: None,
            blocks_start: 0,
            blocks_len: 0,
            call: None,
        });
        Ok(())
    })?;
    t.requests.sort_by_key(|r| r.at_ms);
    if zero > 0 {
        t.notes.push(format!("{name}: {zero} windows with rate 0"));
    }
    Ok(t)
}

/// Window start (s) -> request rate summed over the given ServeGen traces.
pub fn servegen_windows<'a>(traces: impl IntoIterator<Item = &'a Trace>) -> BTreeMap<u64, f64> {
    let mut w = BTreeMap::new();
    for t in traces {
        for r in &t.requests {
            *w.entry(r.at_ms / 1000).or_insert(0.0) += r.count as f64 / SERVEGEN_WINDOW_S as f64;
        }
    }
    w
}

/// tollgate call events (JSON Lines); torn or bad lines are skipped and
/// counted in a note. Content identity: the fingerprints, when the
/// messages' one is present.
pub fn read_events(name: &str, bytes: &[u8]) -> Result<Trace, ReadError> {
    let mut t = Trace::default();
    let mut skipped = Vec::new();
    for_each_event(
        bytes,
        |ev| {
            let content = ev.fingerprint.messages.map(|m| {
                let mut h = Xxh3::new();
                h.update(&ev.fingerprint.system.map_or(0, |s| s.0).to_le_bytes());
                h.update(&m.0.to_le_bytes());
                h.digest128()
            });
            let call = t.calls.len() as u32;
            t.requests.push(TraceRequest {
                at_ms: u64::try_from(ev.timestamp.unix_ms()).unwrap_or(0),
                count: 1,
                input_tokens: ev.usage.total_input_tokens(),
                output_tokens: ev.usage.output_tokens,
                content,
                blocks_start: 0,
                blocks_len: 0,
                call: Some(call),
            });
            t.calls.push(RecordedCall {
                attributes: ev.attributes.to_map(),
                model: ev.model.into(),
                cost_nanos: ev.cost_nanos,
                usage: ev.usage,
                fingerprint: ev.fingerprint,
                attempts: ev.attempts,
                prompt_cache_rule: ev.rules.prompt_cache.is_some(),
                region: ev.region.as_deref().map(str::to_owned),
            });
        },
        |s| skipped.push(s.line),
    )
    .map_err(|source| ReadError::Io {
        path: name.to_owned(),
        source,
    })?;
    if !skipped.is_empty() {
        t.notes.push(format!(
            "{name}: {} lines were not call events and were skipped (first: line {})",
            skipped.len(),
            skipped.first().copied().unwrap_or(0)
        ));
    }
    t.requests.sort_by_key(|r| r.at_ms);
    Ok(t)
}

/// Call events as recorded (JSON Lines), for the analyses that need more
/// than replay keeps (tags, mode, attempts, cache outcome). Torn or bad
/// lines are skipped; the second value counts them.
pub fn read_call_events(path: &Path) -> Result<(Vec<tollgate_cost::CallEvent>, usize), ReadError> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| ReadError::Io {
        path: name.clone(),
        source,
    })?;
    let mut events = Vec::new();
    let mut skipped = 0usize;
    for_each_event(bytes.as_slice(), |ev| events.push(ev), |_| skipped += 1)
        .map_err(|source| ReadError::Io { path: name, source })?;
    Ok((events, skipped))
}
