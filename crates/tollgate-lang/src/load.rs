//! Rule files -> checked [`Policy`].
//!
//! Files are parsed into a spanned TOML tree (`toml::de::DeTable`), walked
//! section by section, and every problem is collected with its position:
//! one run reports all errors of all files. The walk is manual rather than
//! `#[derive(Deserialize)]` with `deny_unknown_fields` because serde stops
//! at the first problem and cannot point into an expression.

use crate::constraint::Conjunction;
use crate::diag::{did_you_mean, Diagnostic, LoadError};
use crate::expr::{self, CheckLimits, OffsetMap, ParseLimits, TExpr};
use crate::lint;
use crate::policy::*;
use crate::pricing::{PriceTable, Prices};
use crate::schema::{AttrId, Schema, Type};
use crate::source::{FileId, SourceFile, SourceMap, Span};
use std::collections::{HashMap, HashSet};
use std::path::Path;
use toml::de::{DeTable, DeValue};
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
    read_path(path, &opts.limits, &mut sources, &mut diags);
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

fn read_path(path: &Path, limits: &Limits, sources: &mut SourceMap, diags: &mut Vec<Diagnostic>) {
    let shown = path.display().to_string();
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => {
            diags.push(
                Diagnostic::path_error("io", &shown, format!("cannot read `{shown}`: {e}"))
                    .with_help("give the path of a .toml file or of a directory of them"),
            );
            return;
        }
    };
    if !meta.is_dir() {
        read_file(path, &shown, limits, sources, diags);
        return;
    }
    let entries = match std::fs::read_dir(path) {
        Ok(e) => e,
        Err(e) => {
            diags.push(Diagnostic::path_error(
                "io",
                &shown,
                format!("cannot list `{shown}`: {e}"),
            ));
            return;
        }
    };
    let mut names: Vec<_> = entries
        .filter_map(Result::ok)
        .filter(|e| {
            let n = e.file_name();
            let n = n.to_string_lossy();
            !n.starts_with('.') && n.ends_with(".toml")
        })
        .map(|e| e.path())
        .collect();
    names.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    if names.is_empty() {
        diags.push(
            Diagnostic::path_error("io", &shown, format!("`{shown}` holds no .toml file"))
                .with_help("a policy directory holds one or more .toml files (names starting with `.` are skipped)"),
        );
        return;
    }
    if names.len() > limits.max_files {
        diags.push(Diagnostic::path_error(
            "limit",
            &shown,
            format!(
                "`{shown}` holds {} rule files, more than the limit of {}",
                names.len(),
                limits.max_files
            ),
        ));
        return;
    }
    for p in names {
        let s = p.display().to_string();
        read_file(&p, &s, limits, sources, diags);
    }
}

fn read_file(
    path: &Path,
    shown: &str,
    limits: &Limits,
    sources: &mut SourceMap,
    diags: &mut Vec<Diagnostic>,
) {
    use std::io::Read;
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) => {
            diags.push(Diagnostic::path_error(
                "io",
                shown,
                format!("cannot read `{shown}`: {e}"),
            ));
            return;
        }
    };
    let mut bytes = Vec::new();
    // Read one byte past the limit to tell "at the limit" from "over it".
    if let Err(e) = file
        .take(limits.max_file_bytes as u64 + 1)
        .read_to_end(&mut bytes)
    {
        diags.push(Diagnostic::path_error(
            "io",
            shown,
            format!("cannot read `{shown}`: {e}"),
        ));
        return;
    }
    if bytes.len() > limits.max_file_bytes {
        diags.push(
            Diagnostic::path_error(
                "limit",
                shown,
                format!(
                    "`{shown}` is larger than the limit of {} bytes",
                    limits.max_file_bytes
                ),
            )
            .with_help("split the policy into several files in one directory"),
        );
        return;
    }
    match String::from_utf8(bytes) {
        Ok(text) => {
            sources.add(SourceFile::new(shown, text));
        }
        Err(e) => {
            let at = e.utf8_error().valid_up_to();
            diags.push(
                Diagnostic::path_error(
                    "encoding",
                    shown,
                    format!("`{shown}` is not valid UTF-8 (byte {at})"),
                )
                .with_help("rule files are UTF-8 text"),
            );
        }
    }
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
        diags: Vec::new(),
        file: FileId(0),
        schema: opts.schema.clone().unwrap_or_default(),
        declared: Vec::new(),
        attr_spans: HashMap::new(),
        model_index: HashMap::new(),
        models: Vec::new(),
        policy_name: None,
        default_model: None,
        redact: Vec::new(),
        routes: Vec::new(),
        caches: Vec::new(),
        prompt_caches: Vec::new(),
        batches: Vec::new(),
        limits: Vec::new(),
        budgets: Vec::new(),
        spend_spike: None,
        spend_spike_span: None,
        raw_tests: Vec::new(),
        policy_span: None,
        rule_names: HashMap::new(),
        model_uses: HashSet::new(),
        broken_models: HashSet::new(),
        routers: Vec::new(),
    };
    b.diags.extend(price_diags);
    b.run();
    b.finish(sources.clone(), policy_prices.as_ref())
}

type Table<'i> = DeTable<'i>;
type Val<'i> = Spanned<DeValue<'i>>;

struct RawTest {
    file: FileId,
    name: String,
    span: Span,
    request: serde_json::Map<String, serde_json::Value>,
    expect: Vec<(Section, String, Span)>,
    expect_model: Option<(String, Span)>,
    expect_cap: Option<Option<u32>>,
}

struct Build<'a> {
    sources: &'a SourceMap,
    opts: &'a LoadOptions,
    prices: &'a std::sync::Arc<PriceTable>,
    diags: Vec<Diagnostic>,
    file: FileId,
    schema: Schema,
    declared: Vec<AttrId>,
    attr_spans: HashMap<String, Span>,
    model_index: HashMap<String, ModelIdx>,
    models: Vec<Model>,
    policy_name: Option<String>,
    default_model: Option<(String, Span)>,
    redact: Vec<(String, Span)>,
    routes: Vec<Rule<Route>>,
    caches: Vec<Rule<Cache>>,
    prompt_caches: Vec<Rule<PromptCache>>,
    batches: Vec<Rule<Batch>>,
    limits: Vec<Rule<Limit>>,
    budgets: Vec<Rule<Budget>>,
    spend_spike: Option<SpendSpike>,
    spend_spike_span: Option<Span>,
    raw_tests: Vec<RawTest>,
    policy_span: Option<Span>,
    rule_names: HashMap<(Section, String), Span>,
    model_uses: HashSet<ModelIdx>,
    broken_models: HashSet<String>,
    routers: Vec<crate::router::Router>,
}

const TOP_KEYS: [&str; 12] = [
    "policy",
    "attributes",
    "models",
    "route",
    "cache",
    "prompt_cache",
    "batch",
    "limit",
    "budget",
    "alerts",
    "test",
    "routers",
];

