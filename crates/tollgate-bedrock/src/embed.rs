//! [`Gate::embed`]: text embeddings over InvokeModel, priced, recorded and
//! cached per text.
//!
//! Two body formats, chosen by the routed model id:
//!
//! | model id | request | response | tokens |
//! |---|---|---|---|
//! | `amazon.titan-embed-text-v2:0` | `{"inputText", "dimensions", "normalize"}`, one text per call | `{"embedding", "inputTextTokenCount"}` | the body's `inputTextTokenCount` |
//! | `cohere.embed-*` | `{"texts", "input_type"}`, up to 96 texts per call | `{"embeddings", ...}` (a list, or `{"float": [...]}`) | the `X-Amzn-Bedrock-Input-Token-Count` response header (the body has none) |
//!
//! Query embeddings scale with traffic and the same texts come back, so
//! every vector is cached under xxh3-128 of (model id, dimensions,
//! normalize, input type, text) in a tollgate-cache
//! [`Store`](tollgate_cache::Store) (in process, or Redis to share it) for
//! [`EmbedOptions::ttl`]. A text found there is not sent again; the call's
//! event reports what it would have cost as `cost_avoided`. A store fault
//! never fails the call (the text is sent). The store is awaited
//! ([`tollgate_cache::get_async`]): a Redis round trip holds the call, not
//! the runtime's worker; an in-process store answers in place.
//!
//! Each `embed` call writes one event: `operation = embeddings`,
//! `mode = embedding`, the summed token counts and their cost.

use crate::call::{Prepared, Spent};
use crate::error::GateError;
use crate::gate::Gate;
use crate::request::ChatRequest;
use crate::retry::Rule;
use crate::sdk::Failure;
use aws_sdk_bedrockruntime::config::interceptors::BeforeDeserializationInterceptorContextRef;
use aws_sdk_bedrockruntime::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::types::{ContentBlock, ConversationRole, Message};
use parking_lot::Mutex;
use serde_json::{json, Value as Json};
use std::sync::Arc;
use std::time::Duration;
use tollgate_cache::{CacheKey, Entry, StopReason};
use tollgate_cost::{CacheOutcome, CallEvent, Mode, Operation, Status, Tags, Usage};
use tollgate_engine::Decision;
use tollgate_lang::{Model, Policy};

/// Cohere's `input_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum InputType {
    /// Documents to store in a vector index.
    #[default]
    SearchDocument,
    /// Queries against such an index.
    SearchQuery,
    /// Input to a classifier.
    Classification,
    /// Input to clustering.
    Clustering,
}

impl InputType {
    /// Cohere's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            InputType::SearchDocument => "search_document",
            InputType::SearchQuery => "search_query",
            InputType::Classification => "classification",
            InputType::Clustering => "clustering",
        }
    }
}

/// How texts are embedded and cached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EmbedOptions {
    /// Titan V2 `dimensions` (256, 512 or 1024).
    pub dimensions: u32,
    /// Titan V2 `normalize`.
    pub normalize: bool,
    /// Cohere `input_type`.
    pub input_type: InputType,
    /// How long a cached vector lives.
    pub ttl: Duration,
}

impl Default for EmbedOptions {
    fn default() -> Self {
        EmbedOptions {
            dimensions: 1024,
            normalize: true,
            input_type: InputType::SearchDocument,
            ttl: Duration::from_secs(24 * 3600),
        }
    }
}

/// The answer of [`Gate::embed`].
#[derive(Debug, Clone, PartialEq)]
pub struct Embeddings {
    /// One vector per text, in the order given.
    pub vectors: Vec<Vec<f32>>,
    /// The model id used.
    pub model_id: String,
    /// Input tokens billed (cached texts excluded).
    pub input_tokens: u64,
    /// Texts served from the cache.
    pub cached: usize,
    /// The event written for the call.
    pub event: CallEvent,
}

/// Which body format a model id speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Titan,
    Cohere,
}

