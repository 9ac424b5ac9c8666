//! Batch inference: [`Gate::send`] queues what a `[[batch]]` rule says may
//! wait, [`BatchQueue`] writes Bedrock's batch JSON Lines per model, and
//! [`Gate::read_batch_output`] maps the job's output records back to their
//! requests and records them at the batch rate.
//!
//! # The files
//!
//! One line per request, `{"recordId": "...", "modelInput": {...}}`, where
//! `modelInput` is a Converse request body (the job is created with
//! `modelInvocationType = Converse`; see [`submit`]
//! with the `batch-submit` feature). A job runs one model, so each model id
//! gets its own files, `<model id>-<n>.jsonl` (characters other than
//! letters, digits, `.`, `-` and `_` become `_`). A file is closed and the
//! next one begun when it would pass [`BatchLimits`]: Bedrock's default
//! quotas are 50,000 records per input file and 1 GB per file; both are
//! adjustable per account, hence configurable here.
//!
//! Record ids are 11 alphanumeric characters, as Bedrock's documentation
//! shows them: a 3-character prefix per queue and an 8-digit counter.
//! Batch inference has no prompt caching, so no cache points are written.
//!
//! # Reading the output
//!
//! Bedrock writes `<input file>.out` with one line per record:
//! `recordId`, `modelInput`, and either `modelOutput` (a Converse response
//! body) or `error` (`errorCode`, `errorMessage`). Output order is not
//! guaranteed to match input order, so records are matched by `recordId`
//! against the queue that wrote them. Each record gets one call event with
//! `mode = batch`, priced at the model's batch prices, and (with a ledger)
//! its cost is added to the day's spend.
//!
//! # The job
//!
//! [`JobLimits`] checks a job's files against Bedrock's per-job quotas
//! before it is submitted. With the `batch-submit` feature, [`submit`]
//! creates the job and [`job`] follows it to its end and reads its
//! outputs from S3 ([`Gate::collect_batch_job`](crate::Gate::collect_batch_job)).

#[cfg(feature = "batch-submit")]
pub(crate) mod job;
pub(crate) mod quota;
#[cfg(feature = "batch-submit")]
pub(crate) mod submit;

use crate::call::Prepared;
use crate::error::GateError;
use crate::gate::Gate;
use crate::request::ChatRequest;
use crate::response::ChatResponse;
use crate::wire::{self, Binary};
use parking_lot::Mutex;
use serde_json::{json, Value as Json};
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;
use tollgate_cost::{CallEvent, Mode, Status, Tags, Usage};
use tollgate_engine::Live;

/// What [`Gate::send`] did with a request.
#[derive(Debug, Clone, PartialEq)]
pub enum Sent {
    /// Answered now (no `[[batch]]` rule matched, or the gate has no queue).
    Answered(Box<ChatResponse>),
    /// Written to a batch file; the answer comes with the job's output.
    Queued {
        /// The record's id in the batch file.
        record_id: String,
        /// The model id the record is for.
        model_id: String,
        /// The file it was written to.
        file: PathBuf,
    },
}

/// When a batch file is closed and the next one begun.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchLimits {
    /// Records per file (Bedrock's default quota: 50,000).
    pub max_records_per_file: usize,
    /// Bytes per file (Bedrock's default quota: 1 GB).
    pub max_bytes_per_file: u64,
}

impl Default for BatchLimits {
    fn default() -> Self {
        BatchLimits {
            max_records_per_file: 50_000,
            max_bytes_per_file: 1_000_000_000,
        }
    }
}

/// A closed (or, from [`BatchQueue::close`], just closed) batch file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchFile {
    /// The model id every record in it is for.
    pub model_id: String,
    /// Where it is.
    pub path: PathBuf,
    /// Records in it.
    pub records: usize,
    /// Its size, bytes.
    pub bytes: u64,
}

struct OpenFile {
    out: BufWriter<File>,
    path: PathBuf,
    records: usize,
    bytes: u64,
}

/// An output record checked and taken from the pending set: its
/// `modelOutput` (or its `error`) and the request it answers.
struct Taken {
    record_id: String,
    outcome: Result<Json, Json>,
    pending: Pending,
}

/// A queued request, kept until its output is read.
#[derive(Debug, Clone)]
struct Pending {
    req: ChatRequest,
    tags: Tags,
    model_alias: String,
}

#[derive(Default)]
struct Inner {
    open: HashMap<String, OpenFile>,
    next_index: HashMap<String, u32>,
    closed: Vec<BatchFile>,
    pending: HashMap<String, Pending>,
    counter: u64,
}

