//! `tollgate decide`: JSON Lines requests from stdin, one JSON decision per
//! line on stdout.

use crate::engine;
use std::io::{BufRead, Write};
use std::path::PathBuf;
use tollgate_engine::{to_json, Request};

/// The `decide` arguments.
#[derive(clap::Args)]
pub struct Args {
    /// Policy file or directory.
    path: PathBuf,
}

/// Runs `tollgate decide`.
pub fn run(a: Args) -> Result<bool, String> {
    let path = a.path.as_path();
    let Some(l) = crate::load(path) else {
        return Ok(false);
    };
    let policy = &l.policy;
    let engine = engine::Engine::new(policy.clone()).map_err(|e| e.to_string())?;
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let mut ok = true;
    let mut buf = Vec::new();
    let mut input = stdin.lock();
    let mut line_no = 0usize;
    loop {
        buf.clear();
        let n = input
            .read_until(b'\n', &mut buf)
            .map_err(|e| format!("stdin: {e}"))?;
        if n == 0 {
            break;
        }
        line_no += 1;
        let mut bytes: &[u8] = &buf;
        if line_no == 1 {
            bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        }
        let bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
        let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
        if bytes.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let parsed = std::str::from_utf8(bytes)
            .map_err(|e| format!("invalid UTF-8: {e}"))
            .and_then(|t| Request::parse(policy.schema(), t).map_err(|e| e.to_string()));
        let r = match parsed {
            Ok(req) => {
                let mut ctx = req.context(policy.schema());
                crate::score_prompt(
                    policy,
                    &mut ctx,
                    std::str::from_utf8(bytes).unwrap_or_default(),
                );
                let d = engine.decide(&ctx);
                serde_json::to_writer(&mut out, &to_json(policy, &d, &ctx))
            }
            Err(e) => {
                ok = false;
                serde_json::to_writer(&mut out, &serde_json::json!({"line": line_no, "error": e}))
            }
        };
        r.map_err(|e| format!("stdout: {e}"))?;
        out.write_all(b"\n").map_err(|e| format!("stdout: {e}"))?;
    }
    out.flush().map_err(|e| format!("stdout: {e}"))?;
    Ok(ok)
}