fn family(model_id: &str) -> Option<Family> {
    // Strip an ARN path and a cross-region prefix.
    let id = model_id.rsplit('/').next().unwrap_or(model_id);
    let base = id
        .split_once('.')
        .filter(|(p, _)| {
            matches!(
                *p,
                "us" | "eu" | "apac" | "au" | "jp" | "ca" | "global" | "us-gov"
            )
        })
        .map_or(id, |(_, rest)| rest);
    if base.starts_with("amazon.titan-embed-text-v2") {
        Some(Family::Titan)
    } else if base.starts_with("cohere.embed-") {
        Some(Family::Cohere)
    } else {
        None
    }
}

/// The cache key of one text's vector.
pub fn embed_key(model_id: &str, opts: &EmbedOptions, text: &str) -> CacheKey {
    let mut buf = Vec::with_capacity(text.len() + model_id.len() + 48);
    buf.extend_from_slice(b"tollgate-embed-v1\0");
    buf.extend_from_slice(model_id.as_bytes());
    buf.push(0);
    buf.extend_from_slice(&opts.dimensions.to_le_bytes());
    buf.push(u8::from(opts.normalize));
    buf.extend_from_slice(opts.input_type.as_str().as_bytes());
    buf.push(0);
    buf.extend_from_slice(text.as_bytes());
    CacheKey(xxhash_rust::xxh3::xxh3_128(&buf))
}

fn encode(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn decode(b: &[u8]) -> Option<Vec<f32>> {
    if !b.len().is_multiple_of(4) {
        return None;
    }
    Some(
        b.chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
    )
}

fn vector(v: &Json) -> Option<Vec<f32>> {
    v.as_array()?
        .iter()
        .map(|x| x.as_f64().map(|f| f as f32))
        .collect()
}

/// Reads `X-Amzn-Bedrock-Input-Token-Count` off the raw response.
#[derive(Debug, Clone, Default)]
struct TokenHeader(Arc<Mutex<Option<u64>>>);

impl Intercept for TokenHeader {
    fn name(&self) -> &'static str {
        "tollgate-input-token-count"
    }

    fn read_before_deserialization(
        &self,
        context: &BeforeDeserializationInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let n = context
            .response()
            .headers()
            .get("x-amzn-bedrock-input-token-count")
            .and_then(|v| v.trim().parse().ok());
        *self.0.lock() = n;
        Ok(())
    }
}

/// What every InvokeModel of one `embed` shares.
struct Sending<'a> {
    rule: &'a Rule<'a>,
    model_id: &'a str,
    texts: &'a [&'a str],
    opts: &'a EmbedOptions,
}

/// Each text of one call (`idx`) with its share of the call's `tokens`,
/// weighted by length; the last takes what is left.
fn shares(texts: &[&str], idx: &[usize], tokens: u64) -> Vec<(usize, u64)> {
    let weights: Vec<u64> = idx
        .iter()
        .map(|&i| texts.get(i).map_or(0, |t| t.len() as u64).max(1))
        .collect();
    let total = weights.iter().fold(0u64, |a, w| a.saturating_add(*w));
    let mut left = tokens;
    let mut out = Vec::with_capacity(idx.len());
    for (n, (&i, w)) in idx.iter().zip(&weights).enumerate() {
        let share = if n + 1 == idx.len() {
            left
        } else {
            // In u128: a token count from the response times a text's
            // length cannot overflow it.
            (u128::from(tokens) * u128::from(*w))
                .checked_div(u128::from(total))
                .map_or(0, |s| u64::try_from(s).unwrap_or(u64::MAX))
        };
        left = left.saturating_sub(share);
        out.push((i, share));
    }
    out
}

/// What the InvokeModel calls of one `embed` sent: per call, the texts
/// it answered (by index) and the tokens it billed, and the attempts made.
#[derive(Default)]
struct Calls {
    calls: Vec<(Vec<usize>, u64)>,
    attempts: u32,
}

