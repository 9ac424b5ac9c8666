//! Rule files -> checked [`Policy`].
//!
//! Files are parsed into a spanned TOML tree (`toml::de::DeTable`), walked
//! section by section, and every problem is collected with its position:
//! one run reports all errors of all files. The walk is manual rather than
//! `#[derive(Deserialize)]` with `deny_unknown_fields` because serde stops
//! at the first problem and cannot point into an expression.
//!
//! One job per file:
//!
//! - `files`: reading a file or a policy directory ([`rule_files`] is the
//!   one listing of a directory's rule files; the hot-reload watcher uses
//!   it too);
//! - `keys`: the typed TOML reader, `Keys`, which records the
//!   keys it reads so the unknown ones fall out of it;
//! - one file per top-level table: `policy_table` (`[policy]`),
//!   `attributes`, `routers`, `models`, `alerts`, `cases` (`[[test]]`);
//! - `rules`: what every rule has (`name`, `when`, `description`), and one
//!   file per rule section: `route`, `cache`, `prompt_cache`, `batch`,
//!   `limit`, `budget`;
//! - `resolve`: once every file is read, references between sections
//!   (default model, redaction, tests' expectations), price checks, lints,
//!   and the [`Policy`].
//!
//! # Adding a key
//!
//! A key is added in one place: the reader of its table reads it, e.g. in
//! `route.rs` `let tier = k.str(d, "service_tier");`, and stores the value
//! in the section's payload (`crate::policy`). Reading it is what makes it
//! allowed: no list of keys is kept elsewhere, and the help of an
//! unknown-key error lists keys in the order the reader reads them. A key
//! whose value names something defined elsewhere (a model, an attribute)
//! is resolved after the reader's `is_quiet()` check, like `model` in
//! `route.rs`.

mod alerts;
mod attributes;
mod batch;
mod budget;
mod cache;
mod cases;
mod files;
mod keys;
mod limit;
mod models;
mod policy_table;
mod prompt_cache;
mod resolve;
mod route;
mod routers;
mod rules;

pub use files::{is_rule_file, rule_files};
pub use keys::parse_duration;

use crate::diag::{did_you_mean, Diagnostic, LoadError};
use crate::expr::{self, CheckLimits, OffsetMap, ParseLimits, TExpr};
use crate::policy::*;
use crate::pricing::PriceTable;
use crate::schema::{AttrId, Schema, Type};
use crate::source::{FileId, SourceFile, SourceMap, Span};
use cases::RawTest;
use keys::{Diags, Keys, Table, Val};
use std::collections::{HashMap, HashSet};
use std::path::Path;
use toml::de::DeTable;
use toml::Spanned;

/// Size limits, each reported as a clear error when passed.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest rule file, bytes.
    pub max_file_bytes: usize,
    /// Most files in a policy directory.
    pub max_files: usize,
    /// Most rules across all sections.
    pub max_rules: usize,
    /// Expression length and depth.
    pub expr: ParseLimits,
    /// Compiled size of one regex, bytes.
    pub regex_size: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_file_bytes: 16 << 20,
            max_files: 1024,
            max_rules: 100_000,
            expr: ParseLimits::default(),
            regex_size: 1 << 20,
        }
    }
}

/// How to load.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Check against this schema instead of the policy's own `[attributes]`
    /// (the policy's declarations must agree with it).
    pub schema: Option<Schema>,
    /// Price table; the built-in one when `None`.
    pub prices: Option<PriceTable>,
    /// Size limits.
    pub limits: Limits,
}

/// A loaded policy and its warnings.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The checked policy.
    pub policy: Policy,
    /// Lints (the policy loads regardless).
    pub warnings: Vec<Diagnostic>,
}

/// Load a `.toml` file, or a directory of them merged in file-name order.
pub fn load_path(path: &Path, opts: &LoadOptions) -> Result<Loaded, LoadError> {
    let mut sources = SourceMap::new();
    let mut diags = Vec::new();
    files::read_path(path, &opts.limits, &mut sources, &mut diags);
    if diags.iter().any(Diagnostic::is_error) {
        return Err(LoadError {
            sources,
            diagnostics: diags,
        });
    }
    load_sources(sources, opts)
}

/// Load a policy from text held in memory.
pub fn load_str(path: &str, text: &str, opts: &LoadOptions) -> Result<Loaded, LoadError> {
    let mut sources = SourceMap::new();
    sources.add(SourceFile::new(path, text));
    load_sources(sources, opts)
}

