//! `[[prompt_cache]]`: Bedrock prompt-cache points and their time to live.

use super::keys::Keys;
use super::Build;
use crate::policy::{CachePointSite, PromptCache};
use crate::source::Span;

impl Build<'_> {
    /// A prompt-cache rule's keys; missing ones are reported at `at`.
    pub(super) fn prompt_cache(&mut self, k: &mut Keys<'_, '_>, at: Span) -> Option<PromptCache> {
        let d = &mut self.d;
        let pts = k.str_list(d, "points");
        let pts = k.required(
            d,
            pts,
            "points",
            at,
            "a [[prompt_cache]] rule",
            "[\"system\"]",
        );
        let ttl = k.str(d, "ttl");
        let expected_reuse = k.f64(d, "expected_reuse", 0.0, 1e9);
        if k.is_quiet() {
            return None;
        }
        let points = d.named_set(
            &CachePointSite::ALL,
            pts.unwrap_or_default(),
            "cache point",
            "cache points go after `tools`, `system` or `messages`",
        );
        let ttl_s = match ttl {
            None => 300,
            Some((s, _)) if s == "5m" => 300,
            Some((s, _)) if s == "1h" => 3600,
            Some((s, sp)) => {
                d.error(
                    "invalid-duration",
                    sp,
                    format!("prompt-cache ttl `{s}` is not one of Bedrock's"),
                    Some("Bedrock caches prompts for `5m` (the default) or `1h`".into()),
                );
                return None;
            }
        };
        Some(PromptCache {
            points,
            ttl_s,
            expected_reuse,
        })
    }
}
