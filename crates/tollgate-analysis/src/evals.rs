//! Readers for the RouteLLM evaluation data: per-prompt quality of a strong
//! and a weak model.
//!
//! | file | dataset | quality |
//! |---|---|---|
//! | `mmlu_<subject>.csv` (`prompt,<weak>,<strong>`) | `mmlu`, subject from the file name | `True`/`False` per model |
//! | `gsm8k*.csv` (also both responses) | `gsm8k` | `True`/`False` per model |
//! | `judgements.jsonl` + `question.jsonl` beside it | `mt_bench`, subject = category, one prompt per question and turn | the judge's score, 1 to 10 |
//! | `contaminated_prompts.jsonl` | - | its `eval_prompt`s are left out, as upstream does |
//!
//! Quality is kept in per-mille so sums stay exact: a correct answer is
//! 1,000, a wrong one 0, an MT-Bench score `s` is `100 s` (scores come in
//! halves). Token counts are not in the data: prompt tokens are estimated
//! from the text ([`crate::classify::estimate_tokens`]); output tokens are
//! [`MMLU_OUTPUT_TOKENS`], each model's own GSM8K response estimated the
//! same way, and [`MT_BENCH_OUTPUT_TOKENS`] per turn (a second turn's
//! prompt also carries the first answer, counted at that constant).
//!
//! Prompt ids (`mmlu/<subject>/<row>`, `gsm8k/<row>`, `mt_bench/<id>/<turn>`,
//! rows counted from 0 after the header) are stable, so a split by their
//! hash is fixed.

use crate::classify::estimate_tokens;
use serde::Deserialize;
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

/// Column of the strong model (GPT-4 Turbo) in the CSV files.
pub const STRONG_COLUMN: &str = "gpt-4-1106-preview";
/// Column of the weak model (Mixtral 8x7B Instruct) in the CSV files.
pub const WEAK_COLUMN: &str = "mistralai/Mixtral-8x7B-Instruct-v0.1";
/// Output tokens assumed per MMLU answer (a letter and a few words).
pub const MMLU_OUTPUT_TOKENS: u64 = 5;
/// Output tokens assumed per MT-Bench turn.
pub const MT_BENCH_OUTPUT_TOKENS: u64 = 400;

/// One evaluated prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvalPrompt {
    /// Stable id (see the module docs).
    pub id: String,
    /// `mmlu`, `gsm8k` or `mt_bench`.
    pub dataset: String,
    /// The data's label (MMLU subject, MT-Bench category), or empty.
    pub subject: String,
    /// The prompt text the classifier sees (an MT-Bench second turn: both
    /// user turns).
    pub text: String,
    /// Prompt tokens not in `text` (an MT-Bench second turn: the first answer).
    pub extra_input_tokens: u64,
    /// Strong model's quality, per mille.
    pub strong_quality: u64,
    /// Weak model's quality, per mille.
    pub weak_quality: u64,
    /// Strong model's output tokens.
    pub strong_output_tokens: u64,
    /// Weak model's output tokens.
    pub weak_output_tokens: u64,
}

/// Prompts read, and what was left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EvalSet {
    /// The prompts, in file order (files in path order).
    pub prompts: Vec<EvalPrompt>,
    /// Prompts left out as contaminated.
    pub contaminated: usize,
    /// Notes on what was read.
    pub notes: Vec<String>,
}

