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

use crate::attrs::{self, Estimate};
use crate::error::GateError;
use crate::gate::Gate;
use crate::request::ChatRequest;
use crate::retry::Rule;
use crate::sdk::Failure;
use crate::usage::{fingerprint, ms};
use aws_sdk_bedrockruntime::config::interceptors::BeforeDeserializationInterceptorContextRef;
use aws_sdk_bedrockruntime::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::types::{ContentBlock, ConversationRole, Message};
use parking_lot::Mutex;
use serde_json::{json, Value as Json};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tollgate_cache::{CacheKey, Entry, StopReason};
use tollgate_cost::{CacheOutcome, CallEvent, Mode, Operation, Status, Tags, Usage};
use tollgate_engine::Context;

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
        let started = Instant::now();
        if texts.is_empty() {
            return Err(GateError::Request("embed needs at least one text".into()));
        }
        let req = texts
            .iter()
            .filter_map(|t| {
                Message::builder()
                    .role(ConversationRole::User)
                    .content(ContentBlock::Text((*t).to_string()))
                    .build()
                    .ok()
            })
            .fold(ChatRequest::default(), ChatRequest::message);
        let live = self.policy().current();
        let policy = live.policy();
        let schema = self.policy().schema();
        let estimate = Estimate::of(&req, self.estimator());
        let mut ctx = Context::new(schema);
        attrs::fill(&mut ctx, schema, &req, tags, &estimate);
        let d = live.decide(&ctx);
        let model = policy
            .model(d.model)
            .ok_or(GateError::NoModel(d.model.index()))?;
        let model_id = model.id.clone();
        let Some(fam) = family(&model_id) else {
            return Err(GateError::Request(format!(
                "model `{}` ({model_id}) is not an embedding model tollgate knows \
                 (amazon.titan-embed-text-v2, cohere.embed-*)",
                model.alias
            )));
        };

        // Cache lookups.
        let keys: Vec<CacheKey> = texts
            .iter()
            .map(|t| embed_key(&model_id, opts, t))
            .collect();
        let mut vectors: Vec<Option<Vec<f32>>> = vec![None; texts.len()];
        let mut avoided = 0u64;
        let mut cached = 0usize;
        if let Some(store) = self.embed_cache() {
            for (i, k) in keys.iter().enumerate() {
                // A store fault is a miss: the text is sent. Awaited: a
                // Redis store holds this call only, never the worker.
                if let Ok(Some(e)) = tollgate_cache::get_async(store, *k).await {
                    if let Some(v) = decode(&e.body) {
                        avoided = avoided.saturating_add(e.cost_nanos);
                        cached += 1;
                        if let Some(slot) = vectors.get_mut(i) {
                            *slot = Some(v);
                        }
                    }
                }
            }
        }
        let todo: Vec<usize> = (0..texts.len())
            .filter(|&i| vectors.get(i).is_some_and(Option::is_none))
            .collect();

        // One retry rule for every InvokeModel of the call: the limit's
        // attempts and retry budget, never another model (vectors of two
        // embedding models are not comparable).
        let feature = self
            .attr_ids()
            .feature(&ctx)
            .or(tags.feature.as_deref())
            .unwrap_or("");
        let (max_attempts, retry_budget_pct) = crate::plan::limit_of(policy, &d);
        let rule = self.retry_rule(
            1,
            max_attempts,
            retry_budget_pct,
            feature,
            self.timeouts().attempt,
        );
        // Calls for the rest: (indices, tokens).
        let mut calls: Vec<(Vec<usize>, u64)> = Vec::new();
        let mut attempts = 0u32;
        let result: Result<(), GateError> = async {
            match fam {
                Family::Titan => {
                    for &i in &todo {
                        let text = texts.get(i).copied().unwrap_or("");
                        let body = json!({
                            "inputText": text,
                            "dimensions": opts.dimensions,
                            "normalize": opts.normalize,
                        });
                        let (resp, _) = self.invoke(&rule, &model_id, &body, &mut attempts).await?;
                        // Billed once answered, whatever the body holds.
                        let tokens = resp["inputTextTokenCount"].as_u64().unwrap_or(0);
                        let Some(v) = vector(&resp["embedding"]) else {
                            calls.push((Vec::new(), tokens));
                            return Err(GateError::Malformed(
                                "Titan response has no `embedding`".into(),
                            ));
                        };
                        if let Some(slot) = vectors.get_mut(i) {
                            *slot = Some(v);
                        }
                        calls.push((vec![i], tokens));
                    }
                }
                Family::Cohere => {
                    for chunk in todo.chunks(96) {
                        let batch: Vec<&str> = chunk
                            .iter()
                            .map(|&i| texts.get(i).copied().unwrap_or(""))
                            .collect();
                        let body = json!({
                            "texts": batch,
                            "input_type": opts.input_type.as_str(),
                        });
                        let (resp, header) =
                            self.invoke(&rule, &model_id, &body, &mut attempts).await?;
                        // Billed once answered, whatever the body holds.
                        // Cohere on Bedrock reports the count only in the
                        // header; a body count wins when present.
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
                            calls.push((Vec::new(), tokens));
                            return Err(GateError::Malformed(format!(
                                "Cohere returned {} embeddings for {} texts",
                                vs.len(),
                                chunk.len()
                            )));
                        }
                        for (&i, v) in chunk.iter().zip(vs) {
                            if let Some(slot) = vectors.get_mut(i) {
                                *slot = Some(v);
                            }
                        }
                        calls.push((chunk.to_vec(), tokens));
                    }
                }
            }
            Ok(())
        }
        .await;

        // Counts come from the response: saturate rather than overflow.
        let input_tokens = calls.iter().fold(0u64, |a, (_, t)| a.saturating_add(*t));
        let usage = Usage::new(input_tokens, 0);
        let mut b = self
            .event_builder(policy, &d, &ctx)
            .tags(tags.clone())
            .fingerprint(fingerprint(&req))
            .operation(Operation::Embeddings)
            .mode(Mode::Embedding)
            .attempts(attempts)
            .usage(usage)
            .cost_avoided_nanos(avoided)
            .latency_ms(ms(started));
        if self.embed_cache().is_some() {
            b = b.cache(if todo.is_empty() {
                CacheOutcome::Hit
            } else {
                CacheOutcome::Miss
            });
        }
        if let Err(e) = &result {
            b = b.status(Status::Error).error_type(e.error_type());
        }
        let event = b.build();
        // Attempts beyond one per InvokeModel call were retries.
        self.record_retry_spend(
            retry_budget_pct,
            feature,
            event.cost_nanos,
            attempts as usize > calls.len(),
        );
        self.record_spend(policy, &ctx, event.cost_nanos).await;
        self.emit(&event);
        result?;

        // Fill the cache: each text with its share of the call's tokens.
        if let Some(store) = self.embed_cache() {
            let price = model.prices.input;
            for (idx, tokens) in &calls {
                let weights: Vec<u64> = idx
                    .iter()
                    .map(|&i| texts.get(i).map_or(0, |t| t.len() as u64).max(1))
                    .collect();
                let total = weights.iter().fold(0u64, |a, w| a.saturating_add(*w));
                let mut left = *tokens;
                for (n, (&i, w)) in idx.iter().zip(&weights).enumerate() {
                    let share = if n + 1 == idx.len() {
                        left
                    } else {
                        // In u128: a token count from the response times
                        // a text's length cannot overflow it.
                        (u128::from(*tokens) * u128::from(*w))
                            .checked_div(u128::from(total))
                            .map_or(0, |s| u64::try_from(s).unwrap_or(u64::MAX))
                    };
                    left = left.saturating_sub(share);
                    let (Some(k), Some(Some(v))) = (keys.get(i), vectors.get(i)) else {
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
                        &model_id,
                    );
                    // A store fault never fails the call.
                    let _ = tollgate_cache::put_async(store, *k, Arc::new(entry), opts.ttl).await;
                }
            }
        }
        Ok(Embeddings {
            vectors: vectors.into_iter().map(Option::unwrap_or_default).collect(),
            model_id,
            input_tokens,
            cached,
            event,
        })
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
                *attempts += g.step.n;
                return Err(g.error);
            }
        };
        *attempts += step.n;
        // An answer is billed: a body that cannot be read is not retried.
        let resp: Json = serde_json::from_slice(out.body().as_ref())
            .map_err(|e| GateError::Malformed(format!("InvokeModel body: {e}")))?;
        Ok((resp, n))
    }
}
