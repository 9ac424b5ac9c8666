//! **tollgate** keeps LLM bills on Amazon Bedrock sane: routing, caching,
//! batching and output-cap rules written as TOML files with CEL-style
//! expressions, checked like code and compiled to a decision engine that
//! answers in nanoseconds.
//!
//! This crate is the facade users depend on; it re-exports:
//!
//! - [`lang`]: rule files -> checked [`Policy`] (grammar, type checking,
//!   lints, located diagnostics, the Bedrock price table);
//! - [`engine`]: [`Context`], the compiled `decide`, the reference
//!   interpreter, hot reload and shadow policies, tests inside rule files;
//! - [`cache`]: response-cache keys and stores (in-process, Redis), the
//!   prompt-cache planner, cache simulation;
//! - [`cost`]: exact prices, call events, sinks, the spend ledger, budgets
//!   and spike alerts.
//!
//! ```
//! use tollgate::{lang, engine};
//! let text = r#"
//! [policy]
//! name = "demo"
//! default_model = "sonnet"
//! [attributes]
//! task = "string"
//! [models.haiku]
//! id = "us.anthropic.claude-3-5-haiku-20241022-v1:0"
//! [models.sonnet]
//! id = "us.anthropic.claude-sonnet-4-20250514-v1:0"
//! [[route]]
//! name = "small"
//! when = 'task == "classify"'
//! model = "haiku"
//! "#;
//! let loaded = lang::load_str("demo.toml", text, &lang::LoadOptions::default()).unwrap();
//! let policy = loaded.policy;
//! let task = policy.schema.id("task").unwrap();
//! let mut ctx = engine::Context::new(&policy.schema);
//! ctx.set_str(task, "classify");
//! let d = engine::decide_reference(&policy, &ctx);
//! assert_eq!(policy.model(d.model).unwrap().alias, "haiku");
//! ```

pub use tollgate_cache as cache;
pub use tollgate_cost as cost;
pub use tollgate_engine as engine;
pub use tollgate_lang as lang;

pub use tollgate_engine::{Context, Decision, Request};
pub use tollgate_lang::{Policy, Schema, Type};