/// Why eval data could not be read.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// The file could not be read.
    #[error("cannot read `{path}`: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A record is not in the format.
    #[error("{path}:{line}: {message}")]
    Bad {
        /// The file.
        path: String,
        /// 1-based line (of the record's start).
        line: u64,
        /// What is wrong.
        message: String,
    },
    /// A file of no known kind.
    #[error("`{0}` is not RouteLLM eval data (expected `mmlu_*.csv`, `gsm8k*.csv`, `judgements.jsonl` or `contaminated_prompts.jsonl`)")]
    Unknown(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> EvalError + '_ {
    move |source| EvalError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn bad(path: &Path, line: u64, message: impl Into<String>) -> EvalError {
    EvalError::Bad {
        path: path.display().to_string(),
        line,
        message: message.into(),
    }
}

/// Reads files and directories (walked recursively, in name order; files
/// of other kinds in a directory are skipped).
pub fn read_evals(paths: &[PathBuf]) -> Result<EvalSet, EvalError> {
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            walk(p, &mut files)?;
        } else {
            if kind(p).is_none() {
                return Err(EvalError::Unknown(p.display().to_string()));
            }
            files.push(p.clone());
        }
    }
    let mut contaminated: HashSet<String> = HashSet::new();
    for f in files.iter().filter(|f| kind(f) == Some(Kind::Contaminated)) {
        let text = std::fs::read_to_string(f).map_err(io(f))?;
        for (n, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            #[derive(Deserialize)]
            struct Row {
                eval_prompt: String,
            }
            let r: Row = serde_json::from_str(line).map_err(|e| {
                bad(
                    f,
                    n as u64 + 1,
                    format!("not a contaminated-prompt row: {e}"),
                )
            })?;
            contaminated.insert(r.eval_prompt.trim().to_owned());
        }
    }
    let mut set = EvalSet::default();
    for f in &files {
        let before = set.prompts.len();
        match kind(f) {
            Some(Kind::Csv) => read_csv(f, &mut set.prompts)?,
            Some(Kind::Judgements) => read_mt_bench(f, &mut set.prompts)?,
            _ => continue,
        }
        let mut kept = Vec::with_capacity(set.prompts.len());
        for (i, p) in set.prompts.drain(..).enumerate() {
            // An MT-Bench question is listed by its first turn.
            let first_turn = p.text.split("\n\n").next().unwrap_or_default().trim();
            let listed = contaminated.contains(p.text.trim())
                || (p.dataset == "mt_bench" && contaminated.contains(first_turn));
            if i >= before && listed {
                set.contaminated += 1;
            } else {
                kept.push(p);
            }
        }
        set.prompts = kept;
    }
    if set.contaminated > 0 {
        set.notes.push(format!(
            "{} prompt{} listed in contaminated_prompts.jsonl left out (as upstream)",
            set.contaminated,
            if set.contaminated == 1 { "" } else { "s" }
        ));
    }
    Ok(set)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Csv,
    Judgements,
    Questions,
    Contaminated,
}

fn kind(p: &Path) -> Option<Kind> {
    let name = p.file_name()?.to_str()?;
    if name == "contaminated_prompts.jsonl" {
        Some(Kind::Contaminated)
    } else if name == "judgements.jsonl" {
        Some(Kind::Judgements)
    } else if name == "question.jsonl" {
        Some(Kind::Questions)
    } else if name.ends_with(".csv") && (name.starts_with("mmlu_") || name.starts_with("gsm8k")) {
        Some(Kind::Csv)
    } else {
        None
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), EvalError> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io(dir))?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(io(dir))?;
    entries.sort();
    for e in entries {
        if e.is_dir() {
            walk(&e, out)?;
        } else if kind(&e).is_some_and(|k| k != Kind::Questions) {
            out.push(e);
        }
    }
    Ok(())
}

fn truth(path: &Path, line: u64, s: &str) -> Result<u64, EvalError> {
    match s.trim() {
        "True" => Ok(1000),
        "False" => Ok(0),
        other => Err(bad(
            path,
            line,
            format!("expected `True` or `False`, found `{other}`"),
        )),
    }
}

