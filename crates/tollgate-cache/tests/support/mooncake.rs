//! The Mooncake conversation trace (`data/mooncake-conversation/`), parsed.

use std::path::PathBuf;

/// One row: `{"timestamp", "input_length", "output_length", "hash_ids"}`.
pub struct Row {
    pub timestamp_ms: u64,
    pub input_length: u64,
    pub output_length: u64,
    pub hash_ids: Vec<u64>,
}

pub fn path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../data/mooncake-conversation/conversation_trace.jsonl")
}

pub fn load() -> Vec<Row> {
    let p = path();
    let text =
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()));
    text.lines()
        .enumerate()
        .map(|(i, line)| {
            let v: serde_json::Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("line {}: {e}", i + 1));
            let int = |k: &str| {
                v.get(k)
                    .and_then(serde_json::Value::as_u64)
                    .unwrap_or_else(|| panic!("line {}: no `{k}`", i + 1))
            };
            let hash_ids = v
                .get("hash_ids")
                .and_then(serde_json::Value::as_array)
                .unwrap_or_else(|| panic!("line {}: no `hash_ids`", i + 1))
                .iter()
                .map(|x| {
                    x.as_u64()
                        .unwrap_or_else(|| panic!("line {}: bad hash id", i + 1))
                })
                .collect();
            Row {
                timestamp_ms: int("timestamp"),
                input_length: int("input_length"),
                output_length: int("output_length"),
                hash_ids,
            }
        })
        .collect()
}
