//! The typed TOML reader: [`Keys`] reads the keys of one table as the
//! types the language wants, reports values of the wrong type where they
//! stand, and records every key it was asked for, so the keys nobody read
//! are the unknown ones ([`Keys::finish`]). A section's allowed keys are
//! therefore exactly the keys its reader reads, listed in the help in the
//! order it reads them.

use crate::diag::{did_you_mean, Diagnostic};
use crate::pricing::PicosPerToken;
use crate::source::{FileId, Span};
use toml::de::{DeTable, DeValue};
use toml::Spanned;

pub(super) type Table<'i> = DeTable<'i>;
pub(super) type Val<'i> = Spanned<DeValue<'i>>;

/// Where the diagnostics of the file being read go.
pub(super) struct Diags {
    /// The file being read; spans of TOML values are offsets into it.
    pub file: FileId,
    /// Everything reported so far, in report order.
    pub list: Vec<Diagnostic>,
}

impl Diags {
    pub fn span(&self, r: std::ops::Range<usize>) -> Span {
        Span::new(self.file, r)
    }

    pub fn sp<T>(&self, v: &Spanned<T>) -> Span {
        self.span(v.span())
    }

    pub fn error(
        &mut self,
        code: &'static str,
        span: Span,
        msg: impl Into<String>,
        help: Option<String>,
    ) {
        self.list
            .push(Diagnostic::error(code, span, msg).with_help_opt(help));
    }

    pub fn wrong_type(&mut self, key: &str, v: &Val<'_>, want: &str) {
        let span = self.sp(v);
        let found = kind(v.get_ref());
        self.error(
            "wrong-type",
            span,
            format!("`{key}` must be {want}, found {found}"),
            None,
        );
    }

    /// `v` as a table, or a `wrong-type` error naming it `[name]`.
    pub fn table<'t, 'i>(&mut self, v: &'t Val<'i>, name: &str) -> Option<&'t Table<'i>> {
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

    /// The values a list of names stands for, looked up in `table`, sorted
    /// and without repeats; an unknown name is an error with a suggestion
    /// (or `listing`, the names there are).
    pub fn named_set<T: Copy + Ord>(
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
}

/// A reader of one table's keys.
///
/// Every getter records its key, read or absent; [`Keys::finish`] reports
/// the table's other keys as unknown. A reader made [`quiet`](Keys::quiet)
/// (its table is already rejected) still records keys but reports no value
/// errors, so one mistake is not reported twice over.
pub(super) struct Keys<'t, 'i> {
    table: &'t Table<'i>,
    read: Vec<&'static str>,
    quiet: bool,
}

impl<'t, 'i> Keys<'t, 'i> {
    pub fn new(table: &'t Table<'i>) -> Self {
        Keys {
            table,
            // One allocation: no table has more keys than this.
            read: Vec::with_capacity(16),
            quiet: false,
        }
    }

    /// Report no more value errors: the table is rejected already.
    pub fn quiet(&mut self) {
        self.quiet = true;
    }

    fn lookup(&self, key: &str) -> Option<&'t Val<'i>> {
        self.table
            .iter()
            .find(|(k, _)| k.get_ref().as_ref() == key)
            .map(|(_, v)| v)
    }

    /// The raw value of `key`.
    pub fn get(&mut self, key: &'static str) -> Option<&'t Val<'i>> {
        if !self.read.contains(&key) {
            self.read.push(key);
        }
        self.lookup(key)
    }

    /// Does the table hold `key`?
    pub fn has(&self, key: &str) -> bool {
        self.lookup(key).is_some()
    }

    fn sink<'d>(&self, d: &'d mut Diags) -> Option<&'d mut Diags> {
        (!self.quiet).then_some(d)
    }

    pub fn str(&mut self, d: &mut Diags, key: &'static str) -> Option<(String, Span)> {
        let v = self.get(key)?;
        match v.get_ref().as_str() {
            Some(s) => Some((s.to_string(), d.sp(v))),
            None => {
                if let Some(d) = self.sink(d) {
                    d.wrong_type(key, v, "a string");
                }
                None
            }
        }
    }