impl Calls {
    /// Input tokens over every call (counts come from the response:
    /// saturated rather than overflowed).
    fn tokens(&self) -> u64 {
        self.calls
            .iter()
            .fold(0u64, |a, (_, t)| a.saturating_add(*t))
    }
}

/// The vectors of one `embed`, by text: found in the cache or sent.
struct Vectors {
    slots: Vec<Option<Vec<f32>>>,
    /// What the cached ones cost when they were sent.
    avoided: u64,
    cached: usize,
}

impl Vectors {
    fn set(&mut self, i: usize, v: Vec<f32>) {
        if let Some(slot) = self.slots.get_mut(i) {
            *slot = Some(v);
        }
    }

    /// The texts not found in the cache.
    fn todo(&self) -> Vec<usize> {
        (0..self.slots.len())
            .filter(|&i| self.slots.get(i).is_some_and(Option::is_none))
            .collect()
    }
}

/// The decision's model and its body format: an embedding model
/// tollgate knows, else the error.
fn embedding_model<'p>(policy: &'p Policy, d: &Decision) -> Result<(&'p Model, Family), GateError> {
    let model = policy
        .model(d.model)
        .ok_or(GateError::NoModel(d.model.index()))?;
    match family(&model.id) {
        Some(fam) => Ok((model, fam)),
        None => Err(GateError::Request(format!(
            "model `{}` ({}) is not an embedding model tollgate knows \
             (amazon.titan-embed-text-v2, cohere.embed-*)",
            model.alias, model.id
        ))),
    }
}

/// The request an `embed` call is decided and recorded as: one user
/// message per text.
fn embed_request(texts: &[&str]) -> ChatRequest {
    texts
        .iter()
        .filter_map(|t| {
            Message::builder()
                .role(ConversationRole::User)
                .content(ContentBlock::Text((*t).to_string()))
                .build()
                .ok()
        })
        .fold(ChatRequest::default(), ChatRequest::message)
}

impl Gate {
    /// Embeds `texts` with the model the policy routes the request to
    /// (Titan Text Embeddings V2 or Cohere Embed), using the gate's
    /// [`EmbedOptions`] and embedding cache.
    pub async fn embed(&self, texts: &[&str], tags: &Tags) -> Result<Embeddings, GateError> {
        let opts = self.embed_options();
        self.embed_with(texts, tags, &opts).await
    }

    /// [`Gate::embed`] with options for this call.
    pub async fn embed_with(
        &self,
        texts: &[&str],
        tags: &Tags,
        opts: &EmbedOptions,
    ) -> Result<Embeddings, GateError> {
        if texts.is_empty() {
            return Err(GateError::Request("embed needs at least one text".into()));
        }
        let req = embed_request(texts);
        let live = self.policy().current();
        let call = self.prepare(&live, (&req, tags), Mode::Embedding);
        let d = call.decide();
        let (model, fam) = embedding_model(call.policy(), &d)?;
        let model_id = model.id.clone();
        let keys: Vec<CacheKey> = texts
            .iter()
            .map(|t| embed_key(&model_id, opts, t))
            .collect();
        let mut vectors = self.cached_vectors(&keys).await;
        let todo = vectors.todo();
        // One retry rule for every InvokeModel of the call: the limit's
        // attempts and retry budget, never another model (vectors of two
        // embedding models are not comparable).
        let (max_attempts, retry_budget_pct) = crate::plan::limit_of(call.policy(), &d);
        let feature = call.feature();
        let timeout = self.timeouts().attempt;
        let rule = self.retry_rule(1, max_attempts, retry_budget_pct, feature, timeout);
        let sending = Sending {
            rule: &rule,
            model_id: &model_id,
            texts,
            opts,
        };
        let mut calls = Calls::default();
        let result = match fam {
            Family::Titan => {
                self.send_titan(&sending, &todo, &mut vectors, &mut calls)
                    .await
            }
            Family::Cohere => {
                self.send_cohere(&sending, &todo, &mut vectors, &mut calls)
                    .await
            }
        };
        let event = self.embed_event(&call, &d, &vectors, &calls, todo.is_empty(), &result);
        // Attempts beyond one per InvokeModel call were retries.
        let spent = Spent {
            cost_nanos: event.cost_nanos,
            retried: calls.attempts as usize > calls.calls.len(),
            served: d.model,
            usage: None,
        };
        self.spent(call.policy(), (retry_budget_pct, feature), None, spent);
        self.record_spend(call.policy(), call.ctx(), event.cost_nanos)
            .await;
        self.emit(&event);
        result?;
        self.fill_embed_cache(&sending, model.prices.input, &keys, &vectors, &calls)
            .await;
        Ok(Embeddings {
            vectors: vectors
                .slots
                .into_iter()
                .map(Option::unwrap_or_default)
                .collect(),
            model_id,
            input_tokens: calls.tokens(),
            cached: vectors.cached,
            event,
        })
    }