fn kind(v: &DeValue<'_>) -> &'static str {
    match v {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date-time",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

fn int_of(v: &DeValue<'_>) -> Option<i64> {
    let i = v.as_integer()?;
    i64::from_str_radix(&i.as_str().replace('_', ""), i.radix()).ok()
}

fn float_of(v: &DeValue<'_>) -> Option<f64> {
    if let Some(f) = v.as_float() {
        let s = f.as_str().replace('_', "");
        return match s.as_str() {
            "inf" | "+inf" => Some(f64::INFINITY),
            "-inf" => Some(f64::NEG_INFINITY),
            "nan" | "+nan" | "-nan" => Some(f64::NAN),
            _ => s.parse().ok(),
        };
    }
    int_of(v).map(|i| i as f64)
}

/// Parse `90s`, `10m`, `1h30m`, `2d`: pieces of digits and a unit, > 0.
pub fn parse_duration(s: &str) -> Option<u64> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    let mut total: u64 = 0;
    let mut num = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let mult = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86400,
            _ => return None,
        };
        if num.is_empty() {
            return None;
        }
        let n: u64 = num.parse().ok()?;
        total = total.checked_add(n.checked_mul(mult)?)?;
        num.clear();
    }
    if !num.is_empty() || total == 0 {
        return None;
    }
    Some(total)
}

impl<'a> Build<'a> {
    fn span(&self, r: std::ops::Range<usize>) -> Span {
        Span::new(self.file, r)
    }

    fn sp<T>(&self, v: &Spanned<T>) -> Span {
        self.span(v.span())
    }

    fn error(
        &mut self,
        code: &'static str,
        span: Span,
        msg: impl Into<String>,
        help: Option<String>,
    ) {
        self.diags
            .push(Diagnostic::error(code, span, msg).with_help_opt(help));
    }

    /// The values a list of names stands for, looked up in `table`, sorted
    /// and without repeats; an unknown name is an error with a suggestion
    /// (or `listing`, the names there are).
    fn named_set<T: Copy + Ord>(
        &mut self,
        table: &[(&str, T)],
        names: Vec<(String, Span)>,
        what: &str,
        listing: &str,
    ) -> Vec<T> {
        let mut out = Vec::with_capacity(names.len());
        for (name, span) in names {
            match table.iter().find(|(n, _)| *n == name) {
                Some((_, v)) => out.push(*v),
                None => {
                    let help = did_you_mean(&name, table.iter().map(|(n, _)| *n))
                        .or_else(|| Some(listing.to_string()));
                    self.error(
                        "invalid-value",
                        span,
                        format!("unknown {what} `{name}`"),
                        help,
                    );
                }
            }
        }
        out.sort();
        out.dedup();
        out
    }