    pub fn u32(&mut self, d: &mut Diags, key: &'static str, min: u32) -> Option<u32> {
        let v = self.get(key)?;
        let d = self.sink(d);
        if !matches!(v.get_ref(), DeValue::Integer(_)) {
            if let Some(d) = d {
                let help = v
                    .get_ref()
                    .as_str()
                    .filter(|s| s.trim().parse::<u64>().is_ok())
                    .map(|s| format!("drop the quotes: `{key} = {}`", s.trim()));
                let span = d.sp(v);
                let found = kind(v.get_ref());
                d.error(
                    "wrong-type",
                    span,
                    format!("`{key}` must be a whole number, found {found}"),
                    help,
                );
            }
            return None;
        }
        match int_of(v.get_ref()).and_then(|i| u32::try_from(i).ok()) {
            Some(i) if i >= min => Some(i),
            _ => {
                if let Some(d) = d {
                    let span = d.sp(v);
                    d.error(
                        "invalid-value",
                        span,
                        format!("`{key}` must be a whole number from {min} to {}", u32::MAX),
                        None,
                    );
                }
                None
            }
        }
    }

    pub fn f64(&mut self, d: &mut Diags, key: &'static str, min: f64, max: f64) -> Option<f64> {
        let v = self.get(key)?;
        let d = self.sink(d);
        match float_of(v.get_ref()) {
            Some(x) if x.is_finite() && x >= min && x <= max => Some(x),
            Some(_) => {
                if let Some(d) = d {
                    let span = d.sp(v);
                    d.error(
                        "invalid-value",
                        span,
                        format!("`{key}` must be a number from {min} to {max}"),
                        None,
                    );
                }
                None
            }
            None => {
                if let Some(d) = d {
                    d.wrong_type(key, v, "a number");
                }
                None
            }
        }
    }

    pub fn bool(&mut self, d: &mut Diags, key: &'static str) -> Option<bool> {
        let v = self.get(key)?;
        match v.get_ref().as_bool() {
            Some(b) => Some(b),
            None => {
                if let Some(d) = self.sink(d) {
                    d.wrong_type(key, v, "true or false");
                }
                None
            }
        }
    }

    pub fn str_list(&mut self, d: &mut Diags, key: &'static str) -> Option<Vec<(String, Span)>> {
        let v = self.get(key)?;
        let quiet = self.quiet;
        let Some(arr) = v.get_ref().as_array() else {
            if !quiet {
                d.wrong_type(key, v, "an array of strings");
            }
            return None;
        };
        let mut out = Vec::new();
        for item in arr.iter() {
            match item.get_ref().as_str() {
                Some(s) => out.push((s.to_string(), d.sp(item))),
                None => {
                    if !quiet {
                        d.wrong_type(key, item, "an array of strings");
                    }
                    return None;
                }
            }
        }
        Some(out)
    }

    /// A sub-table, read by its own [`Keys`].
    pub fn table(&mut self, d: &mut Diags, key: &'static str) -> Option<Keys<'t, 'i>> {
        let v = self.get(key)?;
        if self.quiet {
            return v.get_ref().as_table().map(Keys::new);
        }
        d.table(v, key).map(Keys::new)
    }

    /// Is the table rejected already?
    pub fn is_quiet(&self) -> bool {
        self.quiet
    }

    /// Where `key` itself (not its value) stands.
    pub fn key_span(&mut self, d: &Diags, key: &'static str) -> Option<Span> {
        if !self.read.contains(&key) {
            self.read.push(key);
        }
        self.table
            .iter()
            .find(|(k, _)| k.get_ref().as_ref() == key)
            .map(|(k, _)| d.sp(k))
    }

    /// A required duration string such as `"10m"`, in seconds.
    pub fn duration(
        &mut self,
        d: &mut Diags,
        key: &'static str,
        at: Span,
        what: &str,
    ) -> Option<u64> {
        let v = self.str(d, key);
        let (s, sp) = self.required(d, v, key, at, what, "\"10m\"")?;
        match parse_duration(&s) {
            Some(secs) => Some(secs),
            None => {
                if !self.quiet {
                    d.error(
                        "invalid-duration",
                        sp,
                        format!("invalid duration `{s}`"),
                        Some("write whole numbers with units s, m, h, d, e.g. `90s`, `10m`, `1h30m`; greater than zero".into()),
                    );
                }
                None
            }
        }
    }