/// Writes batch JSON Lines files per model, rotating them at the limits.
pub struct BatchQueue {
    dir: PathBuf,
    limits: BatchLimits,
    prefix: String,
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for BatchQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchQueue")
            .field("dir", &self.dir)
            .field("limits", &self.limits)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

fn io_error(path: &Path, e: &std::io::Error) -> GateError {
    GateError::Request(format!("batch file {}: {e}", path.display()))
}

fn file_stem(model_id: &str) -> String {
    model_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The Converse request body of a request (what a batch record's
/// `modelInput` holds): the request as built, with the output cap given.
/// A request holding a block the SDK does not know is refused: it cannot
/// be written faithfully.
pub fn converse_body(req: &ChatRequest, max_tokens: Option<u32>) -> Result<Json, GateError> {
    let mut input = req.input().clone();
    if let Some(n) = max_tokens {
        let inf = input.inference_config.get_or_insert_with(|| {
            aws_sdk_bedrockruntime::types::InferenceConfiguration::builder().build()
        });
        inf.max_tokens = Some(i32::try_from(n).unwrap_or(i32::MAX));
    }
    wire::input_body(&input, Binary::Base64)
        .map_err(|e| GateError::Request(format!("cannot write a batch record: {e}")))
}

impl BatchQueue {
    /// A queue writing into `dir` (created if missing), with a random
    /// 3-character record-id prefix.
    pub fn new(dir: impl Into<PathBuf>, limits: BatchLimits) -> Result<BatchQueue, GateError> {
        let prefix: String = std::iter::repeat_with(fastrand::alphanumeric)
            .take(3)
            .collect();
        BatchQueue::with_prefix(dir, limits, &prefix)
    }

    /// A queue whose record ids start with `prefix` (exactly 3 ASCII
    /// letters or digits; queues writing to one job need distinct ones).
    pub fn with_prefix(
        dir: impl Into<PathBuf>,
        limits: BatchLimits,
        prefix: &str,
    ) -> Result<BatchQueue, GateError> {
        if prefix.len() != 3 || !prefix.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(GateError::Request(format!(
                "batch record-id prefix `{prefix}` must be 3 ASCII letters or digits"
            )));
        }
        if limits.max_records_per_file == 0 || limits.max_bytes_per_file == 0 {
            return Err(GateError::Request(
                "batch file limits must be at least 1 record and 1 byte".into(),
            ));
        }
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(|e| io_error(&dir, &e))?;
        Ok(BatchQueue {
            dir,
            limits,
            prefix: prefix.to_string(),
            inner: Mutex::new(Inner::default()),
        })
    }

    /// The directory the files go to.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Records written and not yet read back.
    pub fn pending(&self) -> usize {
        self.inner.lock().pending.len()
    }

    /// Writes one record for `model_id`; returns its id and file.
    pub(crate) fn push(
        &self,
        model_id: &str,
        model_alias: &str,
        req: &ChatRequest,
        tags: &Tags,
        max_tokens: Option<u32>,
    ) -> Result<(String, PathBuf), GateError> {
        let mut inner = self.inner.lock();
        inner.counter += 1;
        let record_id = format!("{}{:08}", self.prefix, inner.counter % 100_000_000);
        let line = json!({"recordId": record_id, "modelInput": converse_body(req, max_tokens)?});
        let mut bytes = line.to_string().into_bytes();
        bytes.push(b'\n');
        let len = bytes.len() as u64;
        if len > self.limits.max_bytes_per_file {
            return Err(GateError::Request(format!(
                "batch record of {len} bytes is larger than the file limit of {} bytes",
                self.limits.max_bytes_per_file
            )));
        }
        let full = inner.open.get(model_id).is_some_and(|f| {
            f.records >= self.limits.max_records_per_file
                || f.bytes + len > self.limits.max_bytes_per_file
        });
        if full {
            self.close_one(&mut inner, model_id)?;
        }
        if !inner.open.contains_key(model_id) {
            let index = {
                let n = inner.next_index.entry(model_id.to_string()).or_insert(0);
                *n += 1;
                *n
            };
            let path = self
                .dir
                .join(format!("{}-{index:05}.jsonl", file_stem(model_id)));
            let f = File::create(&path).map_err(|e| io_error(&path, &e))?;
            inner.open.insert(
                model_id.to_string(),
                OpenFile {
                    out: BufWriter::new(f),
                    path,
                    records: 0,
                    bytes: 0,
                },
            );
        }
        let Some(open) = inner.open.get_mut(model_id) else {
            return Err(GateError::Request("batch file vanished".into()));
        };
        open.out
            .write_all(&bytes)
            .map_err(|e| io_error(&open.path, &e))?;
        open.records += 1;
        open.bytes += len;
        let path = open.path.clone();
        inner.pending.insert(
            record_id.clone(),
            Pending {
                req: req.clone(),
                tags: tags.clone(),
                model_alias: model_alias.to_string(),
            },
        );
        Ok((record_id, path))
    }

    fn close_one(&self, inner: &mut Inner, model_id: &str) -> Result<(), GateError> {
        if let Some(mut f) = inner.open.remove(model_id) {
            f.out.flush().map_err(|e| io_error(&f.path, &e))?;
            inner.closed.push(BatchFile {
                model_id: model_id.to_string(),
                path: f.path,
                records: f.records,
                bytes: f.bytes,
            });
        }
        Ok(())
    }

    /// Closes every open file and returns all files closed since the last
    /// call (rotated ones included), ready to upload and submit, in the
    /// order they were closed (open ones by model id).
    pub fn close(&self) -> Result<Vec<BatchFile>, GateError> {
        let mut inner = self.inner.lock();
        let mut models: Vec<String> = inner.open.keys().cloned().collect();
        models.sort();
        for m in models {
            self.close_one(&mut inner, &m)?;
        }
        Ok(std::mem::take(&mut inner.closed))
    }

    fn is_pending(&self, record_id: &str) -> bool {
        self.inner.lock().pending.contains_key(record_id)
    }

    fn take(&self, record_id: &str) -> Option<Pending> {
        self.inner.lock().pending.remove(record_id)
    }

    /// Puts records taken by a read that failed back to pending.
    fn restore(&self, taken: impl Iterator<Item = (String, Pending)>) {
        let mut inner = self.inner.lock();
        for (id, p) in taken {
            inner.pending.insert(id, p);
        }
    }
}

/// One record of a batch job's output, matched to its request.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchRecord {
    /// The record id.
    pub record_id: String,
    /// The answer, or the record's error (`GateError::Bedrock` with the
    /// record's `errorCode` and `errorMessage`).
    pub outcome: Result<BatchAnswer, GateError>,
    /// The event written for it.
    pub event: CallEvent,
}

/// A batch record's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchAnswer {
    /// The assistant's text.
    pub text: String,
    /// Bedrock's stop reason.
    pub stop_reason: String,
    /// Tokens billed.
    pub usage: Usage,
}