fn read_csv(path: &Path, out: &mut Vec<EvalPrompt>) -> Result<(), EvalError> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let (dataset, subject) = match name.strip_prefix("mmlu_") {
        Some(rest) => ("mmlu", rest.trim_end_matches(".csv")),
        None => ("gsm8k", ""),
    };
    let bytes = std::fs::read(path).map_err(io(path))?;
    let mut rdr = csv::ReaderBuilder::new().from_reader(bytes.as_slice());
    let header = rdr
        .headers()
        .map_err(|e| bad(path, 1, format!("not a CSV header: {e}")))?
        .clone();
    let col = |c: &str| {
        header
            .iter()
            .position(|h| h == c)
            .ok_or_else(|| bad(path, 1, format!("no `{c}` column")))
    };
    let (pc, sc, wc) = (col("prompt")?, col(STRONG_COLUMN)?, col(WEAK_COLUMN)?);
    let responses = (
        header
            .iter()
            .position(|h| h == format!("{STRONG_COLUMN}_response")),
        header
            .iter()
            .position(|h| h == format!("{WEAK_COLUMN}_response")),
    );
    for (row, rec) in rdr.records().enumerate() {
        let rec = rec.map_err(|e| {
            let line = e.position().map_or(0, csv::Position::line);
            bad(path, line, format!("bad CSV record: {e}"))
        })?;
        let line = rec.position().map_or(0, csv::Position::line);
        let field = |i: usize| {
            rec.get(i)
                .ok_or_else(|| bad(path, line, format!("expected at least {} fields", i + 1)))
        };
        let text = field(pc)?.to_owned();
        let (so, wo) = match responses {
            (Some(s), Some(w)) => (
                estimate_tokens(field(s)?.chars().count() as u64),
                estimate_tokens(field(w)?.chars().count() as u64),
            ),
            _ => (MMLU_OUTPUT_TOKENS, MMLU_OUTPUT_TOKENS),
        };
        out.push(EvalPrompt {
            id: if subject.is_empty() {
                format!("{dataset}/{row}")
            } else {
                format!("{dataset}/{subject}/{row}")
            },
            dataset: dataset.to_owned(),
            subject: subject.to_owned(),
            text,
            extra_input_tokens: 0,
            strong_quality: truth(path, line, field(sc)?)?,
            weak_quality: truth(path, line, field(wc)?)?,
            strong_output_tokens: so,
            weak_output_tokens: wo,
        });
    }
    Ok(())
}

#[derive(Deserialize)]
struct Question {
    question_id: u64,
    category: String,
    turns: Vec<String>,
}

#[derive(Deserialize)]
struct Judgement {
    question_id: u64,
    model: String,
    score: f64,
    turn: u64,
}

fn read_mt_bench(path: &Path, out: &mut Vec<EvalPrompt>) -> Result<(), EvalError> {
    let qpath = path.with_file_name("question.jsonl");
    let qtext = std::fs::read_to_string(&qpath).map_err(io(&qpath))?;
    let mut questions: BTreeMap<u64, Question> = BTreeMap::new();
    for (n, line) in qtext.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let q: Question = serde_json::from_str(line).map_err(|e| {
            bad(
                &qpath,
                n as u64 + 1,
                format!("not an MT-Bench question: {e}"),
            )
        })?;
        questions.insert(q.question_id, q);
    }
    let jtext = std::fs::read_to_string(path).map_err(io(path))?;
    // (question, turn) -> (strong score, weak score), per mille
    let mut scores: BTreeMap<(u64, u64), (Option<u64>, Option<u64>)> = BTreeMap::new();
    for (n, line) in jtext.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let j: Judgement = serde_json::from_str(line).map_err(|e| {
            bad(
                path,
                n as u64 + 1,
                format!("not an MT-Bench judgement: {e}"),
            )
        })?;
        if !(1.0..=10.0).contains(&j.score) {
            return Err(bad(
                path,
                n as u64 + 1,
                format!("score {} is outside 1 to 10", j.score),
            ));
        }
        let q = (j.score * 100.0).round() as u64;
        let e = scores.entry((j.question_id, j.turn)).or_default();
        if j.model == STRONG_COLUMN {
            e.0 = Some(q);
        } else if j.model == WEAK_COLUMN {
            e.1 = Some(q);
        }
    }
    for ((qid, turn), (s, w)) in scores {
        let (Some(s), Some(w)) = (s, w) else {
            continue;
        };
        let Some(q) = questions.get(&qid) else {
            return Err(bad(
                path,
                0,
                format!("question {qid} is not in `{}`", qpath.display()),
            ));
        };
        let upto = usize::try_from(turn)
            .unwrap_or(usize::MAX)
            .min(q.turns.len());
        let text = q.turns.get(..upto).unwrap_or_default().join("\n\n");
        out.push(EvalPrompt {
            id: format!("mt_bench/{qid}/{turn}"),
            dataset: "mt_bench".to_owned(),
            subject: q.category.clone(),
            text,
            extra_input_tokens: MT_BENCH_OUTPUT_TOKENS * turn.saturating_sub(1),
            strong_quality: s,
            weak_quality: w,
            strong_output_tokens: MT_BENCH_OUTPUT_TOKENS,
            weak_output_tokens: MT_BENCH_OUTPUT_TOKENS,
        });
    }
    Ok(())
}