    /// A price in USD per million tokens.
    pub fn price(&mut self, d: &mut Diags, key: &'static str) -> Option<PicosPerToken> {
        let x = self.f64(d, key, 0.0, 1_000_000.0)?;
        match PicosPerToken::from_usd_per_mtok(x) {
            Ok(n) => Some(n),
            Err(e) => {
                if let (false, Some(v)) = (self.quiet, self.lookup(key)) {
                    let span = d.sp(v);
                    d.error(
                        "invalid-value",
                        span,
                        e.to_string(),
                        Some("prices are USD per million tokens with at most six decimals".into()),
                    );
                }
                None
            }
        }
    }

    /// `v`, after a `missing-key` error at `at` ("`what` needs `key`",
    /// help: add `key = example`) when the table lacks `key`.
    pub fn required<T>(
        &self,
        d: &mut Diags,
        v: Option<T>,
        key: &str,
        at: Span,
        what: &str,
        example: &str,
    ) -> Option<T> {
        if v.is_none() && !self.has(key) && !self.quiet {
            d.error(
                "missing-key",
                at,
                format!("{what} needs `{key}`"),
                Some(format!("add `{key} = {example}`")),
            );
        }
        v
    }

    /// Report every key of the table no getter asked for, as a key of `what`.
    pub fn finish(self, d: &mut Diags, what: &str) {
        let allowed = &self.read;
        for (k, _) in self.table.iter() {
            let name = k.get_ref().as_ref();
            if allowed.contains(&name) {
                continue;
            }
            // `[[routes]]` is a misspelt `[[route]]` far more often than a
            // misspelt `[routers]`, which string distance ranks first.
            let near = allowed
                .iter()
                .copied()
                .filter(|a| *a != "routers" || name.starts_with("router"));
            let help = did_you_mean(name, near).or_else(|| {
                Some(format!(
                    "{what} takes {}",
                    allowed
                        .iter()
                        .map(|a| format!("`{a}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            });
            let span = d.sp(k);
            d.error(
                "unknown-key",
                span,
                format!("unknown key `{name}` in {what}"),
                help,
            );
        }
    }
}

pub(super) fn kind(v: &DeValue<'_>) -> &'static str {
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

pub(super) fn int_of(v: &DeValue<'_>) -> Option<i64> {
    let i = v.as_integer()?;
    i64::from_str_radix(&i.as_str().replace('_', ""), i.radix()).ok()
}

pub(super) fn float_of(v: &DeValue<'_>) -> Option<f64> {
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

/// A TOML value as JSON (a `[[test]]` request).
pub(super) fn to_json(v: &DeValue<'_>) -> serde_json::Value {
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "a test fails by panicking")]
    use super::*;

    fn diags() -> Diags {
        Diags {
            file: FileId(0),
            list: Vec::new(),
        }
    }

    #[test]
    fn the_keys_read_are_the_allowed_ones_listed_in_read_order() {
        let t = DeTable::parse("b = 1\nzzz = true\na = \"x\"\n").unwrap();
        let mut d = diags();
        let mut k = Keys::new(t.get_ref());
        assert_eq!(k.u32(&mut d, "b", 0), Some(1));
        assert_eq!(k.str(&mut d, "a").map(|(s, _)| s), Some("x".to_string()));
        assert_eq!(k.bool(&mut d, "c"), None);
        k.finish(&mut d, "[t]");
        let got: Vec<_> = d
            .list
            .iter()
            .map(|x| (x.code, x.message.as_str(), x.help.as_deref(), x.span))
            .collect();
        assert_eq!(
            got,
            [(
                "unknown-key",
                "unknown key `zzz` in [t]",
                Some("[t] takes `b`, `a`, `c`"),
                Some(Span::new(FileId(0), 6..9)),
            )]
        );
    }

    #[test]
    fn a_quiet_reader_reports_unknown_keys_but_no_value_errors() {
        let t = DeTable::parse("n = \"x\"\nmodle = 1\n").unwrap();
        let mut d = diags();
        let mut k = Keys::new(t.get_ref());
        k.quiet();
        assert_eq!(k.u32(&mut d, "n", 0), None);
        let at = Span::new(FileId(0), 0..1);
        let model = k.u32(&mut d, "model", 0);
        assert_eq!(k.required(&mut d, model, "model", at, "it", "1"), None);
        k.finish(&mut d, "[t]");
        let got: Vec<_> = d.list.iter().map(|x| (x.code, x.help.as_deref())).collect();
        assert_eq!(got, [("unknown-key", Some("did you mean `model`?"))]);
    }
}