    fn unknown_keys(&mut self, t: &Table<'_>, allowed: &[&str], what: &str) {
        for (k, _) in t.iter() {
            if !allowed.contains(&k.get_ref().as_ref()) {
                let name = k.get_ref().to_string();
                // `[[routes]]` is a misspelt `[[route]]` far more often than
                // a misspelt `[routers]`, which string distance ranks first.
                let near = allowed
                    .iter()
                    .copied()
                    .filter(|a| *a != "routers" || name.starts_with("router"));
                let help = did_you_mean(&name, near).or_else(|| {
                    Some(format!(
                        "{what} takes {}",
                        allowed
                            .iter()
                            .map(|a| format!("`{a}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                });
                let span = self.sp(k);
                self.error(
                    "unknown-key",
                    span,
                    format!("unknown key `{name}` in {what}"),
                    help,
                );
            }
        }
    }

    fn get<'t, 'i>(&self, t: &'t Table<'i>, key: &str) -> Option<&'t Val<'i>> {
        t.iter()
            .find(|(k, _)| k.get_ref().as_ref() == key)
            .map(|(_, v)| v)
    }

    fn wrong_type(&mut self, key: &str, v: &Val<'_>, want: &str) {
        let span = self.sp(v);
        let found = kind(v.get_ref());
        self.error(
            "wrong-type",
            span,
            format!("`{key}` must be {want}, found {found}"),
            None,
        );
    }

    fn str_of(&mut self, t: &Table<'_>, key: &str) -> Option<(String, Span)> {
        let v = self.get(t, key)?;
        match v.get_ref().as_str() {
            Some(s) => Some((s.to_string(), self.sp(v))),
            None => {
                self.wrong_type(key, v, "a string");
                None
            }
        }
    }

    fn u32_of(&mut self, t: &Table<'_>, key: &str, min: u32) -> Option<u32> {
        let v = self.get(t, key)?;
        if !matches!(v.get_ref(), DeValue::Integer(_)) {
            let help = v
                .get_ref()
                .as_str()
                .filter(|s| s.trim().parse::<u64>().is_ok())
                .map(|s| format!("drop the quotes: `{key} = {}`", s.trim()));
            let span = self.sp(v);
            let found = kind(v.get_ref());
            self.error(
                "wrong-type",
                span,
                format!("`{key}` must be a whole number, found {found}"),
                help,
            );
            return None;
        }
        match int_of(v.get_ref()).and_then(|i| u32::try_from(i).ok()) {
            Some(i) if i >= min => Some(i),
            _ => {
                let span = self.sp(v);
                self.error(
                    "invalid-value",
                    span,
                    format!("`{key}` must be a whole number from {min} to {}", u32::MAX),
                    None,
                );
                None
            }
        }
    }

    fn f64_of(&mut self, t: &Table<'_>, key: &str, min: f64, max: f64) -> Option<f64> {
        let v = self.get(t, key)?;
        match float_of(v.get_ref()) {
            Some(x) if x.is_finite() && x >= min && x <= max => Some(x),
            Some(_) => {
                let span = self.sp(v);
                self.error(
                    "invalid-value",
                    span,
                    format!("`{key}` must be a number from {min} to {max}"),
                    None,
                );
                None
            }
            None => {
                self.wrong_type(key, v, "a number");
                None
            }
        }
    }

    fn bool_of(&mut self, t: &Table<'_>, key: &str) -> Option<bool> {
        let v = self.get(t, key)?;
        match v.get_ref().as_bool() {
            Some(b) => Some(b),
            None => {
                self.wrong_type(key, v, "true or false");
                None
            }
        }
    }

    fn str_list_of(&mut self, t: &Table<'_>, key: &str) -> Option<Vec<(String, Span)>> {
        let v = self.get(t, key)?;
        let Some(arr) = v.get_ref().as_array() else {
            self.wrong_type(key, v, "an array of strings");
            return None;
        };
        let mut out = Vec::new();
        for item in arr.iter() {
            match item.get_ref().as_str() {
                Some(s) => out.push((s.to_string(), self.sp(item))),
                None => {
                    self.wrong_type(key, item, "an array of strings");
                    return None;
                }
            }
        }
        Some(out)
    }

    fn required<T>(
        &mut self,
        v: Option<T>,
        t: &Table<'_>,
        at: Span,
        key: &str,
        what: &str,
        example: &str,
    ) -> Option<T> {
        if v.is_none() && self.get(t, key).is_none() {
            self.error(
                "missing-key",
                at,
                format!("{what} needs `{key}`"),
                Some(format!("add `{key} = {example}`")),
            );
        }
        v
    }

    fn run(&mut self) {
        // Parse every file first; attributes and models come from all files
        // before any rule is checked, so a rule may use a name declared in
        // another file.
        let mut parsed: Vec<(FileId, Spanned<Table<'a>>)> = Vec::new();
        for (i, f) in self.sources.files().iter().enumerate() {
            let file = FileId(i as u32);
            self.file = file;
            let (table, errors) = DeTable::parse_recoverable(&f.text);
            if !errors.is_empty() {
                for e in errors {
                    let span = self.span(e.span().unwrap_or(0..0));
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
        for (file, table) in &parsed {
            self.file = *file;
            let t = table.get_ref();
            self.unknown_keys(t, &TOP_KEYS, "a policy file");
            if let Some(v) = self.get(t, "policy") {
                self.policy_table(v);
            }
            if let Some(v) = self.get(t, "attributes") {
                self.attributes(v);
            }
        }
        // Routers add their attributes once every file's are declared.
        for (file, table) in &parsed {
            self.file = *file;
            if let Some(v) = self.get(table.get_ref(), "routers") {
                self.routers_table(v);
            }
        }
        if let Some(schema) = &self.opts.schema {
            let _ = schema;
        }
        for (file, table) in &parsed {
            self.file = *file;
            if let Some(v) = self.get(table.get_ref(), "models") {
                self.models_table(v);
            }
        }
        for (file, table) in &parsed {
            self.file = *file;
            let t = table.get_ref();
            for sec in Section::ALL {
                if let Some(v) = self.get(t, sec.name()) {
                    self.section(sec, v);
                }
            }
            if let Some(v) = self.get(t, "alerts") {
                self.alerts(v);
            }
            if let Some(v) = self.get(t, "test") {
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
            self.diags.push(
                Diagnostic::path_error("missing-policy", path, "no file defines `[policy]`")
                    .with_help("add `[policy]` with `name` and `default_model` to one file"),
            );
        }
        let n = self.routes.len()
            + self.caches.len()
            + self.prompt_caches.len()
            + self.batches.len()
            + self.limits.len()
            + self.budgets.len();
        if n > self.opts.limits.max_rules {
            let path = self
                .sources
                .files()
                .first()
                .map(|f| f.path.clone())
                .unwrap_or_default();
            self.diags.push(Diagnostic::path_error(
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
        self.diags.iter().any(|d| d.code == "toml-syntax")
    }

    fn table<'t, 'i>(&mut self, v: &'t Val<'i>, name: &str) -> Option<&'t Table<'i>> {
        match v.get_ref().as_table() {
            Some(t) => Some(t),
            None => {
                let span = self.sp(v);
                self.error(
                    "wrong-type",
                    span,
                    format!("`{name}` must be a table, found {}", kind(v.get_ref())),
                    Some(format!("write `[{name}]` followed by its keys")),
                );
                None
            }
        }
    }

    fn policy_table(&mut self, v: &Val<'_>) {
        let Some(t) = self.table(v, "policy") else {
            return;
        };
        let span = self.key_span_or(v);
        if let Some(prev) = self.policy_span {
            let loc = self.sources.location(prev);
            self.error(
                "duplicate",
                span,
                "`[policy]` is defined twice".to_string(),
                Some(format!("it is already defined at {loc}; keep one")),
            );
            return;
        }
        self.policy_span = Some(span);
        self.unknown_keys(
            t,
            &["name", "default_model", "redact", "description", "prices"],
            "[policy]",
        );
        // Read before the build (see `policy_prices`); here only its type is checked.
        let _ = self.str_of(t, "prices");
        let name = self.str_of(t, "name").map(|(s, _)| s);
        self.policy_name = self.required(name, t, span, "name", "[policy]", "\"my-app\"");
        let dm = self.str_of(t, "default_model");
        self.default_model = self.required(dm, t, span, "default_model", "[policy]", "\"sonnet\"");
        if let Some(list) = self.str_list_of(t, "redact") {
            self.redact = list;
        }
        let _ = self.str_of(t, "description");
    }

    fn key_span_or(&self, v: &Val<'_>) -> Span {
        let s = self.sp(v);
        Span {
            end: s.start.saturating_add(1).min(s.end.max(s.start + 1)),
            ..s
        }
    }

    fn attributes(&mut self, v: &Val<'_>) {
        let Some(t) = self.table(v, "attributes") else {
            return;
        };
        for (k, ty) in t.iter() {
            let name = k.get_ref().to_string();
            let kspan = self.sp(k);
            let Some(ty_s) = ty.get_ref().as_str() else {
                self.wrong_type(&name, ty, "a type name such as \"string\"");
                continue;
            };
            let tspan = self.sp(ty);
            let Some(parsed) = Type::parse_attr(ty_s) else {
                let help = did_you_mean(ty_s, Type::ATTR_TYPES).or_else(|| {
                    Some(format!(
                        "the types are {}",
                        Type::ATTR_TYPES.map(|t| format!("`{t}`")).join(", ")
                    ))
                });
                self.error(
                    "unknown-type",
                    tspan,
                    format!("unknown attribute type `{ty_s}`"),
                    help,
                );
                continue;
            };
            if name.is_empty()
                || name.split('.').any(|p| {
                    p.is_empty()
                        || !p
                            .chars()
                            .next()
                            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                        || !p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                })
            {
                self.error(
                    "invalid-name",
                    kspan,
                    format!("`{name}` is not a valid attribute name"),
                    Some("names are identifiers joined by dots, e.g. `user.tier`".into()),
                );
                continue;
            }
            if let Some(word) = name
                .split('.')
                .find(|p| matches!(*p, "true" | "false" | "null" | "in"))
            {
                self.error(
                    "invalid-name",
                    kspan,
                    format!("attribute `{name}` uses the reserved word `{word}`"),
                    Some("rename it: rules could not refer to it".into()),
                );
                continue;
            }
            if let Some(prev) = self.attr_spans.get(&name) {
                let loc = self.sources.location(*prev);
                self.error(
                    "duplicate",
                    kspan,
                    format!("attribute `{name}` is declared twice"),
                    Some(format!("it is already declared at {loc}")),
                );
                continue;
            }
            self.attr_spans.insert(name.clone(), kspan);
            if self.opts.schema.is_some() {
                match self.schema.id(&name).and_then(|id| self.schema.get(id).map(|d| (id, d.ty))) {
                    Some((id, t)) if t == parsed => self.declared.push(id),
                    Some((_, t)) => self.error(
                        "schema-mismatch",
                        tspan,
                        format!("attribute `{name}` is `{t}` in the application's schema, not `{parsed}`"),
                        Some("the schema is fixed while the application runs: keep the type, or restart with a new schema".into()),
                    ),
                    None => self.error(
                        "schema-mismatch",
                        kspan,
                        format!("attribute `{name}` is not in the application's schema"),
                        Some("the schema is fixed while the application runs: add the attribute to it and restart".into()),
                    ),
                }
            } else {
                match self.schema.add(&name, parsed) {
                    Ok(id) => self.declared.push(id),
                    Err(e) => self.error("limit", kspan, e.to_string(), None),
                }
            }
        }
    }

    /// `[routers.NAME] model = "path"`: the file is read and checked now
    /// (an error points at the `model` key), and `NAME.gain` and
    /// `NAME.gain_per_usd` become float attributes.
    fn routers_table(&mut self, v: &Val<'_>) {
        use crate::router::{Router, RouterModel};
        let Some(t) = self.table(v, "routers") else {
            return;
        };
        for (k, rv) in t.iter() {
            let name = k.get_ref().to_string();
            let kspan = self.sp(k);
            let Some(rt) = self.table(rv, &format!("routers.{name}")) else {
                continue;
            };
            self.unknown_keys(rt, &["model", "description"], &format!("[routers.{name}]"));
            let _ = self.str_of(rt, "description");
            let valid = name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !matches!(name.as_str(), "true" | "false" | "null" | "in");
            if !valid {
                self.error(
                    "invalid-name",
                    kspan,
                    format!("`{name}` is not a valid router name"),
                    Some(
                        "a router name is an identifier: its scores are read as `NAME.gain`".into(),
                    ),
                );
                continue;
            }
            if let Some(prev) = self.routers.iter().find(|r| r.name == name) {
                let loc = self.sources.location(prev.span);
                self.error(
                    "duplicate",
                    kspan,
                    format!("router `{name}` is defined twice"),
                    Some(format!("it is already defined at {loc}")),
                );
                continue;
            }
            let Some(mspan) = rt
                .iter()
                .find(|(k, _)| k.get_ref().as_ref() == "model")
                .map(|(k, _)| self.sp(k))
            else {
                self.error(
                    "missing-key",
                    kspan,
                    format!("`[routers.{name}]` has no `model`"),
                    Some("add `model = \"routers/NAME.model\"` (a file written by `tollgate route-train`)".into()),
                );
                continue;
            };
            let Some((rel, _)) = self.str_of(rt, "model") else {
                continue;
            };
            let base = self
                .sources
                .get(self.file)
                .and_then(|f| Path::new(&f.path).parent().map(Path::to_path_buf))
                .unwrap_or_default();
            let path = base.join(&rel);
            let shown = path.display().to_string();
            let bytes = match std::fs::read(&path) {
                Ok(b) => b,
                Err(e) => {
                    self.error(
                        "router-model",
                        mspan,
                        format!("cannot read router model `{shown}`: {e}"),
                        Some("the path is relative to the policy file; write one with `tollgate route-train --out`".into()),
                    );
                    continue;
                }
            };
            let model = match RouterModel::from_bytes(&bytes) {
                Ok(m) => m,
                Err(e) => {
                    self.error(
                        "router-model",
                        mspan,
                        format!("router model `{shown}`: {e}"),
                        Some("retrain it with `tollgate route-train --out`".into()),
                    );
                    continue;
                }
            };
            let mut ids = Vec::new();
            for attr in ["gain", "gain_per_usd"] {
                let full = format!("{name}.{attr}");
                let id = if self.opts.schema.is_some() {
                    match self
                        .schema
                        .id(&full)
                        .and_then(|id| self.schema.get(id).map(|d| (id, d.ty)))
                    {
                        Some((id, Type::Float)) => Some(id),
                        _ => {
                            self.error(
                                "schema-mismatch",
                                kspan,
                                format!("router attribute `{full}` is not a float of the application's schema"),
                                Some("the schema is fixed while the application runs: add the attribute as `float` and restart".into()),
                            );
                            None
                        }
                    }
                } else {
                    match self.schema.add(&full, Type::Float) {
                        Ok(id) => Some(id),
                        Err(e) => {
                            self.error(
                                "schema-mismatch",
                                kspan,
                                e.to_string(),
                                Some("a router's scores are floats".into()),
                            );
                            None
                        }
                    }
                };
                ids.extend(id);
            }
            let [gain, gain_per_usd] = ids[..] else {
                continue;
            };
            self.routers.push(Router {
                name,
                path: shown,
                model: std::sync::Arc::new(model),
                file_hash: xxhash_rust::xxh3::xxh3_64(&bytes),
                gain,
                gain_per_usd,
                span: mspan,
            });
        }
    }

    fn models_table(&mut self, v: &Val<'_>) {
        let Some(t) = self.table(v, "models") else {
            return;
        };
        const KEYS: [&str; 11] = [
            "id",
            "input_per_mtok",
            "output_per_mtok",
            "cache_write_5m_per_mtok",
            "cache_write_1h_per_mtok",
            "cache_read_per_mtok",
            "batch_input_per_mtok",
            "batch_output_per_mtok",
            "max_output_tokens",
            "prompt_cache_min_tokens",
            "description",
        ];
        for (k, mv) in t.iter() {
            let alias = k.get_ref().to_string();
            let kspan = self.sp(k);
            let Some(mt) = self.table(mv, &format!("models.{alias}")) else {
                continue;
            };
            self.unknown_keys(mt, &KEYS, &format!("[models.{alias}]"));
            if let Some(prev) = self
                .model_index
                .get(&alias)
                .and_then(|i| self.models.get(i.index()))
            {
                let loc = self.sources.location(prev.span);
                self.error(
                    "duplicate",
                    kspan,
                    format!("model `{alias}` is defined twice"),
                    Some(format!("it is already defined at {loc}")),
                );
                continue;
            }
            let id = self.str_of(mt, "id");
            let Some((id, id_span)) = self.required(
                id,
                mt,
                kspan,
                "id",
                &format!("[models.{alias}]"),
                "\"us.anthropic.claude-sonnet-4-20250514-v1:0\"",
            ) else {
                self.broken_models.insert(alias);
                continue;
            };
            let mut prices = self.prices.lookup(&id);
            let inline = |b: &mut Self, key: &str| -> Option<crate::pricing::PicosPerToken> {
                let x = b.f64_of(mt, key, 0.0, 1_000_000.0)?;
                match crate::pricing::PicosPerToken::from_usd_per_mtok(x) {
                    Ok(n) => Some(n),
                    Err(e) => {
                        let span = b.get(mt, key).map(|v| b.sp(v)).unwrap_or(kspan);
                        b.error(
                            "invalid-value",
                            span,
                            e.to_string(),
                            Some(
                                "prices are USD per million tokens with at most six decimals"
                                    .into(),
                            ),
                        );
                        None
                    }
                }
            };
            let input = inline(self, "input_per_mtok");
            let output = inline(self, "output_per_mtok");
            let cw5 = inline(self, "cache_write_5m_per_mtok");
            let cw1 = inline(self, "cache_write_1h_per_mtok");
            let cr = inline(self, "cache_read_per_mtok");
            let bi = inline(self, "batch_input_per_mtok");
            let bo = inline(self, "batch_output_per_mtok");
            if prices.is_none() {
                match (input, output) {
                    (Some(_), Some(_)) => prices = Some(Prices::default()),
                    _ => {
                        self.error(
                            "unknown-price",
                            id_span,
                            format!("no price for model id `{id}`"),
                            Some("add `input_per_mtok` and `output_per_mtok`, or use an id from the price table (rules/pricing/bedrock.toml)".into()),
                        );
                        self.broken_models.insert(alias);
                        continue;
                    }
                }
            }
            let mut p = prices.unwrap_or_default();
            if let Some(x) = input {
                p.input = x;
            }
            if let Some(x) = output {
                p.output = x;
            }
            for (slot, v) in [
                (&mut p.cache_write_5m, cw5),
                (&mut p.cache_write_1h, cw1),
                (&mut p.cache_read, cr),
                (&mut p.batch_input, bi),
                (&mut p.batch_output, bo),
            ] {
                if v.is_some() {
                    *slot = v;
                }
            }
            let max_out = self.u32_of(mt, "max_output_tokens", 1);
            let pc_min = self
                .u32_of(mt, "prompt_cache_min_tokens", 1)
                .or(p.prompt_cache_min_tokens);
            let _ = self.str_of(mt, "description");
            let idx = ModelIdx(self.models.len() as u32);
            self.model_index.insert(alias.clone(), idx);
            self.models.push(Model {
                alias,
                id,
                prices: p,
                max_output_tokens: max_out,
                prompt_cache_min_tokens: pc_min,
                span: kspan,
            });
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

    fn when(&mut self, t: &Table<'_>) -> Option<Option<TExpr>> {
        let Some(v) = self.get(t, "when") else {
            return Some(None);
        };
        let Some(text) = v.get_ref().as_str() else {
            self.wrong_type("when", v, "a string holding an expression");
            return None;
        };
        let raw = v.span();
        let file_text = self
            .sources
            .get(self.file)
            .map(|f| f.text.as_str())
            .unwrap_or("");
        let map = match crate::tomlstr::decode(file_text, raw.start, raw.end) {
            Some((decoded, offsets)) if decoded == text => OffsetMap {
                file: self.file,
                offsets,
            },
            _ => OffsetMap {
                file: self.file,
                offsets: vec![raw.start as u32; text.len() + 1],
            },
        };
        let node = match expr::parse_with(text, self.opts.limits.expr) {
            Ok(n) => n,
            Err(e) => {
                let span = map.span(e.span.clone());
                self.diags
                    .push(Diagnostic::error(e.code, span, e.message).with_help_opt(e.help));
                return None;
            }
        };
        let limits = CheckLimits {
            regex_size: self.opts.limits.regex_size,
        };
        let checked = expr::check(&node, &self.schema, &map, limits, &mut self.diags)?;
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

    fn section(&mut self, sec: Section, v: &Val<'_>) {
        let name = sec.name();
        let items: Vec<&Val<'_>> = match v.get_ref().as_array() {
            Some(a) => a.iter().collect(),
            None => {
                let span = self.sp(v);
                self.error(
                    "wrong-type",
                    span,
                    format!("`{name}` must be an array of tables"),
                    Some(format!("write `[[{name}]]` before each rule")),
                );
                return;
            }
        };
        for item in items {
            let Some(t) = item.get_ref().as_table() else {
                let span = self.sp(item);
                self.error(
                    "wrong-type",
                    span,
                    format!("each `{name}` rule must be a table"),
                    Some(format!("write `[[{name}]]` before each rule")),
                );
                continue;
            };
            self.rule(sec, item, t);
        }
    }

    fn rule(&mut self, sec: Section, item: &Val<'_>, t: &Table<'_>) {
        let sname = sec.name();
        let common = ["name", "when", "description"];
        let extra: &[&str] = match sec {
            Section::Route => &["model", "max_output_tokens", "fallback"],
            Section::Cache => &[
                "key",
                "scope",
                "ttl",
                "version",
                "normalize",
                "cache_truncated",
                "cache_tool_use",
            ],
            Section::PromptCache => &["points", "ttl", "expected_reuse"],
            Section::Batch => &[],
            Section::Limit => &[
                "max_output_tokens",
                "max_attempts",
                "retry_budget_pct",
                "cancel_on_repetition",
                "repetition",
            ],
            Section::Budget => &["daily_usd", "group_by", "action"],
        };
        let allowed: Vec<&str> = common.iter().chain(extra).copied().collect();
        self.unknown_keys(t, &allowed, &format!("[[{sname}]]"));
        let at = self.key_span_or(item);
        let name = self.str_of(t, "name");
        let Some((name, nspan)) = self.required(
            name,
            t,
            at,
            "name",
            &format!("a [[{sname}]] rule"),
            "\"my-rule\"",
        ) else {
            return;
        };
        if name.is_empty() || name == "none" {
            self.error(
                "invalid-name",
                nspan,
                format!("`{name}` cannot name a rule"),
                Some("`none` means \"no rule\" in tests".into()),
            );
        }
        if let Some(prev) = self.rule_names.get(&(sec, name.clone())) {
            let loc = self.sources.location(*prev);
            self.error(
                "duplicate",
                nspan,
                format!("rule `{name}` is defined twice in [[{sname}]]"),
                Some(format!(
                    "it is already defined at {loc}; rule names are unique per section"
                )),
            );
            return;
        }
        self.rule_names.insert((sec, name.clone()), nspan);
        let when = self.when(t);
        let _ = self.str_of(t, "description");
        let ok_before = self.diags.iter().filter(|d| d.is_error()).count();
        match sec {
            Section::Route => {
                let model = self.str_of(t, "model");
                let model =
                    self.required(model, t, nspan, "model", "a [[route]] rule", "\"haiku\"");
                let model = model.and_then(|(m, s)| self.model_ref(&m, s));
                let cap = self.u32_of(t, "max_output_tokens", 1);
                let mut fallback = Vec::new();
                for (alias, s) in self.str_list_of(t, "fallback").unwrap_or_default() {
                    if let Some(m) = self.model_ref(&alias, s) {
                        fallback.push(m);
                    }
                }
                if let (Some(model), Some(when)) = (model, when) {
                    self.routes.push(Rule {
                        name,
                        when,
                        span: nspan,
                        then: Route {
                            model,
                            max_output_tokens: cap,
                            fallback,
                        },
                    });
                }
            }
            Section::Cache => {
                let key = self.str_list_of(t, "key");
                let key = self.required(
                    key,
                    t,
                    nspan,
                    "key",
                    "a [[cache]] rule",
                    "[\"system\", \"messages\"]",
                );
                if let Some(v) = self
                    .get(t, "key")
                    .filter(|_| key.as_ref().is_some_and(Vec::is_empty))
                {
                    let span = self.sp(v);
                    self.error("invalid-value", span, "`key` is empty: every request in scope would share one entry", Some("name what the answer depends on, e.g. `key = [\"system\", \"messages\"]`".into()));
                }
                let fields = self.named_set(
                    &KeyField::ALL,
                    key.unwrap_or_default(),
                    "cache key field",
                    "key fields are `system`, `messages`, `retrieval_ids`, `model`, `inference`, `tools`",
                );
                let scope = self.str_of(t, "scope");
                let scope =
                    self.required(scope, t, nspan, "scope", "a [[cache]] rule", "\"tenant\"");
                let scope = scope.and_then(|(s, sp)| {
                    if s == "global" {
                        Some(Scope::Global)
                    } else {
                        self.string_attr(&s, sp, "scope").map(Scope::Attr)
                    }
                });
                let ttl = self.duration(t, "ttl", nspan, "a [[cache]] rule");
                let version = self.u32_of(t, "version", 0).unwrap_or(0);
                let normalize = match self.str_of(t, "normalize") {
                    None => None,
                    Some((s, _)) if s == "whitespace" => Some(Normalize::Whitespace),
                    Some((s, sp)) => {
                        self.error(
                            "invalid-value",
                            sp,
                            format!("unknown normalization `{s}`"),
                            Some("the only normalization is `whitespace`".into()),
                        );
                        None
                    }
                };
                let cache_truncated = self.bool_of(t, "cache_truncated").unwrap_or(false);
                let cache_tool_use = self.bool_of(t, "cache_tool_use").unwrap_or(false);
                if let (Some(scope), Some(ttl_s), Some(when)) = (scope, ttl, when) {
                    if !fields.is_empty() || self.get(t, "key").is_some() {
                        self.caches.push(Rule {
                            name,
                            when,
                            span: nspan,
                            then: Cache {
                                key: fields,
                                scope,
                                ttl_s,
                                version,
                                normalize,
                                cache_truncated,
                                cache_tool_use,
                            },
                        });
                    }
                }
            }
            Section::PromptCache => {
                let pts = self.str_list_of(t, "points");
                let pts = self.required(
                    pts,
                    t,
                    nspan,
                    "points",
                    "a [[prompt_cache]] rule",
                    "[\"system\"]",
                );
                let points = self.named_set(
                    &CachePointSite::ALL,
                    pts.unwrap_or_default(),
                    "cache point",
                    "cache points go after `tools`, `system` or `messages`",
                );
                let ttl_s = match self.str_of(t, "ttl") {
                    None => Some(300),
                    Some((s, _)) if s == "5m" => Some(300),
                    Some((s, _)) if s == "1h" => Some(3600),
                    Some((s, sp)) => {
                        self.error(
                            "invalid-duration",
                            sp,
                            format!("prompt-cache ttl `{s}` is not one of Bedrock's"),
                            Some("Bedrock caches prompts for `5m` (the default) or `1h`".into()),
                        );
                        None
                    }
                };
                let expected_reuse = self.f64_of(t, "expected_reuse", 0.0, 1e9);
                if let (Some(ttl_s), Some(when)) = (ttl_s, when) {
                    self.prompt_caches.push(Rule {
                        name,
                        when,
                        span: nspan,
                        then: PromptCache {
                            points,
                            ttl_s,
                            expected_reuse,
                        },
                    });
                }
            }
            Section::Batch => {
                if let Some(when) = when {
                    self.batches.push(Rule {
                        name,
                        when,
                        span: nspan,
                        then: Batch {},
                    });
                }
            }
            Section::Limit => {
                let max_output_tokens = self.u32_of(t, "max_output_tokens", 1);
                let max_attempts = self.u32_of(t, "max_attempts", 1);
                let retry_budget_pct = self.f64_of(t, "retry_budget_pct", 0.0, 1000.0);
                let cancel_on_repetition = self.bool_of(t, "cancel_on_repetition").unwrap_or(false);
                let mut repetition = Repetition::default();
                if let Some(v) = self.get(t, "repetition") {
                    if let Some(rt) = self.table(v, "repetition") {
                        self.unknown_keys(rt, &["ngram", "repeats"], "`repetition`");
                        if let Some(n) = self.u32_of(rt, "ngram", 1) {
                            repetition.ngram = n;
                        }
                        if let Some(n) = self.u32_of(rt, "repeats", 2) {
                            repetition.repeats = n;
                        }
                    }
                }
                if let Some(when) = when {
                    self.limits.push(Rule {
                        name,
                        when,
                        span: nspan,
                        then: Limit {
                            max_output_tokens,
                            max_attempts,
                            retry_budget_pct,
                            cancel_on_repetition,
                            repetition,
                        },
                    });
                }
            }
            Section::Budget => {
                let usd = self.f64_of(t, "daily_usd", 0.0, 1e9);
                let usd = self.required(usd, t, nspan, "daily_usd", "a [[budget]] rule", "100.0");
                let group_by = match self.str_of(t, "group_by") {
                    None => Some(None),
                    Some((s, _)) if s == "global" => Some(None),
                    Some((s, sp)) => self.string_attr(&s, sp, "group_by").map(Some),
                };
                let action = self.str_of(t, "action");
                let action = self.required(
                    action,
                    t,
                    nspan,
                    "action",
                    "a [[budget]] rule",
                    "\"reject\"",
                );
                let action = action.and_then(|(a, sp)| {
                    if a == "reject" {
                        Some(BudgetAction::Reject)
                    } else if let Some(alias) = a.strip_prefix("downgrade:") {
                        // Point at the alias inside the string (past the quote and `downgrade:`).
                        let at = Span {
                            start: sp.start + 1 + 10,
                            end: sp.end.saturating_sub(1).max(sp.start + 11),
                            ..sp
                        };
                        self.model_ref(alias.trim(), at)
                            .map(BudgetAction::Downgrade)
                    } else {
                        self.error(
                            "invalid-value",
                            sp,
                            format!("unknown budget action `{a}`"),
                            Some("write `\"reject\"` or `\"downgrade:ALIAS\"`".into()),
                        );
                        None
                    }
                });
                if let (Some(usd), Some(group_by), Some(action), Some(when)) =
                    (usd, group_by, action, when)
                {
                    let daily_nanos = (usd * 1e9).round() as u64;
                    self.budgets.push(Rule {
                        name,
                        when,
                        span: nspan,
                        then: Budget {
                            daily_nanos,
                            group_by,
                            action,
                        },
                    });
                }
            }
        }
        let _ = ok_before;
    }

    fn duration(&mut self, t: &Table<'_>, key: &str, at: Span, what: &str) -> Option<u64> {
        let v = self.str_of(t, key);
        let (s, sp) = self.required(v, t, at, key, what, "\"10m\"")?;
        match parse_duration(&s) {
            Some(d) => Some(d),
            None => {
                self.error(
                    "invalid-duration",
                    sp,
                    format!("invalid duration `{s}`"),
                    Some("write whole numbers with units s, m, h, d, e.g. `90s`, `10m`, `1h30m`; greater than zero".into()),
                );
                None
            }
        }
    }

    fn alerts(&mut self, v: &Val<'_>) {
        let Some(t) = self.table(v, "alerts") else {
            return;
        };
        self.unknown_keys(t, &["spend_spike"], "[alerts]");
        let Some(sv) = self.get(t, "spend_spike") else {
            return;
        };
        let Some(st) = self.table(sv, "alerts.spend_spike") else {
            return;
        };
        let here = self.key_span_or(sv);
        if let Some(prev) = self.spend_spike_span {
            let loc = self.sources.location(prev);
            self.error(
                "duplicate",
                here,
                "`[alerts.spend_spike]` is defined twice",
                Some(format!("it is already defined at {loc}; keep one")),
            );
            return;
        }
        self.spend_spike_span = Some(here);
        self.unknown_keys(
            st,
            &["factor", "trailing_days", "min_daily_usd", "group_by"],
            "[alerts.spend_spike]",
        );
        let factor = self.f64_of(st, "factor", 1.0, 1000.0).unwrap_or(2.0);
        let trailing_days = self.u32_of(st, "trailing_days", 1).unwrap_or(7);
        if trailing_days > 90 {
            let span = self
                .get(st, "trailing_days")
                .map(|v| self.sp(v))
                .unwrap_or_default();
            self.error(
                "invalid-value",
                span,
                "`trailing_days` must be at most 90",
                None,
            );
        }
        let min = self.f64_of(st, "min_daily_usd", 0.0, 1e9).unwrap_or(5.0);
        let group_by = match self.str_of(st, "group_by") {
            // Default: by feature, when the policy has a `feature` string attribute.
            None => self
                .schema
                .id("feature")
                .filter(|id| self.schema.get(*id).map(|d| d.ty) == Some(Type::String)),
            Some((s, _)) if s == "global" => None,
            Some((s, sp)) => self.string_attr(&s, sp, "group_by"),
        };
        self.spend_spike = Some(SpendSpike {
            factor,
            trailing_days,
            min_daily_nanos: (min * 1e9).round() as u64,
            group_by,
        });
    }

    fn tests(&mut self, v: &Val<'_>) {
        let Some(arr) = v.get_ref().as_array() else {
            let span = self.sp(v);
            self.error(
                "wrong-type",
                span,
                "`test` must be an array of tables",
                Some("write `[[test]]` before each case".into()),
            );
            return;
        };
        for item in arr.iter() {
            let Some(t) = item.get_ref().as_table() else {
                let span = self.sp(item);
                self.error("wrong-type", span, "each `test` must be a table", None);
                continue;
            };
            self.unknown_keys(t, &["name", "request", "expect", "description"], "[[test]]");
            let at = self.key_span_or(item);
            let name = self.str_of(t, "name");
            let Some((name, nspan)) = self.required(
                name,
                t,
                at,
                "name",
                "a [[test]]",
                "\"kb answers are cached\"",
            ) else {
                continue;
            };
            let mut request = serde_json::Map::new();
            match self.get(t, "request") {
                Some(rv) => match rv.get_ref().as_table() {
                    Some(rt) => {
                        for (k, val) in rt.iter() {
                            request.insert(k.get_ref().to_string(), to_json(val.get_ref()));
                        }
                        self.check_request(rt, "");
                    }
                    None => self.wrong_type("request", rv, "a table"),
                },
                None => {
                    self.error(
                        "missing-key",
                        nspan,
                        "a [[test]] needs `request`",
                        Some("add `request = { feature = \"chat\" }`".into()),
                    );
                }
            }
            let mut expect = Vec::new();
            let mut expect_model = None;
            let mut expect_cap = None;
            match self.get(t, "expect") {
                Some(ev) => match ev.get_ref().as_table() {
                    Some(et) => {
                        let mut keys: Vec<&str> = Section::ALL.iter().map(|s| s.name()).collect();
                        keys.push("model");
                        keys.push("max_output_tokens");
                        self.unknown_keys(et, &keys, "`expect`");
                        for sec in Section::ALL {
                            if let Some((s, sp)) = self.str_of(et, sec.name()) {
                                expect.push((sec, s, sp));
                            }
                        }
                        expect_model = self.str_of(et, "model");
                        if let Some(cv) = self.get(et, "max_output_tokens") {
                            match (
                                cv.get_ref().as_str(),
                                int_of(cv.get_ref()).and_then(|i| u32::try_from(i).ok()),
                            ) {
                                (Some("none"), _) => expect_cap = Some(None),
                                (_, Some(n)) => expect_cap = Some(Some(n)),
                                _ => self.wrong_type(
                                    "max_output_tokens",
                                    cv,
                                    "a whole number or \"none\"",
                                ),
                            }
                        }
                    }
                    None => self.wrong_type("expect", ev, "a table"),
                },
                None => {
                    self.error(
                        "missing-key",
                        nspan,
                        "a [[test]] needs `expect`",
                        Some("add `expect = { route = \"my-rule\" }`".into()),
                    );
                }
            }
            if let Some(prev) = self.raw_tests.iter().find(|t| t.name == name) {
                let loc = self.sources.location(prev.span);
                self.error(
                    "duplicate",
                    nspan,
                    format!("test `{name}` is defined twice"),
                    Some(format!(
                        "it is already defined at {loc}; test names are unique"
                    )),
                );
            }
            self.raw_tests.push(RawTest {
                file: self.file,
                name,
                span: nspan,
                request,
                expect,
                expect_model,
                expect_cap,
            });
        }
    }

    /// Type-check a test request against the schema; warn about keys that
    /// are not attributes (they would be silently ignored).
    fn check_request(&mut self, t: &Table<'_>, prefix: &str) {
        for (k, v) in t.iter() {
            let name = if prefix.is_empty() {
                k.get_ref().to_string()
            } else {
                format!("{prefix}.{}", k.get_ref())
            };
            let span = self.sp(k);
            match self
                .schema
                .id(&name)
                .and_then(|id| self.schema.get(id))
                .map(|d| d.ty)
            {
                Some(ty) => {
                    let ok = match (ty, v.get_ref()) {
                        (Type::Bool, DeValue::Boolean(_)) | (Type::String, DeValue::String(_)) => {
                            true
                        }
                        (Type::Int, DeValue::Integer(_)) => true,
                        (Type::Int, DeValue::Float(_)) => {
                            float_of(v.get_ref()).is_some_and(|f| f.fract() == 0.0)
                        }
                        (Type::Float, DeValue::Integer(_) | DeValue::Float(_)) => true,
                        // A TOML offset date-time, or an RFC 3339 string.
                        (Type::Timestamp, DeValue::Datetime(d)) => {
                            crate::time::Timestamp::parse(&d.to_string()).is_some()
                        }
                        (Type::Timestamp, DeValue::String(t)) => {
                            crate::time::Timestamp::parse(t).is_some()
                        }
                        (Type::StrMap, DeValue::Table(m)) => m
                            .iter()
                            .all(|(_, x)| matches!(x.get_ref(), DeValue::String(_))),
                        (Type::IntMap, DeValue::Table(m)) => m
                            .iter()
                            .all(|(_, x)| matches!(x.get_ref(), DeValue::Integer(_))),
                        (Type::List(e), DeValue::Array(a)) => a.iter().all(|x| {
                            matches!(
                                (e, x.get_ref()),
                                (crate::schema::Elem::String, DeValue::String(_))
                                    | (crate::schema::Elem::Int, DeValue::Integer(_))
                            )
                        }),
                        _ => false,
                    };
                    if !ok {
                        let vspan = self.sp(v);
                        let found = kind(v.get_ref());
                        self.error(
                            "wrong-type",
                            vspan,
                            format!("attribute `{name}` is `{ty}`, the test gives {found}"),
                            (ty == Type::Timestamp).then(|| {
                                "give a date-time with an offset, as in `2026-01-01T09:30:00Z`, or that as a string".into()
                            }),
                        );
                    }
                }
                None => match v.get_ref().as_table() {
                    Some(inner) => self.check_request(inner, &name),
                    None => {
                        let help = did_you_mean(&name, self.schema.iter().map(|(_, a)| a.name.as_str()))
                            .or_else(|| Some("requests may carry other keys, but a test case should only set attributes".into()));
                        self.diags.push(
                            Diagnostic::warning(
                                "unknown-attribute",
                                span,
                                format!("test request sets `{name}`, which is not an attribute"),
                            )
                            .with_help_opt(help),
                        );
                    }
                },
            }
        }
    }

    fn finish(
        mut self,
        sources: SourceMap,
        policy_prices: Option<&crate::policy_prices::PolicyPrices>,
    ) -> Result<Loaded, LoadError> {
        // Policy-level references.
        let default_model = self
            .default_model
            .clone()
            .and_then(|(m, s)| self.model_ref(&m, s));
        let mut redact = Vec::new();
        for (r, s) in self.redact.clone() {
            match self.schema.id(&r) {
                Some(id) => redact.push(id),
                None => {
                    let help = did_you_mean(&r, self.schema.iter().map(|(_, a)| a.name.as_str()));
                    self.error(
                        "unknown-attribute",
                        s,
                        format!("unknown attribute `{r}`"),
                        help,
                    );
                }
            }
        }
        if let Some(id) = self.schema.id("prompt") {
            if !redact.contains(&id) {
                redact.push(id);
            }
        }
        // Tests name existing rules and models.
        let mut tests = Vec::new();
        for raw in std::mem::take(&mut self.raw_tests) {
            self.file = raw.file;
            let mut expect = Vec::new();
            for (sec, name, sp) in raw.expect {
                if name == "none" {
                    expect.push((sec, Expect::None));
                    continue;
                }
                if self.rule_names.contains_key(&(sec, name.clone())) {
                    expect.push((sec, Expect::Rule(name)));
                } else {
                    let names: Vec<String> = self
                        .rule_names
                        .keys()
                        .filter(|(s, _)| *s == sec)
                        .map(|(_, n)| n.clone())
                        .collect();
                    let help = did_you_mean(&name, names.iter().map(String::as_str))
                        .or_else(|| Some("write a rule name of that section, or \"none\"".into()));
                    self.error(
                        "test-unknown-rule",
                        sp,
                        format!(
                            "test `{}` expects unknown {} rule `{name}`",
                            raw.name,
                            sec.name()
                        ),
                        help,
                    );
                }
            }
            let expect_model = match raw.expect_model {
                Some((m, sp)) => {
                    if !self.model_index.contains_key(&m) {
                        let help = did_you_mean(&m, self.models.iter().map(|x| x.alias.as_str()));
                        self.error(
                            "unknown-model",
                            sp,
                            format!("test `{}` expects unknown model `{m}`", raw.name),
                            help,
                        );
                    }
                    Some(m)
                }
                None => None,
            };
            tests.push(TestCase {
                name: raw.name,
                span: raw.span,
                request: raw.request,
                expect,
                expect_model,
                expect_max_output_tokens: raw.expect_cap,
            });
        }
        self.price_checks(default_model);
        let warnings = if self.diags.iter().any(Diagnostic::is_error) {
            Vec::new()
        } else {
            lint::lint(&lint::LintInput {
                models: &self.models,
                default_model,
                model_uses: &self.model_uses,
                routes: &self.routes,
                caches: &self.caches,
                prompt_caches: &self.prompt_caches,
                batches: &self.batches,
                limits: &self.limits,
                budgets: &self.budgets,
            })
        };
        let mut diags = self.diags;
        diags.extend(warnings);
        diags.sort_by_key(|d| (d.span.map(|s| (s.file, s.start)), d.severity));
        let (Some(name), Some(default_model)) = (self.policy_name, default_model) else {
            if !diags.iter().any(Diagnostic::is_error) {
                diags.push(Diagnostic::path_error(
                    "missing-policy",
                    "<policy>",
                    "the policy has no name or default model",
                ));
            }
            return Err(LoadError {
                sources,
                diagnostics: diags,
            });
        };
        if diags.iter().any(Diagnostic::is_error) {
            return Err(LoadError {
                sources,
                diagnostics: diags,
            });
        }
        let hash = crate::router::hash_with_routers(
            crate::policy_prices::hash_with(sources.content_hash(), policy_prices),
            &self.routers,
        );
        let price_table = std::sync::Arc::clone(self.prices);
        let (warnings, _): (Vec<_>, Vec<_>) = diags.into_iter().partition(|d| !d.is_error());
        Ok(Loaded {
            policy: Policy {
                name,
                default_model,
                redact,
                schema: self.schema,
                declared: self.declared,
                models: self.models,
                routes: self.routes,
                caches: self.caches,
                prompt_caches: self.prompt_caches,
                batches: self.batches,
                limits: self.limits,
                budgets: self.budgets,
                spend_spike: self.spend_spike,
                tests,
                routers: self.routers,
                sources,
                hash,
                price_table,
            },
            warnings,
        })
    }

    /// A model without cache (batch) prices must not serve a request a
    /// `[[prompt_cache]]` (`[[batch]]`) rule can match.
    fn price_checks(&mut self, default_model: Option<ModelIdx>) {
        // Which models can serve alongside which conditions.
        let mut serving: Vec<(ModelIdx, Conjunction<'_>, Span)> = Vec::new();
        for r in &self.routes {
            let c = Conjunction::of(r.when.as_ref());
            serving.push((r.then.model, c.clone(), r.span));
            for f in &r.then.fallback {
                serving.push((*f, c.clone(), r.span));
            }
        }
        for b in &self.budgets {
            if let BudgetAction::Downgrade(m) = b.then.action {
                serving.push((m, Conjunction::of(b.when.as_ref()), b.span));
            }
        }
        if let Some(m) = default_model {
            serving.push((m, Conjunction::default(), Span::default()));
        }
        let mut errors = Vec::new();
        for (what, rules, has_price) in [
            (
                "prompt caching",
                self.prompt_caches
                    .iter()
                    .map(|r| (r.name.as_str(), r.when.as_ref(), r.span))
                    .collect::<Vec<_>>(),
                (|p: &Prices| p.cache_read.is_some() && p.cache_write_5m.is_some())
                    as fn(&Prices) -> bool,
            ),
            (
                "batch inference",
                self.batches
                    .iter()
                    .map(|r| (r.name.as_str(), r.when.as_ref(), r.span))
                    .collect(),
                |p: &Prices| p.batch_input.is_some() && p.batch_output.is_some(),
            ),
        ] {
            for (rname, when, rspan) in rules {
                let c = Conjunction::of(when);
                for (m, sc, _) in &serving {
                    let Some(model) = self.models.get(m.index()) else {
                        continue;
                    };
                    if has_price(&model.prices) || !sc.may_overlap(&c) {
                        continue;
                    }
                    errors.push((rspan, format!("model `{}` has no {what} prices, and rule `{rname}` can apply to requests it serves", model.alias), m.index()));
                }
            }
        }
        let mut seen = HashSet::new();
        for (span, msg, m) in errors {
            if seen.insert((span.start, span.file, m)) {
                self.error("missing-price", span, msg, Some("add the prices to the model (e.g. `cache_read_per_mtok`, `batch_input_per_mtok`), or make the conditions exclude each other".into()));
            }
        }
    }
}

fn lowercase_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}

fn to_json(v: &DeValue<'_>) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        DeValue::String(s) => J::String(s.to_string()),
        DeValue::Integer(_) => int_of(v).map(J::from).unwrap_or(J::Null),
        DeValue::Float(_) => float_of(v)
            .and_then(serde_json::Number::from_f64)
            .map(J::Number)
            .unwrap_or(J::Null),
        DeValue::Boolean(b) => J::Bool(*b),
        DeValue::Datetime(d) => J::String(d.to_string()),
        DeValue::Array(a) => J::Array(a.iter().map(|x| to_json(x.get_ref())).collect()),
        DeValue::Table(t) => J::Object(
            t.iter()
                .map(|(k, x)| (k.get_ref().to_string(), to_json(x.get_ref())))
                .collect(),
        ),
    }
}
