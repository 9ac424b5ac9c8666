//! `[[cache]]`: response caching: the key, its scope, the time to live.

use super::keys::Keys;
use super::Build;
use crate::policy::{Cache, KeyField, Normalize, Scope};
use crate::source::Span;

impl Build<'_> {
    /// A cache rule's keys; missing ones are reported at `at`.
    pub(super) fn cache(&mut self, k: &mut Keys<'_, '_>, at: Span) -> Option<Cache> {
        let what = "a [[cache]] rule";
        let d = &mut self.d;
        let key = k.str_list(d, "key");
        let key = k.required(d, key, "key", at, what, "[\"system\", \"messages\"]");
        let key_value = k.get("key");
        let scope = k.str(d, "scope");
        let scope = k.required(d, scope, "scope", at, what, "\"tenant\"");
        let ttl = k.duration(d, "ttl", at, what);
        let version = k.u32(d, "version", 0).unwrap_or(0);
        let normalize = k.str(d, "normalize");
        let cache_truncated = k.bool(d, "cache_truncated").unwrap_or(false);
        let cache_tool_use = k.bool(d, "cache_tool_use").unwrap_or(false);
        if k.is_quiet() {
            return None;
        }
        if let Some(v) = key_value.filter(|_| key.as_ref().is_some_and(Vec::is_empty)) {
            let span = d.sp(v);
            d.error(
                "invalid-value",
                span,
                "`key` is empty: every request in scope would share one entry",
                Some(
                    "name what the answer depends on, e.g. `key = [\"system\", \"messages\"]`"
                        .into(),
                ),
            );
        }
        let fields = d.named_set(
            &KeyField::ALL,
            key.unwrap_or_default(),
            "cache key field",
            "key fields are `system`, `messages`, `retrieval_ids`, `model`, `inference`, `tools`",
        );
        let scope = scope.and_then(|(s, sp)| {
            if s == "global" {
                Some(Scope::Global)
            } else {
                self.string_attr(&s, sp, "scope").map(Scope::Attr)
            }
        });
        let normalize = match normalize {
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
        if fields.is_empty() && key_value.is_none() {
            return None;
        }
        Some(Cache {
            key: fields,
            scope: scope?,
            ttl_s: ttl?,
            version,
            normalize,
            cache_truncated,
            cache_tool_use,
        })
    }
}