fn u64_of(v: &Json) -> u64 {
    v.as_u64().unwrap_or(0)
}

fn answer_of(out: &Json) -> BatchAnswer {
    let text = out["output"]["message"]["content"]
        .as_array()
        .map(|blocks| {
            blocks
                .iter()
                .filter_map(|b| b["text"].as_str())
                .collect::<String>()
        })
        .unwrap_or_default();
    let u = &out["usage"];
    let usage = Usage {
        input_tokens: u64_of(&u["inputTokens"]),
        output_tokens: u64_of(&u["outputTokens"]),
        cache_read_input_tokens: u64_of(&u["cacheReadInputTokens"]),
        cache_write_input_tokens: u64_of(&u["cacheWriteInputTokens"]),
        ..Usage::default()
    };
    BatchAnswer {
        text,
        stop_reason: out["stopReason"].as_str().unwrap_or("").to_string(),
        usage,
    }
}

/// Takes every record of one output from the pending set into `taken`;
/// the first bad line is an error naming `source` (when given) and the
/// line.
fn take_lines(
    queue: &BatchQueue,
    source: Option<&str>,
    output: impl BufRead,
    taken: &mut Vec<Taken>,
) -> Result<(), GateError> {
    for (n, line) in output.lines().enumerate() {
        let lineno = n + 1;
        let bad = |what: String| {
            GateError::Malformed(match source {
                Some(name) => format!("batch output {name} line {lineno}: {what}"),
                None => format!("batch output line {lineno}: {what}"),
            })
        };
        let line = line.map_err(|e| bad(e.to_string()))?;
        if line.trim().is_empty() {
            continue;
        }
        let mut rec: Json = serde_json::from_str(&line).map_err(|e| bad(e.to_string()))?;
        let Some(record_id) = rec["recordId"].as_str().map(str::to_owned) else {
            return Err(bad("no `recordId`".into()));
        };
        let unknown = || {
            bad(format!(
                "record `{record_id}` was not written by this queue (or was read already)"
            ))
        };
        if !queue.is_pending(&record_id) {
            return Err(unknown());
        }
        let error = rec
            .get_mut("error")
            .map(Json::take)
            .filter(|e| !e.is_null());
        let answer = rec.get_mut("modelOutput").map(Json::take);
        let outcome = match (error, answer) {
            (Some(e), _) => Err(e),
            (None, Some(o)) => Ok(o),
            (None, None) => return Err(bad("neither `modelOutput` nor `error`".into())),
        };
        let Some(pending) = queue.take(&record_id) else {
            return Err(unknown());
        };
        taken.push(Taken {
            record_id,
            outcome,
            pending,
        });
    }
    Ok(())
}

