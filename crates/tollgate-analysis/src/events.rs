//! Call-event files for the spend report and the tiers table: streamed one
//! line at a time, a bad line skipped with its file and line number.
//!
//! The event files `tollgate-cost` writes can end in a torn line after a
//! crash, and a file assembled by hand can hold anything. Neither stops a
//! report: each line that is not a call event becomes a [`SkippedLine`]
//! (`events.jsonl:17: skipped: ...`) and the report goes on with the rest.
//! The line parser is `tollgate_cost::for_each_event`, the same
//! one replay uses, so every reader agrees on what an event is.

use crate::input::ReadError;
use std::fmt;
use std::fs::File;
use std::io::BufReader;
use std::path::Path;
use tollgate_cost::CallEvent;
use tollgate_cost::{for_each_event, Skipped};

/// A line of an input file that was left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedLine {
    /// The file, as named on the command line.
    pub file: String,
    /// 1-based line number.
    pub line: usize,
    /// Why (lowercase, no final period).
    pub reason: String,
}

impl fmt::Display for SkippedLine {
    /// `events.jsonl:17: skipped: <reason>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: skipped: {}", self.file, self.line, self.reason)
    }
}

/// `serde_json` locates its errors as `at line 1 column N` of the one line
/// it was given; the line number is the file's here, so keep the column.
pub(crate) fn located_reason(error: &str) -> String {
    match error.rsplit_once(" at line 1 column ") {
        Some((what, column)) if column.bytes().all(|b| b.is_ascii_digit()) => {
            format!("{what} (column {column})")
        }
        _ => error.to_owned(),
    }
}

fn skipped_line(file: &str, s: Skipped) -> SkippedLine {
    let why = located_reason(&s.error);
    let reason = if s.unterminated {
        format!("truncated last line (no newline): {why}")
    } else {
        format!("not a call event: {why}")
    };
    SkippedLine {
        file: file.to_owned(),
        line: s.line,
        reason,
    }
}

/// Streams the events of each file, in order, to `on_event`; returns the
/// lines skipped. Only an unreadable file is an error.
pub fn for_each_in_files<P: AsRef<Path>>(
    paths: &[P],
    mut on_event: impl FnMut(CallEvent),
) -> Result<Vec<SkippedLine>, ReadError> {
    let mut skipped = Vec::new();
    for path in paths {
        let path = path.as_ref();
        let name = path.display().to_string();
        let io = |source| ReadError::Io {
            path: name.clone(),
            source,
        };
        let file = File::open(path).map_err(io)?;
        for_each_event(
            BufReader::with_capacity(1 << 16, file),
            &mut on_event,
            |s| skipped.push(skipped_line(&name, s)),
        )
        .map_err(io)?;
    }
    Ok(skipped)
}

/// Streams the events of one in-memory file (`name` is for messages).
pub fn for_each_in_bytes(
    name: &str,
    bytes: &[u8],
    on_event: impl FnMut(CallEvent),
) -> Result<Vec<SkippedLine>, ReadError> {
    let mut skipped = Vec::new();
    for_each_event(bytes, on_event, |s| skipped.push(skipped_line(name, s))).map_err(|source| {
        ReadError::Io {
            path: name.to_owned(),
            source,
        }
    })?;
    Ok(skipped)
}

/// The value of an event's grouping dimension: the tag of that name when the
/// event has one (`app`, `feature`, `user`, `use_case`, `tenant`), else the
/// recorded attribute (strings as they are, numbers and booleans as JSON
/// writes them); `-` when the event has neither (a redacted or absent
/// attribute). `global` groups everything under `global`.
pub fn group_value(ev: &CallEvent, group_by: &str) -> String {
    if group_by == tollgate_cost::GLOBAL {
        return tollgate_cost::GLOBAL.to_owned();
    }
    let tag = match group_by {
        "app" => ev.tags.app.as_deref(),
        "feature" => ev.tags.feature.as_deref(),
        "user" | "user.id" => ev.tags.user.as_deref(),
        "use_case" => ev.tags.use_case.as_deref(),
        "tenant" => ev.tags.tenant.as_deref(),
        _ => None,
    };
    if let Some(t) = tag {
        return t.to_owned();
    }
    match ev.attributes.get(group_by) {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(v @ (serde_json::Value::Number(_) | serde_json::Value::Bool(_))) => v.to_string(),
        _ => NONE.to_owned(),
    }
}

/// The group or use case of an event that has none.
pub const NONE: &str = "-";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_positions_become_columns() {
        assert_eq!(
            located_reason("EOF while parsing an object at line 1 column 57"),
            "EOF while parsing an object (column 57)"
        );
        assert_eq!(
            located_reason("missing field `model`"),
            "missing field `model`"
        );
    }
}