/// Load a policy from files already read.
pub fn load_sources(sources: SourceMap, opts: &LoadOptions) -> Result<Loaded, LoadError> {
    // `[policy] prices`: read the named price file, never merged as a policy file.
    let mut price_diags = Vec::new();
    let (sources, policy_prices) =
        crate::policy_prices::extract(sources, &opts.limits, &mut price_diags);
    // The built-in table is shared, not copied, by every policy that uses it.
    let effective = match (&opts.prices, &policy_prices) {
        (None, None) => PriceTable::builtin_shared(),
        (given, overrides) => {
            let mut t = given
                .clone()
                .unwrap_or_else(|| PriceTable::builtin().clone());
            if let Some(pp) = overrides {
                t.override_with(pp.table.clone());
            }
            std::sync::Arc::new(t)
        }
    };
    let prices = &effective;
    let mut b = Build {
        sources: &sources,
        opts,
        prices,
        d: Diags {
            file: FileId(0),
            list: price_diags,
        },
        schema: opts.schema.clone().unwrap_or_default(),
        declared: Vec::new(),
        attr_spans: HashMap::new(),
        model_index: HashMap::new(),
        models: Vec::new(),
        policy_name: None,
        default_model: None,
        redact: Vec::new(),
        sections: Sections::default(),
        spend_spike: None,
        spend_spike_span: None,
        raw_tests: Vec::new(),
        policy_span: None,
        rule_names: HashMap::new(),
        model_uses: HashSet::new(),
        broken_models: HashSet::new(),
        routers: Vec::new(),
    };
    b.run();
    b.finish(sources.clone(), policy_prices.as_ref())
}

/// The state of one load: what has been read so far, and the diagnostics.
struct Build<'a> {
    sources: &'a SourceMap,
    opts: &'a LoadOptions,
    prices: &'a std::sync::Arc<PriceTable>,
    d: Diags,
    schema: Schema,
    declared: Vec<AttrId>,
    attr_spans: HashMap<String, Span>,
    model_index: HashMap<String, ModelIdx>,
    models: Vec<Model>,
    policy_name: Option<String>,
    default_model: Option<(String, Span)>,
    redact: Vec<(String, Span)>,
    sections: Sections,
    spend_spike: Option<SpendSpike>,
    spend_spike_span: Option<Span>,
    raw_tests: Vec<RawTest>,
    policy_span: Option<Span>,
    rule_names: HashMap<(Section, String), Span>,
    model_uses: HashSet<ModelIdx>,
    broken_models: HashSet<String>,
    routers: Vec<crate::router::Router>,
}

/// One file's top-level tables, each read by its own reader.
struct FileTables<'t, 'i> {
    policy: Option<&'t Val<'i>>,
    attributes: Option<&'t Val<'i>>,
    models: Option<&'t Val<'i>>,
    sections: [Option<&'t Val<'i>>; 6],
    alerts: Option<&'t Val<'i>>,
    test: Option<&'t Val<'i>>,
    routers: Option<&'t Val<'i>>,
}

impl<'a> Build<'a> {
    fn sp<T>(&self, v: &Spanned<T>) -> Span {
        self.d.sp(v)
    }

    fn error(
        &mut self,
        code: &'static str,
        span: Span,
        msg: impl Into<String>,
        help: Option<String>,
    ) {
        self.d.error(code, span, msg, help);
    }