impl Gate {
    /// One request under the policy: when a `[[batch]]` rule matches and
    /// the gate has a [`BatchQueue`], the request is written to the
    /// model's batch file and [`Sent::Queued`] returned; otherwise it is
    /// answered now by [`Gate::converse`].
    pub async fn send(&self, req: &ChatRequest, tags: &Tags) -> Result<Sent, GateError> {
        if let Some(queue) = self.batch_queue() {
            Gate::check_request(req)?;
            let live = self.policy().current();
            let call = self.prepare(&live, (req, tags), Mode::Batch);
            let d = call.decide();
            if d.batch.is_some() {
                let model = call
                    .policy()
                    .model(d.model)
                    .ok_or(GateError::NoModel(d.model.index()))?;
                let cap = match (d.max_output_tokens, req.requested_max_tokens()) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                let (record_id, file) = queue.push(&model.id, &model.alias, req, tags, cap)?;
                return Ok(Sent::Queued {
                    record_id,
                    model_id: model.id.clone(),
                    file,
                });
            }
        }
        self.converse(req, tags)
            .await
            .map(|r| Sent::Answered(Box::new(r)))
    }

    /// Reads a batch job's output (JSON Lines), matches each record to the
    /// request `queue` wrote for it, writes one `mode = batch` event per
    /// record (priced at batch prices) and adds its cost to the ledger.
    ///
    /// All or nothing: a line that is not JSON, names no pending record of
    /// the queue, or holds neither `modelOutput` nor `error` is an error
    /// naming the line, and then no event is written, nothing is added to
    /// the ledger and every record stays pending, so the file (or a mended
    /// one) can be read again.
    ///
    /// A sync method (it reads a file): with a Redis ledger its writes block
    /// the calling thread for up to the operation timeout each, so call it
    /// from a thread of its own (`tokio::task::spawn_blocking`), not on an
    /// async worker.
    pub fn read_batch_output(
        &self,
        queue: &BatchQueue,
        output: impl BufRead,
    ) -> Result<Vec<BatchRecord>, GateError> {
        self.read_batch_sources(queue, std::iter::once((None, output)))
    }

    /// [`Gate::read_batch_output`] over several outputs (a job's files),
    /// all or nothing across them: an error names the source and line, and
    /// leaves every record of every source pending.
    pub(crate) fn read_batch_sources<'a, R: BufRead>(
        &self,
        queue: &BatchQueue,
        sources: impl IntoIterator<Item = (Option<&'a str>, R)>,
    ) -> Result<Vec<BatchRecord>, GateError> {
        let started = Instant::now();
        let mut taken: Vec<Taken> = Vec::new();
        let read = sources
            .into_iter()
            .try_for_each(|(name, output)| take_lines(queue, name, output, &mut taken));
        if let Err(e) = read {
            queue.restore(taken.into_iter().map(|t| (t.record_id, t.pending)));
            return Err(e);
        }
        let live = self.policy().current();
        Ok(taken
            .into_iter()
            .map(|t| self.batch_record(&live, t, started))
            .collect())
    }

    /// One output record: its event written and its cost added to the
    /// ledger.
    fn batch_record(&self, live: &Live, t: Taken, started: Instant) -> BatchRecord {
        let Taken {
            record_id,
            outcome,
            pending: p,
        } = t;
        let reading = crate::read::read(&p.req, self.estimator());
        let call = Prepared::resume(self, live, (&p.req, &p.tags), Mode::Batch, started, reading);
        let d = call.decide();
        let served = call
            .policy()
            .model_by_alias(&p.model_alias)
            .unwrap_or(d.model);
        let mut b = call.event(&d).served_model(served).request_id(&record_id);
        let outcome = match outcome {
            Err(err) => {
                let code = match &err["errorCode"] {
                    Json::String(s) => s.clone(),
                    Json::Number(n) => n.to_string(),
                    _ => "BatchRecordError".to_string(),
                };
                let message = err["errorMessage"].as_str().unwrap_or("").to_string();
                b = b.status(Status::Error).error_type(code.clone());
                Err(GateError::Bedrock {
                    code,
                    message,
                    attempts: 1,
                })
            }
            Ok(mo) => {
                let a = answer_of(&mo);
                b = b.usage(a.usage);
                Ok(a)
            }
        };
        let text = outcome.as_ref().map(|a| a.text.as_str()).unwrap_or("");
        let event = b.text(p.req.last_user_text().unwrap_or(""), text).build();
        self.record_spend_blocking(call.policy(), call.ctx(), event.cost_nanos);
        self.emit(&event);
        BatchRecord {
            record_id,
            outcome,
            event,
        }
    }
}
