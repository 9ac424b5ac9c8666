//! Diagnostics: located errors and warnings with a help line.
//!
//! A diagnostic renders as
//!
//! ```text
//! rules/app.toml:12:9: error[unknown-attribute]: unknown attribute `featur`
//!    |
//! 12 | when = 'featur == "kb"'
//!    |         ^^^^^^
//!    = help: did you mean `feature`?
//! ```
//!
//! Messages are lowercase without a final period and quote user input in
//! backticks. Codes are stable kebab-case names listed in the language
//! reference.

use crate::source::{SourceMap, Span};
use serde::Serialize;
use std::fmt::Write as _;

/// Longest source line shown whole in a snippet; longer ones are windowed.
const WINDOW: usize = 120;

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Something that will not behave as written; `check --deny-warnings` fails on it.
    Warning,
    /// The policy cannot be loaded.
    Error,
}

/// One located problem in a policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// Stable kebab-case code, e.g. `unknown-attribute`.
    pub code: &'static str,
    /// What is wrong, lowercase, no final period.
    pub message: String,
    /// Where; `None` for problems with no position (an unreadable path).
    pub span: Option<Span>,
    /// What to do about it.
    pub help: Option<String>,
    /// The path to name when there is no span.
    pub path: Option<String>,
}

impl Diagnostic {
    /// An error at `span`.
    pub fn error(code: &'static str, span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            code,
            message: message.into(),
            span: Some(span),
            help: None,
            path: None,
        }
    }

    /// A warning at `span`.
    pub fn warning(code: &'static str, span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, span, message)
        }
    }

    /// An error about a whole path (unreadable file, empty directory).
    pub fn path_error(
        code: &'static str,
        path: impl Into<String>,
        message: impl Into<String>,
    ) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            code,
            message: message.into(),
            span: None,
            help: None,
            path: Some(path.into()),
        }
    }

    /// Attach a help line.
    pub fn with_help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    /// Attach an optional help line.
    pub fn with_help_opt(mut self, help: Option<String>) -> Diagnostic {
        if help.is_some() {
            self.help = help;
        }
        self
    }

    /// Is this an error (as opposed to a warning)?
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// Render for a terminal: location, code, message, snippet with caret, help.
    pub fn render(&self, sources: &SourceMap) -> String {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let mut out = String::new();
        let file = self.span.and_then(|s| sources.get(s.file).map(|f| (s, f)));
        match file {
            Some((span, f)) => {
                let (line, col) = f.line_col(span.start as usize);
                let _ = writeln!(
                    out,
                    "{}:{}:{}: {}[{}]: {}",
                    f.path, line, col, sev, self.code, self.message
                );
                let text = f.line_text(line);
                let gutter = line.to_string().len();
                let pad = " ".repeat(gutter);
                // Caret under the span, clipped to the first line.
                let (end_line, end_col) = f.line_col(span.end as usize);
                let width = if end_line == line && end_col > col {
                    end_col - col
                } else if end_line > line {
                    (text.chars().count() + 1).saturating_sub(col).max(1)
                } else {
                    1
                };
                // Long lines are shown as a window around the caret.
                let chars: Vec<char> = text.chars().collect();
                let (first, shown, width) = if chars.len() > WINDOW {
                    let first = (col - 1).saturating_sub(WINDOW / 3);
                    let last = (first + WINDOW).min(chars.len());
                    let mut shown: String = chars.get(first..last).unwrap_or(&[]).iter().collect();
                    if first > 0 {
                        shown.insert(0, '…');
                    }
                    if last < chars.len() {
                        shown.push('…');
                    }
                    (first, shown, width.min(last.saturating_sub(col - 1)).max(1))
                } else {
                    (0, text.to_string(), width)
                };
                let lead: String = (if first > 0 { " " } else { "" }).to_string()
                    + &chars
                        .get(first..col - 1)
                        .unwrap_or(&[])
                        .iter()
                        .map(|c| if *c == '\t' { '\t' } else { ' ' })
                        .collect::<String>();
                let _ = writeln!(out, "{pad} |");
                let _ = writeln!(out, "{line} | {shown}");
                let _ = writeln!(out, "{pad} | {lead}{}", "^".repeat(width));
                if let Some(h) = &self.help {
                    let _ = writeln!(out, "{pad} = help: {h}");
                }
            }
            None => {
                let path = self.path.as_deref().unwrap_or("<policy>");
                let _ = writeln!(out, "{path}: {sev}[{}]: {}", self.code, self.message);
                if let Some(h) = &self.help {
                    let _ = writeln!(out, "  = help: {h}");
                }
            }
        }
        out
    }

    /// A JSON object for CI annotations.
    pub fn to_json(&self, sources: &SourceMap) -> serde_json::Value {
        let (path, line, column, end_line, end_column) =
            match self.span.and_then(|s| sources.get(s.file).map(|f| (s, f))) {
                Some((s, f)) => {
                    let (l, c) = f.line_col(s.start as usize);
                    let (el, ec) = f.line_col(s.end as usize);
                    (f.path.clone(), l, c, el, ec)
                }
                None => (
                    self.path.clone().unwrap_or_else(|| "<policy>".into()),
                    0,
                    0,
                    0,
                    0,
                ),
            };
        serde_json::json!({
            "path": path,
            "line": line,
            "column": column,
            "end_line": end_line,
            "end_column": end_column,
            "severity": self.severity,
            "code": self.code,
            "message": self.message,
            "help": self.help,
        })
    }
}

/// A policy that failed to load, with every diagnostic found.
#[derive(Debug, Clone)]
pub struct LoadError {
    /// The files read (for rendering).
    pub sources: SourceMap,
    /// All diagnostics, errors and warnings, in file order.
    pub diagnostics: Vec<Diagnostic>,
}

impl LoadError {
    /// Only the errors.
    pub fn errors(&self) -> impl Iterator<Item = &Diagnostic> {
        self.diagnostics.iter().filter(|d| d.is_error())
    }

    /// Every diagnostic rendered, one after another.
    pub fn render(&self) -> String {
        self.diagnostics
            .iter()
            .map(|d| d.render(&self.sources))
            .collect()
    }
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.errors().count();
        match self.errors().next() {
            Some(first) => {
                let loc = first
                    .span
                    .map(|s| self.sources.location(s))
                    .or_else(|| first.path.clone())
                    .unwrap_or_default();
                write!(
                    f,
                    "{loc}: {} ({} error{} in all)",
                    first.message,
                    n,
                    if n == 1 { "" } else { "s" }
                )
            }
            None => write!(f, "policy failed to load"),
        }
    }
}

impl std::error::Error for LoadError {}

/// "did you mean `x`?" for the closest candidate within a small edit distance.
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    let mut best: Option<(f64, &str)> = None;
    for c in candidates {
        let score = strsim::jaro_winkler(name, c);
        let close = strsim::damerau_levenshtein(name, c) <= (name.len().max(3) / 3).max(2);
        if (score >= 0.8 || close) && best.is_none_or(|(s, _)| score > s) {
            best = Some((score, c));
        }
    }
    best.map(|(_, c)| format!("did you mean `{c}`?"))
}
