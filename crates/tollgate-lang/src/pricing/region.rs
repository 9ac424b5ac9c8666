//! Regions and cross-region inference profiles.
//!
//! Bedrock bills a call at the rate of its *source* region: the region of
//! the endpoint the client called, whichever region then served it. A
//! geographic inference profile (`us.`, `eu.`, `apac.`, `jp.`, `au.`, `ca.`,
//! `us-gov.`) may only be called from a region of its geography; `global.`
//! from any commercial region. So a price is found from (model, source
//! region), and a profile prefix only checks the geography and decides
//! whether the model's regional-endpoint premium applies.

/// The region prices are quoted for when none is given.
pub const DEFAULT_REGION: &str = "us-east-1";

/// Cross-region inference-profile prefixes, longest first where they share a
/// start (`us-gov.` before `us.`).
pub const PROFILE_PREFIXES: &[&str] = &[
    "us-gov.", "us.", "eu.", "apac.", "au.", "jp.", "ca.", "global.",
];

/// The profile prefix whose prices never carry a regional premium.
pub const GLOBAL_PREFIX: &str = "global.";

/// The region a profile prefix is priced at when the caller names no region:
/// us-east-1 unless the prefix's geography excludes it.
pub fn home_region(prefix: Option<&str>) -> &'static str {
    match prefix {
        Some("eu.") => "eu-central-1",
        Some("apac.") | Some("jp.") => "ap-northeast-1",
        Some("au.") => "ap-southeast-2",
        Some("ca.") => "ca-central-1",
        Some("us-gov.") => "us-gov-west-1",
        _ => DEFAULT_REGION,
    }
}

/// Whether a call through `prefix` may come from `region`.
pub fn in_geography(prefix: &str, region: &str) -> bool {
    match prefix {
        "us." => region.starts_with("us-") && !is_govcloud(region),
        "us-gov." => is_govcloud(region),
        "eu." => region.starts_with("eu-"),
        "apac." => region.starts_with("ap-"),
        "jp." => matches!(region, "ap-northeast-1" | "ap-northeast-3"),
        "au." => matches!(region, "ap-southeast-2" | "ap-southeast-4"),
        "ca." => region.starts_with("ca-"),
        "global." => !is_govcloud(region) && !region.starts_with("cn-"),
        _ => false,
    }
}

/// The source regions a prefix accepts, for error messages.
pub fn geography_of(prefix: &str) -> &'static str {
    match prefix {
        "us." => "us-* regions (not GovCloud)",
        "us-gov." => "us-gov-* regions",
        "eu." => "eu-* regions",
        "apac." => "ap-* regions",
        "jp." => "ap-northeast-1, ap-northeast-3",
        "au." => "ap-southeast-2, ap-southeast-4",
        "ca." => "ca-* regions",
        "global." => "commercial regions",
        _ => "no region",
    }
}

/// AWS GovCloud (US): priced apart from every commercial region.
pub fn is_govcloud(region: &str) -> bool {
    region.starts_with("us-gov-")
}

/// `("us.", "anthropic.x")` for `"us.anthropic.x"`; `None` without a known prefix.
pub fn split_profile_prefix(id: &str) -> Option<(&'static str, &str)> {
    PROFILE_PREFIXES
        .iter()
        .find_map(|&p| id.strip_prefix(p).map(|rest| (p, rest)))
        .filter(|(_, rest)| !rest.is_empty())
}

/// The model id inside an ARN (the part after the last `/`); other ids unchanged.
pub fn strip_arn(model_id: &str) -> &str {
    if model_id.starts_with("arn:") {
        model_id.rsplit_once('/').map_or(model_id, |(_, id)| id)
    } else {
        model_id
    }
}

/// How well a region pattern (`eu-west-1`, or a prefix ending in `*` such as
/// `eu-*`) matches `region`: `None` when it does not, else a rank where an
/// exact name beats any wildcard and a longer wildcard beats a shorter one.
pub fn pattern_rank(pattern: &str, region: &str) -> Option<usize> {
    match pattern.strip_suffix('*') {
        Some(prefix) => region.starts_with(prefix).then_some(prefix.len()),
        None => (pattern == region).then_some(usize::MAX),
    }
}

/// Whether `s` is a region name or pattern the table accepts: lowercase
/// letters, digits and `-`, optionally ending in `*`.
pub fn valid_pattern(s: &str) -> bool {
    let body = s.strip_suffix('*').unwrap_or(s);
    !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geographies() {
        assert!(in_geography("us.", "us-west-2"));
        assert!(!in_geography("us.", "us-gov-west-1"));
        assert!(!in_geography("eu.", "us-east-1"));
        assert!(in_geography("jp.", "ap-northeast-1"));
        assert!(!in_geography("jp.", "ap-south-1"));
        assert!(in_geography("global.", "eu-west-1"));
        assert!(!in_geography("global.", "us-gov-east-1"));
    }

    #[test]
    fn exact_region_beats_wildcard() {
        assert_eq!(pattern_rank("eu-*", "eu-west-1"), Some(3));
        assert_eq!(pattern_rank("eu-west-1", "eu-west-1"), Some(usize::MAX));
        assert_eq!(pattern_rank("eu-west-1", "eu-west-2"), None);
    }
}