    fn run(&mut self) {
        // Parse every file first; attributes and models come from all files
        // before any rule is checked, so a rule may use a name declared in
        // another file.
        let mut parsed: Vec<(FileId, Spanned<Table<'a>>)> = Vec::new();
        for (i, f) in self.sources.files().iter().enumerate() {
            let file = FileId(i as u32);
            self.d.file = file;
            let (table, errors) = DeTable::parse_recoverable(&f.text);
            if !errors.is_empty() {
                for e in errors {
                    let span = self.d.span(e.span().unwrap_or(0..0));
                    let msg = e.message().trim().trim_end_matches('.').to_string();
                    let msg = msg.lines().next().unwrap_or("invalid TOML").to_string();
                    let help = if msg.contains("duplicate key") {
                        Some("each key may be defined once per table".to_string())
                    } else {
                        Some("see the TOML syntax at https://toml.io".to_string())
                    };
                    self.error(
                        "toml-syntax",
                        span,
                        format!("invalid TOML: {}", lowercase_first(&msg)),
                        help,
                    );
                }
                continue;
            }
            parsed.push((file, table));
        }
        let mut files = Vec::with_capacity(parsed.len());
        for (file, table) in &parsed {
            self.d.file = *file;
            let mut k = Keys::new(table.get_ref());
            let tables = FileTables {
                policy: k.get("policy"),
                attributes: k.get("attributes"),
                models: k.get("models"),
                sections: Section::ALL.map(|s| k.get(s.name())),
                alerts: k.get("alerts"),
                test: k.get("test"),
                routers: k.get("routers"),
            };
            k.finish(&mut self.d, "a policy file");
            files.push((*file, tables));
        }
        for (file, t) in &files {
            self.d.file = *file;
            if let Some(v) = t.policy {
                self.policy_table(v);
            }
            if let Some(v) = t.attributes {
                self.attributes(v);
            }
        }
        // Routers add their attributes once every file's are declared.
        for (file, t) in &files {
            self.d.file = *file;
            if let Some(v) = t.routers {
                self.routers_table(v);
            }
        }
        for (file, t) in &files {
            self.d.file = *file;
            if let Some(v) = t.models {
                self.models_table(v);
            }
        }
        for (file, t) in &files {
            self.d.file = *file;
            for (sec, v) in Section::ALL.into_iter().zip(t.sections) {
                if let Some(v) = v {
                    self.section(sec, v);
                }
            }
            if let Some(v) = t.alerts {
                self.alerts(v);
            }
            if let Some(v) = t.test {
                self.tests(v);
            }
        }
        if self.policy_span.is_none()
            && !self.sources.files().is_empty()
            && !self.has_syntax_errors()
        {
            let path = self
                .sources
                .files()
                .first()
                .map(|f| f.path.clone())
                .unwrap_or_default();
            self.d.list.push(
                Diagnostic::path_error("missing-policy", path, "no file defines `[policy]`")
                    .with_help("add `[policy]` with `name` and `default_model` to one file"),
            );
        }
        let n = self.sections.rule_count();
        if n > self.opts.limits.max_rules {
            let path = self
                .sources
                .files()
                .first()
                .map(|f| f.path.clone())
                .unwrap_or_default();
            self.d.list.push(Diagnostic::path_error(
                "limit",
                path,
                format!(
                    "the policy has {n} rules, more than the limit of {}",
                    self.opts.limits.max_rules
                ),
            ));
        }
    }

    fn has_syntax_errors(&self) -> bool {
        self.d.list.iter().any(|d| d.code == "toml-syntax")
    }

    /// The first character of a table's span: where "is defined twice" and
    /// "needs `key`" point.
    fn key_span_or(&self, v: &Val<'_>) -> Span {
        let s = self.sp(v);
        Span {
            end: s.start.saturating_add(1).min(s.end.max(s.start + 1)),
            ..s
        }
    }

    fn model_ref(&mut self, alias: &str, span: Span) -> Option<ModelIdx> {
        match self.model_index.get(alias) {
            Some(i) => {
                self.model_uses.insert(*i);
                Some(*i)
            }
            None if self.broken_models.contains(alias) => None, // already reported
            None => {
                let help = did_you_mean(alias, self.models.iter().map(|m| m.alias.as_str()))
                    .or_else(|| Some(format!("define it with `[models.{alias}]` and an `id`")));
                self.error(
                    "unknown-model",
                    span,
                    format!("unknown model `{alias}`"),
                    help,
                );
                None
            }
        }
    }

    fn string_attr(&mut self, name: &str, span: Span, key: &str) -> Option<AttrId> {
        match self.schema.id(name) {
            Some(id) if self.schema.get(id).map(|d| d.ty) == Some(Type::String) => Some(id),
            Some(id) => {
                let t = self
                    .schema
                    .get(id)
                    .map(|d| d.ty.to_string())
                    .unwrap_or_default();
                self.error(
                    "type-mismatch",
                    span,
                    format!("`{key}` needs a string attribute; `{name}` is `{t}`"),
                    None,
                );
                None
            }
            None => {
                let help = did_you_mean(name, self.schema.iter().map(|(_, a)| a.name.as_str()))
                    .or_else(|| {
                        Some(format!(
                            "declare it under [attributes] as `\"{name}\" = \"string\"`"
                        ))
                    });
                self.error(
                    "unknown-attribute",
                    span,
                    format!("unknown attribute `{name}`"),
                    help,
                );
                None
            }
        }
    }

    /// A `when` condition: `Some(None)` when there is none, `None` when it
    /// is in error (reported).
    fn when(&mut self, v: Option<&Val<'_>>) -> Option<Option<TExpr>> {
        let Some(v) = v else {
            return Some(None);
        };
        let Some(text) = v.get_ref().as_str() else {
            self.d
                .wrong_type("when", v, "a string holding an expression");
            return None;
        };
        let raw = v.span();
        let file_text = self
            .sources
            .get(self.d.file)
            .map(|f| f.text.as_str())
            .unwrap_or("");
        let map = match crate::tomlstr::decode(file_text, raw.start, raw.end) {
            Some((decoded, offsets)) if decoded == text => OffsetMap {
                file: self.d.file,
                offsets,
            },
            _ => OffsetMap {
                file: self.d.file,
                offsets: vec![raw.start as u32; text.len() + 1],
            },
        };
        let node = match expr::parse_with(text, self.opts.limits.expr) {
            Ok(n) => n,
            Err(e) => {
                let span = map.span(e.span.clone());
                self.d
                    .list
                    .push(Diagnostic::error(e.code, span, e.message).with_help_opt(e.help));
                return None;
            }
        };
        let limits = CheckLimits {
            regex_size: self.opts.limits.regex_size,
        };
        let checked = expr::check(&node, &self.schema, &map, limits, &mut self.d.list)?;
        if checked.ty != Type::Bool {
            self.error(
                "type-mismatch",
                checked.span,
                format!("a condition must be a bool, this is `{}`", checked.ty),
                Some("compare the value, e.g. `input_tokens > 1000`".into()),
            );
            return None;
        }
        Some(Some(checked))
    }
}

fn lowercase_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}
