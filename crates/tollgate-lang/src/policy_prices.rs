//! `[policy] prices = "path"`: a price table file that overrides the
//! built-in entries it holds.
//!
//! Why a pre-pass: the file is named inside a policy file but must never be
//! merged as one, even when it sits in the policy directory (its
//! `[models."ID"]` tables would otherwise read as model aliases). So before
//! the policy is built, every source is scanned for the key, the named file
//! is read (and dropped from the sources if the directory listing picked it
//! up), and its table is parsed; its bytes then join the policy hash, so a
//! price change is a policy change, and a reload re-reads it.

use crate::diag::Diagnostic;
use crate::load::Limits;
use crate::pricing::PriceTable;
use crate::source::{SourceFile, SourceMap};
use std::path::{Path, PathBuf};

/// The price file a policy names, read and parsed.
#[derive(Debug, Clone)]
pub(crate) struct PolicyPrices {
    /// The path as shown in messages (the policy file's directory joined
    /// with the value).
    pub shown: String,
    /// The file's bytes (UTF-8).
    pub text: String,
    /// The parsed table.
    pub table: PriceTable,
}

/// Finds `[policy] prices` in the sources, drops the named file from them,
/// and reads and parses it. Errors are pushed to `diags`.
pub(crate) fn extract(
    sources: SourceMap,
    limits: &Limits,
    diags: &mut Vec<Diagnostic>,
) -> (SourceMap, Option<PolicyPrices>) {
    let named = sources.files().iter().find_map(|f| {
        // Only a file that mentions the key is parsed here (the loader
        // parses every file once more anyway; this keeps the pre-pass free).
        if !f.text.contains("prices") {
            return None;
        }
        let root: toml::Table = toml::from_str(&f.text).ok()?;
        let value = root.get("policy")?.as_table()?.get("prices")?.as_str()?;
        let dir = Path::new(&f.path).parent().unwrap_or(Path::new(""));
        Some(dir.join(value))
    });
    let Some(path) = named else {
        return (sources, None);
    };
    let shown = path.display().to_string();
    let mut kept = SourceMap::new();
    for f in sources.files() {
        if !same_file(Path::new(&f.path), &path) {
            kept.add(SourceFile::new(f.path.clone(), f.text.clone()));
        }
    }
    let text = match read(&path, limits) {
        Ok(t) => t,
        Err(msg) => {
            diags.push(Diagnostic::path_error("io", &shown, msg).with_help(
                "`[policy] prices` names a price table file relative to the policy file",
            ));
            return (kept, None);
        }
    };
    match PriceTable::parse(&text) {
        Ok(table) => (kept, Some(PolicyPrices { shown, text, table })),
        Err(e) => {
            diags.push(
                Diagnostic::path_error(
                    "invalid-value",
                    &shown,
                    format!("invalid price table `{shown}`: {e}"),
                )
                .with_help("the format is documented at the top of rules/pricing/bedrock.toml"),
            );
            (kept, None)
        }
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => normalize(a) == normalize(b),
    }
}

fn normalize(p: &Path) -> PathBuf {
    p.components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .collect()
}

fn read(path: &Path, limits: &Limits) -> Result<String, String> {
    use std::io::Read;
    let shown = path.display();
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read `{shown}`: {e}"))?;
    let mut bytes = Vec::new();
    file.take(limits.max_file_bytes as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read `{shown}`: {e}"))?;
    if bytes.len() > limits.max_file_bytes {
        return Err(format!(
            "`{shown}` is larger than the limit of {} bytes",
            limits.max_file_bytes
        ));
    }
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "`{shown}` is not valid UTF-8 (byte {})",
            e.utf8_error().valid_up_to()
        )
    })
}

/// The policy hash with the price file's name and bytes mixed in.
pub(crate) fn hash_with(hash: u128, prices: Option<&PolicyPrices>) -> u128 {
    let Some(p) = prices else {
        return hash;
    };
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    h.update(&hash.to_le_bytes());
    h.update(&(p.shown.len() as u64).to_le_bytes());
    h.update(p.shown.as_bytes());
    h.update(&(p.text.len() as u64).to_le_bytes());
    h.update(p.text.as_bytes());
    h.digest128()
}