    /// The vectors the embedding cache holds for `keys`. A store fault
    /// is a miss: the text is sent. Awaited: a Redis store holds this
    /// call only, never the worker.
    async fn cached_vectors(&self, keys: &[CacheKey]) -> Vectors {
        let mut v = Vectors {
            slots: vec![None; keys.len()],
            avoided: 0,
            cached: 0,
        };
        let Some(store) = self.embed_cache() else {
            return v;
        };
        for (i, k) in keys.iter().enumerate() {
            if let Ok(Some(e)) = tollgate_cache::get_async(store, *k).await {
                if let Some(vector) = decode(&e.body) {
                    v.avoided = v.avoided.saturating_add(e.cost_nanos);
                    v.cached += 1;
                    v.set(i, vector);
                }
            }
        }
        v
    }

    /// Titan: one InvokeModel per text.
    async fn send_titan(
        &self,
        s: &Sending<'_>,
        todo: &[usize],
        vectors: &mut Vectors,
        calls: &mut Calls,
    ) -> Result<(), GateError> {
        for &i in todo {
            let text = s.texts.get(i).copied().unwrap_or("");
            let body = json!({
                "inputText": text,
                "dimensions": s.opts.dimensions,
                "normalize": s.opts.normalize,
            });
            let (resp, _) = self
                .invoke(s.rule, s.model_id, &body, &mut calls.attempts)
                .await?;
            // Billed once answered, whatever the body holds.
            let tokens = resp["inputTextTokenCount"].as_u64().unwrap_or(0);
            let Some(v) = vector(&resp["embedding"]) else {
                calls.calls.push((Vec::new(), tokens));
                return Err(GateError::Malformed(
                    "Titan response has no `embedding`".into(),
                ));
            };
            vectors.set(i, v);
            calls.calls.push((vec![i], tokens));
        }
        Ok(())
    }

    /// Cohere: up to 96 texts per InvokeModel.
    async fn send_cohere(
        &self,
        s: &Sending<'_>,
        todo: &[usize],
        vectors: &mut Vectors,
        calls: &mut Calls,
    ) -> Result<(), GateError> {
        for chunk in todo.chunks(96) {
            let batch: Vec<&str> = chunk
                .iter()
                .map(|&i| s.texts.get(i).copied().unwrap_or(""))
                .collect();
            let body = json!({
                "texts": batch,
                "input_type": s.opts.input_type.as_str(),
            });
            let (resp, header) = self
                .invoke(s.rule, s.model_id, &body, &mut calls.attempts)
                .await?;
            // Billed once answered, whatever the body holds. Cohere on
            // Bedrock reports the count only in the header; a body count
            // wins when present.
            let tokens = resp["meta"]["billed_units"]["input_tokens"]
                .as_u64()
                .or(header)
                .unwrap_or(0);
            let list = match &resp["embeddings"] {
                Json::Object(o) => o.get("float").cloned().unwrap_or(Json::Null),
                other => other.clone(),
            };
            let vs: Vec<Vec<f32>> = list
                .as_array()
                .map(|a| a.iter().filter_map(vector).collect())
                .unwrap_or_default();
            if vs.len() != chunk.len() {
                calls.calls.push((Vec::new(), tokens));
                return Err(GateError::Malformed(format!(
                    "Cohere returned {} embeddings for {} texts",
                    vs.len(),
                    chunk.len()
                )));
            }
            for (&i, v) in chunk.iter().zip(vs) {
                vectors.set(i, v);
            }
            calls.calls.push((chunk.to_vec(), tokens));
        }
        Ok(())
    }

