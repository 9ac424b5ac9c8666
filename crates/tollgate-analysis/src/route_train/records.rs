//! Training records: the type, the documented JSON Lines format and its
//! reader.

use super::*;

/// One training record: a prompt and both models' quality on it.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainRecord {
    /// Stable id (the split and the folds hash it).
    pub id: String,
    /// The application feature (RouteLLM: the dataset).
    pub feature: String,
    /// The prompt text.
    pub prompt: String,
    /// Strong model's quality, 0 to 1.
    pub strong_score: f64,
    /// Weak model's quality, 0 to 1.
    pub weak_score: f64,
    /// Prompt tokens, for cost.
    pub input_tokens: u64,
    /// Strong model's output tokens.
    pub strong_output_tokens: u64,
    /// Weak model's output tokens.
    pub weak_output_tokens: u64,
}

impl TrainRecord {
    /// From a RouteLLM prompt (feature = dataset).
    pub fn from_eval(e: &EvalPrompt) -> TrainRecord {
        TrainRecord {
            id: e.id.clone(),
            feature: e.dataset.clone(),
            prompt: e.text.clone(),
            strong_score: e.strong_quality as f64 / 1000.0,
            weak_score: e.weak_quality as f64 / 1000.0,
            input_tokens: crate::classify::estimate_tokens(e.text.chars().count() as u64)
                + e.extra_input_tokens,
            strong_output_tokens: e.strong_output_tokens,
            weak_output_tokens: e.weak_output_tokens,
        }
    }
}

/// Why records could not be read or a router trained.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// The file could not be read.
    #[error("cannot read `{path}`: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A line is not a record.
    #[error("{path}:{line}: {message}")]
    Bad {
        /// The file.
        path: String,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// Nothing to train on, or an option out of range.
    #[error("{0}")]
    Invalid(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct JsonRecord {
    #[serde(default)]
    id: Option<String>,
    prompt: String,
    feature: String,
    strong_score: f64,
    weak_score: f64,
    strong_output_tokens: u64,
    weak_output_tokens: u64,
    #[serde(default)]
    input_tokens: Option<u64>,
}

/// Reads the JSON Lines record format (see `docs/routing.md`): one object
/// per line with `prompt`, `feature`, `strong_score`, `weak_score` (0 to
/// 1), `strong_output_tokens`, `weak_output_tokens`, and optionally `id`
/// (default: `<file name>:<line>`) and `input_tokens` (default: estimated
/// from the prompt). Blank lines are skipped; any other line that is not
/// such a record is an error naming its line.
pub fn read_jsonl(path: &Path) -> Result<Vec<TrainRecord>, TrainError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| TrainError::Io {
        path: shown.clone(),
        source,
    })?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_start_matches('\u{feff}');
        if line.trim().is_empty() {
            continue;
        }
        let bad = |message: String| TrainError::Bad {
            path: shown.clone(),
            line: i + 1,
            message,
        };
        let r: JsonRecord =
            serde_json::from_str(line).map_err(|e| bad(format!("not a training record: {e}")))?;
        for (k, v) in [
            ("strong_score", r.strong_score),
            ("weak_score", r.weak_score),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(bad(format!("`{k}` {v} is outside 0 to 1")));
            }
        }
        if r.feature.is_empty() {
            return Err(bad("`feature` is empty".into()));
        }
        out.push(TrainRecord {
            id: r.id.unwrap_or_else(|| format!("{name}:{}", i + 1)),
            input_tokens: r.input_tokens.unwrap_or_else(|| {
                crate::classify::estimate_tokens(r.prompt.chars().count() as u64)
            }),
            feature: r.feature,
            prompt: r.prompt,
            strong_score: r.strong_score,
            weak_score: r.weak_score,
            strong_output_tokens: r.strong_output_tokens,
            weak_output_tokens: r.weak_output_tokens,
        });
    }
    Ok(out)
}
