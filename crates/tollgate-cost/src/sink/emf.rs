//! CloudWatch Embedded Metric Format: one JSON line per call that CloudWatch
//! Logs turns into metrics.
//!
//! ```json
//! {"_aws":{"Timestamp":1795688130123,"CloudWatchMetrics":[{"Namespace":"Tollgate",
//!   "Dimensions":[["Feature","Model"]],
//!   "Metrics":[{"Name":"InputTokens","Unit":"Count"},{"Name":"OutputTokens","Unit":"Count"},
//!              {"Name":"CacheReadTokens","Unit":"Count"},{"Name":"CacheWriteTokens","Unit":"Count"},
//!              {"Name":"CostUSD","Unit":"None"},{"Name":"LatencyMs","Unit":"Milliseconds"}]}]},
//!  "Feature":"kb","Model":"haiku","InputTokens":1200,"OutputTokens":310,"CacheReadTokens":0,
//!  "CacheWriteTokens":0,"CostUSD":0.00220,"LatencyMs":812,"requestId":"req-42"}
//! ```
//!
//! `InputTokens` keeps Bedrock's meaning (uncached input): with
//! `CacheReadTokens` and `CacheWriteTokens` beside it, the three add up to
//! the prompt, and a dashboard that sums them counts each token once.
//! Dimensions are configurable (default: feature and model alias); a missing
//! dimension value is written as `"none"`, since CloudWatch drops a metric
//! whose dimension member is absent. The request id is a plain member, never
//! a dimension (one metric stream per request would be ruinous).
//!
//! On Lambda, write to stdout; elsewhere, to a file the CloudWatch agent or
//! FireLens ships with `x-amzn-logs-format: json/emf`.

use super::{Sink, SinkError};
use crate::event::CallEvent;
use crate::name::Name;
use serde_json::{json, Map, Value};
use std::io::Write;
use std::sync::Mutex;

/// A dimension CloudWatch can slice the metrics by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dimension {
    /// `Feature`: the feature tag.
    Feature,
    /// `Model`: the model alias.
    Model,
    /// `ModelId`: the Bedrock model id.
    ModelId,
    /// `App`: the app tag.
    App,
    /// `Tenant`: the tenant tag (mind the cardinality).
    Tenant,
    /// `UseCase`: the use-case tag.
    UseCase,
    /// `Mode`: realtime / stream / batch.
    Mode,
    /// `Status`: ok / error / cancelled / rejected.
    Status,
    /// `Cache`: hit / miss / bypass.
    Cache,
    /// `Route`: the route rule (`default` when none matched).
    Route,
}

impl Dimension {
    /// The member name in the EMF line.
    pub fn member(self) -> &'static str {
        match self {
            Dimension::Feature => "Feature",
            Dimension::Model => "Model",
            Dimension::ModelId => "ModelId",
            Dimension::App => "App",
            Dimension::Tenant => "Tenant",
            Dimension::UseCase => "UseCase",
            Dimension::Mode => "Mode",
            Dimension::Status => "Status",
            Dimension::Cache => "Cache",
            Dimension::Route => "Route",
        }
    }

    fn value(self, ev: &CallEvent) -> String {
        let tag = |t: &Option<Name>| t.as_deref().unwrap_or("none").to_owned();
        match self {
            Dimension::Feature => tag(&ev.tags.feature),
            Dimension::Model => ev.model.to_string(),
            Dimension::ModelId => ev.model_id.to_string(),
            Dimension::App => tag(&ev.tags.app),
            Dimension::Tenant => tag(&ev.tags.tenant),
            Dimension::UseCase => tag(&ev.tags.use_case),
            Dimension::Mode => ev.mode.name().to_owned(),
            Dimension::Status => ev.status.name().to_owned(),
            Dimension::Cache => ev.cache.name().to_owned(),
            Dimension::Route => ev.rules.route.as_deref().unwrap_or("default").to_owned(),
        }
    }
}

/// Namespace and dimensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmfConfig {
    /// CloudWatch namespace (default `Tollgate`).
    pub namespace: String,
    /// One dimension set (default feature and model).
    pub dimensions: Vec<Dimension>,
}

impl Default for EmfConfig {
    fn default() -> Self {
        EmfConfig {
            namespace: "Tollgate".to_owned(),
            dimensions: vec![Dimension::Feature, Dimension::Model],
        }
    }
}

/// The metrics, with units, in the order they are written.
const METRICS: [(&str, &str); 6] = [
    ("InputTokens", "Count"),
    ("OutputTokens", "Count"),
    ("CacheReadTokens", "Count"),
    ("CacheWriteTokens", "Count"),
    ("CostUSD", "None"),
    ("LatencyMs", "Milliseconds"),
];

/// Writes one EMF line per call to a writer.
pub struct EmfSink<W: Write + Send> {
    cfg: EmfConfig,
    directive: Value,
    out: Mutex<W>,
}

impl EmfSink<std::io::Stdout> {
    /// Lines on standard output (Lambda).
    pub fn stdout(cfg: EmfConfig) -> Self {
        EmfSink::new(cfg, std::io::stdout())
    }
}

impl<W: Write + Send> EmfSink<W> {
    /// Lines on `out`.
    pub fn new(cfg: EmfConfig, out: W) -> Self {
        let dims: Vec<&str> = cfg.dimensions.iter().map(|d| d.member()).collect();
        let metrics: Vec<Value> = METRICS
            .iter()
            .map(|(n, u)| json!({"Name": n, "Unit": u}))
            .collect();
        let directive = json!({
            "Namespace": cfg.namespace,
            "Dimensions": [dims],
            "Metrics": metrics,
        });
        EmfSink {
            cfg,
            directive,
            out: Mutex::new(out),
        }
    }

    /// The EMF object for one event.
    pub fn line(&self, ev: &CallEvent) -> Value {
        let mut m = Map::new();
        m.insert(
            "_aws".to_owned(),
            json!({
                "Timestamp": ev.timestamp.unix_ms(),
                "CloudWatchMetrics": [self.directive.clone()],
            }),
        );
        for d in &self.cfg.dimensions {
            m.insert(d.member().to_owned(), Value::String(d.value(ev)));
        }
        let u = &ev.usage;
        m.insert("InputTokens".to_owned(), u.input_tokens.into());
        m.insert("OutputTokens".to_owned(), u.output_tokens.into());
        m.insert(
            "CacheReadTokens".to_owned(),
            u.cache_read_input_tokens.into(),
        );
        m.insert(
            "CacheWriteTokens".to_owned(),
            u.cache_write_input_tokens.into(),
        );
        m.insert(
            "CostUSD".to_owned(),
            json!(crate::nanos_to_usd(ev.cost_nanos)),
        );
        m.insert("LatencyMs".to_owned(), ev.latency_ms.into());
        m.insert("requestId".to_owned(), Value::String(ev.request_id.clone()));
        Value::Object(m)
    }

    /// The writer, for tests.
    pub fn into_inner(self) -> W {
        self.out.into_inner().unwrap_or_else(|p| p.into_inner())
    }
}

impl<W: Write + Send> Sink for EmfSink<W> {
    fn write(&self, event: &CallEvent) -> Result<(), SinkError> {
        let mut buf = serde_json::to_vec(&self.line(event))?;
        buf.push(b'\n');
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        out.write_all(&buf)?;
        out.flush()?;
        Ok(())
    }

    fn flush(&self) -> Result<(), SinkError> {
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        out.flush()?;
        Ok(())
    }
}