    /// The call's one event: `operation = embeddings`, the summed tokens
    /// and their cost, what the cache avoided, the error if any.
    fn embed_event(
        &self,
        call: &Prepared<'_>,
        d: &Decision,
        vectors: &Vectors,
        calls: &Calls,
        all_cached: bool,
        result: &Result<(), GateError>,
    ) -> CallEvent {
        let mut b = call
            .event(d)
            .operation(Operation::Embeddings)
            .attempts(calls.attempts)
            .usage(Usage::new(calls.tokens(), 0))
            .cost_avoided_nanos(vectors.avoided);
        if self.embed_cache().is_some() {
            b = b.cache(if all_cached {
                CacheOutcome::Hit
            } else {
                CacheOutcome::Miss
            });
        }
        if let Err(e) = result {
            b = b.status(Status::Error).error_type(e.error_type());
        }
        b.build()
    }

    /// Fills the embedding cache: each text sent with its share of its
    /// call's tokens (by length) and of their cost. A store fault never
    /// fails the call.
    async fn fill_embed_cache(
        &self,
        s: &Sending<'_>,
        price: tollgate_lang::PicosPerToken,
        keys: &[CacheKey],
        vectors: &Vectors,
        calls: &Calls,
    ) {
        let Some(store) = self.embed_cache() else {
            return;
        };
        for (idx, tokens) in &calls.calls {
            for (i, share) in shares(s.texts, idx, *tokens) {
                let (Some(k), Some(Some(v))) = (keys.get(i), vectors.slots.get(i)) else {
                    continue;
                };
                let entry = Entry::new(
                    encode(v),
                    StopReason::EndTurn,
                    tollgate_cache::Usage {
                        input: share,
                        ..tollgate_cache::Usage::default()
                    },
                    tollgate_lang::picos_to_nanos_half_up(price.cost_picos(share)),
                    s.model_id,
                );
                let _ = tollgate_cache::put_async(store, *k, Arc::new(entry), s.opts.ttl).await;
            }
        }
    }

    /// One InvokeModel call through the retry loop (same model only);
    /// the parsed body and the token-count header. `attempts` counts the
    /// attempts made.
    async fn invoke(
        &self,
        rule: &Rule<'_>,
        model_id: &str,
        body: &Json,
        attempts: &mut u32,
    ) -> Result<(Json, Option<u64>), GateError> {
        let bytes = body.to_string().into_bytes();
        let bytes = &bytes;
        let sent = crate::retry::run(
            rule,
            |_| async move {
                let header = TokenHeader::default();
                let out = Box::pin(
                    self.client()
                        .invoke_model()
                        .model_id(model_id)
                        .content_type("application/json")
                        .accept("application/json")
                        .body(Blob::new(bytes.clone()))
                        .customize()
                        .interceptor(header.clone())
                        .send(),
                )
                .await
                .map_err(Failure::of)?;
                let n = *header.0.lock();
                Ok((out, n))
            },
            |_, _| {},
        )
        .await;
        let ((out, n), step) = match sent {
            Ok(v) => v,
            Err(g) => {
                *attempts += g.step().n();
                return Err(g.into_error());
            }
        };
        *attempts += step.n();
        // An answer is billed: a body that cannot be read is not retried.
        let resp: Json = serde_json::from_slice(out.body().as_ref())
            .map_err(|e| GateError::Malformed(format!("InvokeModel body: {e}")))?;
        Ok((resp, n))
    }
}
