//! Reading a policy's files: a `.toml` file, or the rule files of a
//! directory ([`rule_files`], which the watcher of a hot-reloaded policy
//! uses too, so both agree on which files form the policy).

use super::Limits;
use crate::diag::Diagnostic;
use crate::source::{SourceFile, SourceMap};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

/// Is a file of this name one of a policy directory's rule files? Names
/// ending in `.toml` that do not start with `.` (editors' and Kubernetes'
/// hidden files).
pub fn is_rule_file(name: &OsStr) -> bool {
    let n = name.to_string_lossy();
    !n.starts_with('.') && n.ends_with(".toml")
}

/// The rule files of a policy directory, in the order they are merged
/// (by file name).
pub fn rule_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .filter(|e| is_rule_file(&e.file_name()))
        .map(|e| e.path())
        .collect();
    names.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    Ok(names)
}

pub(super) fn read_path(
    path: &Path,
    limits: &Limits,
    sources: &mut SourceMap,
    diags: &mut Vec<Diagnostic>,
) {
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
    let names = match rule_files(path) {
        Ok(names) => names,
        Err(e) => {
            diags.push(Diagnostic::path_error(
                "io",
                &shown,
                format!("cannot list `{shown}`: {e}"),
            ));
            return;
        }
    };
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
