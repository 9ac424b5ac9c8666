//! Training records from the application's own traffic: call events joined
//! to eval scores, the second source of `tollgate route-train`.
//!
//! An application that evaluates its models sends each eval prompt to both
//! the strong and the weak model through the gate (two policies, or one
//! with a rule on an `eval_model` attribute), records the call events with
//! `record_prompt_text` on, and scores each answer in the eval record
//! format of the tiers table (`{"request_id": "...", "score": 0.85}`, see
//! [`Evals`]). This module pairs them:
//!
//! - an event takes part when an eval record scores its `request_id` and
//!   its `model` is the strong or the weak alias;
//! - events pair on their prompt fingerprint (system prompt and messages,
//!   so the same conversation sent to both models); when a prompt has
//!   several scored events on one model, the first in file order is used
//!   and the others are counted as repeats;
//! - a pair becomes one [`TrainRecord`]: `prompt` is the strong event's
//!   `prompt_text` (the last user turn, the text the gate's router scores),
//!   `feature` its `tags.feature` (`-` when absent), the two scores, the two
//!   events' output tokens, and as input tokens the strong call's input,
//!   cache-read and cache-write tokens (all it was sent); its id is the messages fingerprint,
//!   so the `--split` halves stay stable as files grow.
//!
//! What cannot pair is counted, never guessed: a prompt scored on one model
//! only, and a pair whose strong event has no `prompt_text`.

use crate::route_train::TrainRecord;
use crate::tiers::Evals;
use std::collections::BTreeMap;
use tollgate_cost::{CallEvent, Fingerprint};

/// The records built and what was left out.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Joined {
    /// One record per prompt scored on both models, in the order the
    /// prompts' first scored events appear.
    pub records: Vec<TrainRecord>,
    /// Scored prompts seen on one model only.
    pub unpaired: usize,
    /// Pairs left out because the strong event has no `prompt_text`
    /// (events recorded without `record_prompt_text`).
    pub no_prompt: usize,
    /// Scored events beyond the first of their prompt and model.
    pub repeats: usize,
}

#[derive(Default)]
struct Pair<'a> {
    strong: Option<(&'a CallEvent, f64)>,
    weak: Option<(&'a CallEvent, f64)>,
    first: usize,
}

fn key(f: &Fingerprint) -> (u128, u128) {
    (f.system.map_or(0, |h| h.0), f.messages.map_or(0, |h| h.0))
}

/// Pairs scored `events` of the `strong` and `weak` aliases on their prompt
/// fingerprints (see the module doc).
pub fn join_scored_events(events: &[CallEvent], evals: &Evals, strong: &str, weak: &str) -> Joined {
    let mut pairs: BTreeMap<(u128, u128), Pair<'_>> = BTreeMap::new();
    let mut joined = Joined::default();
    for (i, ev) in events.iter().enumerate() {
        let Some(score) = evals.score(&ev.request_id) else {
            continue;
        };
        let pair = pairs.entry(key(&ev.fingerprint)).or_insert_with(|| Pair {
            first: i,
            ..Pair::default()
        });
        let slot = match &*ev.model {
            m if m == strong => &mut pair.strong,
            m if m == weak => &mut pair.weak,
            _ => continue,
        };
        match slot {
            Some(_) => joined.repeats += 1,
            None => *slot = Some((ev, score)),
        }
    }
    let mut built: Vec<(usize, TrainRecord)> = Vec::new();
    for ((_, messages), pair) in pairs {
        let (Some((s, strong_score)), Some((w, weak_score))) = (pair.strong, pair.weak) else {
            if pair.strong.is_some() || pair.weak.is_some() {
                joined.unpaired += 1;
            }
            continue;
        };
        let Some(prompt) = s.prompt_text.as_deref() else {
            joined.no_prompt += 1;
            continue;
        };
        let u = &s.usage;
        built.push((
            pair.first,
            TrainRecord {
                id: format!("{messages:032x}"),
                feature: s.tags.feature.as_deref().unwrap_or("-").to_owned(),
                prompt: prompt.to_owned(),
                strong_score,
                weak_score,
                input_tokens: u.input_tokens
                    + u.cache_read_input_tokens
                    + u.cache_write_input_tokens,
                strong_output_tokens: s.usage.output_tokens,
                weak_output_tokens: w.usage.output_tokens,
            },
        ));
    }
    built.sort_by_key(|(first, _)| *first);
    joined.records = built.into_iter().map(|(_, r)| r).collect();
    joined
}
