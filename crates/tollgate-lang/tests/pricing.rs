//! The price table: exact pico-dollar conversion, the built-in Bedrock table,
//! model-id lookups (profiles, ARNs, markups, regions, tiers) and model facts.

use tollgate_lang::{
    usd_per_mtok_to_picos, CacheSites, LongContext, LookupError, PicosPerToken, PriceError,
    PriceTable, Prices, Tier,
};

const SONNET_4: &str = "anthropic.claude-sonnet-4-20250514-v1:0";
const SONNET_4_5: &str = "anthropic.claude-sonnet-4-5-20250929-v1:0";
const HAIKU_3: &str = "anthropic.claude-3-haiku-20240307-v1:0";
const HAIKU_3_5: &str = "anthropic.claude-3-5-haiku-20241022-v1:0";

/// Every model the built-in table must cover, in file order.
const BUILTIN_MODELS: &[&str] = &[
    HAIKU_3,
    HAIKU_3_5,
    "anthropic.claude-3-5-sonnet-20240620-v1:0",
    "anthropic.claude-3-5-sonnet-20241022-v2:0",
    "anthropic.claude-3-7-sonnet-20250219-v1:0",
    SONNET_4,
    "anthropic.claude-opus-4-20250514-v1:0",
    "anthropic.claude-opus-4-1-20250805-v1:0",
    SONNET_4_5,
    "anthropic.claude-haiku-4-5-20251001-v1:0",
    "anthropic.claude-opus-4-5-20251101-v1:0",
    "anthropic.claude-sonnet-4-6",
    "anthropic.claude-opus-4-6-v1",
    "amazon.nova-micro-v1:0",
    "amazon.nova-lite-v1:0",
    "amazon.nova-pro-v1:0",
    "amazon.nova-premier-v1:0",
    "amazon.nova-2-lite-v1:0",
    "amazon.nova-2-pro-preview-20251202-v1:0",
    "meta.llama3-8b-instruct-v1:0",
    "meta.llama3-70b-instruct-v1:0",
    "meta.llama3-1-8b-instruct-v1:0",
    "meta.llama3-1-70b-instruct-v1:0",
    "meta.llama3-1-405b-instruct-v1:0",
    "meta.llama3-2-1b-instruct-v1:0",
    "meta.llama3-2-3b-instruct-v1:0",
    "meta.llama3-2-11b-instruct-v1:0",
    "meta.llama3-2-90b-instruct-v1:0",
    "meta.llama3-3-70b-instruct-v1:0",
    "meta.llama4-scout-17b-instruct-v1:0",
    "meta.llama4-maverick-17b-instruct-v1:0",
    "openai.gpt-oss-120b-1:0",
    "openai.gpt-oss-20b-1:0",
    "openai.gpt-oss-safeguard-120b",
    "openai.gpt-oss-safeguard-20b",
    "deepseek.r1-v1:0",
    "deepseek.v3-v1:0",
    "deepseek.v3.2",
    "qwen.qwen3-coder-480b-a35b-v1:0",
    "qwen.qwen3-235b-a22b-2507-v1:0",
    "qwen.qwen3-coder-30b-a3b-v1:0",
    "qwen.qwen3-32b-v1:0",
    "qwen.qwen3-next-80b-a3b",
    "qwen.qwen3-vl-235b-a22b",
    "qwen.qwen3-coder-next",
    "mistral.mistral-7b-instruct-v0:2",
    "mistral.mixtral-8x7b-instruct-v0:1",
    "mistral.mistral-large-2402-v1:0",
    "mistral.mistral-large-2407-v1:0",
    "mistral.mistral-small-2402-v1:0",
    "mistral.pixtral-large-2502-v1:0",
    "mistral.mistral-large-3-675b-instruct",
    "mistral.magistral-small-2509",
    "mistral.ministral-3-3b-instruct",
    "mistral.ministral-3-8b-instruct",
    "mistral.ministral-3-14b-instruct",
    "mistral.devstral-2-123b",
    "amazon.titan-embed-text-v2:0",
    "amazon.titan-embed-text-v1",
    "cohere.embed-english-v3",
    "cohere.embed-multilingual-v3",
    "cohere.embed-v4:0",
];

/// The built-in prices for `id`, failing the test when it is absent.
fn builtin(id: &str) -> Prices {
    let prices = PriceTable::builtin().lookup(id);
    assert!(prices.is_some(), "`{id}` is not in the built-in table");
    prices.unwrap_or_default()
}

/// The error message `text` fails to parse with.
fn parse_err(text: &str) -> String {
    match PriceTable::parse(text) {
        Ok(t) => format!("parsed without error: {t:?}"),
        Err(e) => e.to_string(),
    }
}

const fn picos(n: u64) -> PicosPerToken {
    PicosPerToken::from_picos(n)
}

fn to_picos(x: f64) -> Result<u64, PriceError> {
    usd_per_mtok_to_picos(x).map(PicosPerToken::picos)
}

#[test]
fn conversion_is_exact_for_six_decimals() {
    assert_eq!(to_picos(0.035), Ok(35_000));
    assert_eq!(to_picos(0.00875), Ok(8_750));
    assert_eq!(to_picos(0.0175), Ok(17_500));
    assert_eq!(to_picos(0.546875), Ok(546_875));
    assert_eq!(to_picos(4.0), Ok(4_000_000));
    assert_eq!(to_picos(1.325), Ok(1_325_000));
    assert_eq!(to_picos(0.0), Ok(0));
    assert_eq!(to_picos(0.000001), Ok(1));
    assert_eq!(to_picos(1_000_000.0), Ok(1_000_000_000_000));
}

#[test]
fn conversion_is_exact_for_every_six_decimal_price_up_to_2_usd(
) -> Result<(), std::num::ParseFloatError> {
    for p in 0..=2_000_000u64 {
        let text = format!("{}.{:06}", p / 1_000_000, p % 1_000_000);
        let usd: f64 = text.parse()?;
        assert_eq!(to_picos(usd), Ok(p), "`{text}`");
        assert_eq!(picos(p).usd_per_mtok(), usd, "`{text}`");
    }
    Ok(())
}

#[test]
fn conversion_rejects_seventh_decimal_negative_nan_and_absurd() {
    assert_eq!(
        to_picos(0.0000001),
        Err(PriceError::TooPrecise { value: 0.0000001 })
    );
    assert_eq!(
        to_picos(0.1234567),
        Err(PriceError::TooPrecise { value: 0.1234567 })
    );
    assert_eq!(to_picos(-1.0), Err(PriceError::Negative { value: -1.0 }));
    assert!(matches!(
        to_picos(f64::NAN),
        Err(PriceError::NotFinite { .. })
    ));
    assert!(matches!(
        to_picos(f64::INFINITY),
        Err(PriceError::NotFinite { .. })
    ));
    assert_eq!(
        to_picos(1_000_000.001),
        Err(PriceError::TooLarge {
            value: 1_000_000.001
        })
    );
    assert_eq!(
        to_picos(0.0000001).map_err(|e| e.to_string()),
        Err("price `0.0000001` has more than six decimals (USD per million tokens)".to_owned())
    );
}

#[test]
fn picos_display_as_exact_usd_per_mtok() {
    assert_eq!(picos(35_000).to_string(), "0.035");
    assert_eq!(picos(3_300_000).to_string(), "3.3");
    assert_eq!(picos(8_750).to_string(), "0.00875");
    assert_eq!(picos(0).to_string(), "0");
}

#[test]
fn builtin_table_parses_and_covers_every_listed_model() -> Result<(), PriceError> {
    let text = tollgate_lang::BUILTIN_TOML;
    let table = PriceTable::parse(text)?;
    assert_eq!(&table, PriceTable::builtin());
    let ids: Vec<&str> = table.iter().map(|(id, _)| id).collect();
    assert_eq!(ids, BUILTIN_MODELS, "built-in models, in file order");
    Ok(())
}

#[test]
fn builtin_rows_all_carry_a_public_source_and_a_date() {
    for (id, p) in PriceTable::builtin().iter() {
        let source = p.source.as_deref().unwrap_or_default();
        assert!(source.starts_with("https://"), "`{id}` source: {source}");
        let as_of = p.as_of.as_deref().unwrap_or_default();
        assert_eq!(as_of.len(), 10, "`{id}` as_of: {as_of}");
        assert!(as_of.starts_with("20"), "`{id}` as_of: {as_of}");
        assert!(p.input > picos(0), "`{id}` has an input price");
        // Every built-in entry states its limits; chat models their output cap.
        assert!(p.context_window.is_some(), "`{id}` has a context window");
        if p.output > picos(0) {
            assert!(p.max_output_tokens.is_some(), "`{id}` has a max output");
        }
    }
}

#[test]
fn builtin_unverified_entries_are_the_ones_the_readme_lists() {
    let unverified: Vec<&str> = PriceTable::builtin()
        .iter()
        .filter(|(_, p)| p.unverified)
        .map(|(id, _)| id)
        .collect();
    assert_eq!(
        unverified,
        [
            "amazon.nova-pro-v1:0",
            "amazon.nova-premier-v1:0",
            "openai.gpt-oss-120b-1:0",
            "openai.gpt-oss-20b-1:0",
            "deepseek.v3-v1:0",
            "qwen.qwen3-coder-480b-a35b-v1:0",
            "qwen.qwen3-235b-a22b-2507-v1:0",
            "qwen.qwen3-coder-30b-a3b-v1:0",
            "qwen.qwen3-32b-v1:0",
        ]
    );
    let readme = include_str!("../README.md");
    for id in unverified {
        assert!(readme.contains(&format!("`{id}`")), "README lists `{id}`");
    }
}

#[test]
fn builtin_batch_is_exactly_half_of_on_demand_where_offered() {
    let p = builtin(HAIKU_3_5);
    assert_eq!((p.input, p.output), (picos(800_000), picos(4_000_000)));
    assert_eq!(
        (p.batch_input, p.batch_output),
        (Some(picos(400_000)), Some(picos(2_000_000)))
    );
    // Nova Micro's half is published to the digit: $0.0175.
    let micro = builtin("amazon.nova-micro-v1:0");
    assert_eq!(micro.batch_input, Some(picos(17_500)));
    for (id, p) in PriceTable::builtin().iter() {
        if let (Some(bi), Some(bo)) = (p.batch_input, p.batch_output) {
            assert_eq!(bi.picos() * 2, p.input.picos(), "`{id}` batch input");
            assert_eq!(bo.picos() * 2, p.output.picos(), "`{id}` batch output");
        }
        assert_eq!(p.batch_input.is_some(), p.batch_output.is_some(), "`{id}`");
        assert_eq!(p.batch_available(), p.batch_input.is_some(), "`{id}`");
    }
}

#[test]
fn builtin_cache_prices_follow_the_multipliers() {
    for (id, p) in PriceTable::builtin().iter() {
        let input = p.input.picos();
        if id.starts_with("anthropic.") {
            if let Some(w) = p.cache_write_5m {
                assert_eq!(w.picos() * 4, input * 5, "`{id}` 5m write = 1.25x input");
            }
            if let Some(w) = p.cache_write_1h {
                assert_eq!(w.picos(), input * 2, "`{id}` 1h write = 2x input");
            }
            if let Some(r) = p.cache_read {
                assert_eq!(r.picos() * 10, input, "`{id}` read = 0.1x input");
            }
            assert_eq!(
                p.cache_sites,
                if p.cache_read.is_some() {
                    CacheSites::ALL
                } else {
                    CacheSites::default()
                },
                "`{id}`"
            );
        }
        if id.starts_with("amazon.nova-") {
            assert_eq!(
                p.cache_read.map(|r| r.picos() * 4),
                Some(input),
                "`{id}` read = 0.25x"
            );
            assert_eq!(p.prompt_cache_min_tokens, Some(1000), "`{id}`");
            assert_eq!(p.cache_sites.names(), ["system", "messages"], "`{id}`");
        }
        assert_eq!(p.cache_write_5m.is_some(), p.cache_read.is_some(), "`{id}`");
        assert_eq!(
            p.cache_write_5m.is_some(),
            p.prompt_cache_min_tokens.is_some(),
            "`{id}`"
        );
    }
}

#[test]
fn claude_3_haiku_has_no_cache_prices() {
    let p = builtin(HAIKU_3);
    assert_eq!((p.input, p.output), (picos(250_000), picos(1_250_000)));
    assert_eq!(p.cache_write_5m, None);
    assert_eq!(p.cache_write_1h, None);
    assert_eq!(p.cache_read, None);
    assert_eq!(p.prompt_cache_min_tokens, None);
    assert!(p.cache_sites.is_empty());
    assert_eq!(p.cache_ttls(), (false, false));
}

#[test]
fn nova_and_embedding_rows() {
    let micro = builtin("amazon.nova-micro-v1:0");
    assert_eq!((micro.input, micro.output), (picos(35_000), picos(140_000)));
    assert_eq!(
        (micro.cache_write_5m, micro.cache_read),
        (Some(picos(35_000)), Some(picos(8_750)))
    );
    assert_eq!(micro.prompt_cache_min_tokens, Some(1000));
    assert_eq!(
        micro.cache_sites,
        CacheSites {
            system: true,
            messages: true,
            tools: false
        }
    );
    let pro = builtin("amazon.nova-pro-v1:0");
    assert_eq!(
        (pro.input, pro.cache_write_5m, pro.cache_read),
        (picos(800_000), Some(picos(800_000)), Some(picos(200_000)))
    );
    let titan = builtin("amazon.titan-embed-text-v2:0");
    assert_eq!((titan.input, titan.output), (picos(20_000), picos(0)));
    let v4 = builtin("cohere.embed-v4:0");
    assert_eq!(
        (v4.input, v4.output, v4.batch_input),
        (picos(120_000), picos(0), None)
    );
}

#[test]
fn sonnet_4_has_long_context_tier() {
    let p = builtin(SONNET_4);
    assert_eq!(
        p.long_context,
        Some(LongContext {
            threshold_tokens: 200_000,
            input: picos(6_000_000),
            output: picos(22_500_000)
        })
    );
    assert_eq!(builtin(HAIKU_3_5).long_context, None);
}

#[test]
fn model_facts() {
    let s = builtin(SONNET_4);
    assert_eq!(s.max_output_tokens(), Some(64_000));
    assert_eq!(s.context_window(), Some(1_000_000));
    assert_eq!(s.cache_min_tokens(), Some(1024));
    assert_eq!(s.cache_ttls(), (true, false));
    assert_eq!(s.tiers_offered(), [Tier::Default]);
    let s45 = builtin(SONNET_4_5);
    assert_eq!(s45.max_output_tokens(), Some(64_000));
    assert_eq!(s45.cache_ttls(), (true, true));
    assert_eq!(s45.cache_min_tokens(), Some(1024));
    let oss = builtin("openai.gpt-oss-120b-1:0");
    assert_eq!(
        oss.tiers_offered(),
        [Tier::Default, Tier::Flex, Tier::Priority]
    );
    assert!(oss.cache_sites().is_empty());
    assert!(!oss.batch_available());
    // Reservations: the smaller of cap and model max; no cap: the model max.
    assert_eq!(s.reserve_output_tokens(Some(1000)), Some(1000));
    assert_eq!(s.reserve_output_tokens(Some(100_000)), Some(64_000));
    assert_eq!(s.reserve_output_tokens(None), Some(64_000));
    // An entry without a max output is reserved at its context window.
    let user = PriceTable::parse(
        "[models.\"m\"]\ninput_per_mtok = 1\noutput_per_mtok = 1\ncontext_window = 32000\n",
    )
    .unwrap_or_default();
    assert_eq!(
        user.get("m").and_then(|p| p.reserve_output_tokens(None)),
        Some(32_000)
    );
}

#[test]
fn lookup_bare_id() {
    let p = builtin(HAIKU_3_5);
    assert_eq!(
        p,
        Prices {
            input: picos(800_000),
            output: picos(4_000_000),
            cache_write_5m: Some(picos(1_000_000)),
            cache_write_1h: None,
            cache_read: Some(picos(80_000)),
            batch_input: Some(picos(400_000)),
            batch_output: Some(picos(2_000_000)),
            prompt_cache_min_tokens: Some(2048),
            max_output_tokens: Some(8192),
            context_window: Some(200_000),
            cache_sites: CacheSites::ALL,
            source: Some(
                "https://github.com/BerriAI/litellm/blob/main/model_prices_and_context_window.json"
                    .into()
            ),
            as_of: Some("2026-07-24".into()),
            ..Prices::default()
        }
    );
}

#[test]
fn lookup_strips_profile_prefixes_without_markup_when_none_declared() {
    let table = PriceTable::builtin();
    let bare = builtin(SONNET_4);
    for (prefix, region) in [
        ("us.", "us-east-1"),
        ("eu.", "eu-west-1"),
        ("apac.", "ap-south-1"),
        ("au.", "ap-southeast-2"),
        ("jp.", "ap-northeast-1"),
        ("ca.", "ca-central-1"),
        ("global.", "us-east-1"),
    ] {
        assert_eq!(
            table.resolve(&format!("{prefix}{SONNET_4}"), region, Tier::Default),
            Ok(bare.clone()),
            "`{prefix}`"
        );
    }
}

#[test]
fn lookup_accepts_arns() {
    let table = PriceTable::builtin();
    let bare = builtin(SONNET_4);
    let foundation = format!("arn:aws:bedrock:us-east-1::foundation-model/{SONNET_4}");
    let profile = format!("arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.{SONNET_4}");
    let global =
        format!("arn:aws:bedrock:us-east-1:123456789012:inference-profile/global.{SONNET_4_5}");
    assert_eq!(table.lookup(&foundation), Some(bare.clone()));
    assert_eq!(table.lookup(&profile), Some(bare));
    assert_eq!(
        table.lookup(&global).map(|p| p.input),
        Some(picos(3_000_000))
    );
    let regional =
        format!("arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.{SONNET_4_5}");
    assert_eq!(
        table.lookup(&regional).map(|p| p.input),
        Some(picos(3_300_000))
    );
}

#[test]
fn the_4_5_models_cost_ten_percent_more_through_geographic_profiles() {
    let global = builtin(&format!("global.{SONNET_4_5}"));
    let us = builtin(&format!("us.{SONNET_4_5}"));
    let bare = builtin(SONNET_4_5);
    assert_eq!(global, bare);
    assert_eq!(
        (global.input, global.output),
        (picos(3_000_000), picos(15_000_000))
    );
    assert_eq!((us.input, us.output), (picos(3_300_000), picos(16_500_000)));
    assert_eq!(
        (us.cache_write_5m, us.cache_write_1h, us.cache_read),
        (
            Some(picos(4_125_000)),
            Some(picos(6_600_000)),
            Some(picos(330_000))
        )
    );
    assert_eq!(
        (us.batch_input, us.batch_output),
        (Some(picos(1_650_000)), Some(picos(8_250_000)))
    );
    assert_eq!(
        us.long_context,
        Some(LongContext {
            threshold_tokens: 200_000,
            input: picos(6_600_000),
            output: picos(24_750_000)
        })
    );
    assert_eq!(us.prompt_cache_min_tokens, global.prompt_cache_min_tokens);
    let table = PriceTable::builtin();
    assert_eq!(table.profile_markup_pct(SONNET_4_5), Some(10));
    assert_eq!(table.profile_markup_pct(SONNET_4), Some(0));
    // Haiku 4.5 too: $1.10 / $5.50 through every geographic profile.
    for (prefix, region) in [
        ("us.", "us-west-2"),
        ("eu.", "eu-central-1"),
        ("apac.", "ap-southeast-1"),
        ("jp.", "ap-northeast-1"),
        ("au.", "ap-southeast-2"),
    ] {
        let p = table.resolve(
            &format!("{prefix}anthropic.claude-haiku-4-5-20251001-v1:0"),
            region,
            Tier::Default,
        );
        assert_eq!(
            p.map(|p| (p.input, p.output)),
            Ok((picos(1_100_000), picos(5_500_000))),
            "`{prefix}`"
        );
    }
}

#[test]
fn regions_price_differently() {
    let t = PriceTable::builtin();
    let micro = |region| {
        t.resolve("amazon.nova-micro-v1:0", region, Tier::Default)
            .map(|p| (p.input, p.output, p.cache_read))
    };
    assert_eq!(
        micro("us-east-1"),
        Ok((picos(35_000), picos(140_000), Some(picos(8_750))))
    );
    assert_eq!(
        micro("eu-west-1"),
        Ok((picos(46_000), picos(184_000), Some(picos(11_500))))
    );
    assert_eq!(
        micro("ap-northeast-1"),
        Ok((picos(37_000), picos(148_000), Some(picos(9_250))))
    );
    // Nova Micro has no GovCloud price.
    assert!(matches!(
        micro("us-gov-west-1"),
        Err(LookupError::NoRegionPrice { .. })
    ));
    // GovCloud costs more (and the 4.5 premium is not added on top).
    let gov = t.resolve(
        &format!("us-gov.{SONNET_4_5}"),
        "us-gov-west-1",
        Tier::Default,
    );
    assert_eq!(
        gov.map(|p| (p.input, p.output, p.batch_input)),
        Ok((picos(3_600_000), picos(18_000_000), None))
    );
    // An exact region beats a pattern: Qwen3 Coder Next in eu-west-2.
    let q = |r| {
        t.resolve("qwen.qwen3-coder-next", r, Tier::Default)
            .map(|p| p.input)
    };
    assert_eq!(q("eu-west-2"), Ok(picos(780_000)));
    assert_eq!(q("eu-west-1"), Ok(picos(600_000)));
    assert_eq!(q("us-west-2"), Ok(picos(500_000)));
}

#[test]
fn profiles_of_another_geography_and_missing_tiers_are_errors() {
    let t = PriceTable::builtin();
    let e = t
        .resolve("eu.amazon.nova-micro-v1:0", "us-east-1", Tier::Default)
        .map_err(|e| e.to_string());
    assert_eq!(
        e,
        Err(
            "profile `eu.` cannot be called from `us-east-1`: it takes calls from eu-* regions"
                .to_owned()
        )
    );
    let e = t
        .resolve(SONNET_4, "us-east-1", Tier::Flex)
        .map_err(|e| e.to_string());
    assert_eq!(
        e,
        Err(format!(
            "model `{SONNET_4}` has no `flex` tier price (offered: default)"
        ))
    );
    let e = t
        .resolve("openai.gpt-oss-120b-1:0", "us-east-1", Tier::Reserved)
        .map_err(|e| e.to_string());
    assert_eq!(
        e,
        Err("model `openai.gpt-oss-120b-1:0` has no `reserved` tier price (offered: default, flex, priority)".to_owned())
    );
    let e = t
        .resolve(
            "anthropic.claude-sonet-4-20250514-v1:0",
            "us-east-1",
            Tier::Default,
        )
        .map_err(|e| e.to_string());
    assert_eq!(
        e,
        Err(format!("unknown model id `anthropic.claude-sonet-4-20250514-v1:0` (did you mean `{SONNET_4}`?)"))
    );
}

#[test]
fn tiers_replace_input_and_output_and_scale_cache_prices() {
    let t = PriceTable::builtin();
    let flex = t.resolve("amazon.nova-pro-v1:0", "us-east-1", Tier::Flex);
    assert_eq!(
        flex.map(|p| (p.input, p.output, p.cache_read, p.batch_input)),
        Ok((
            picos(400_000),
            picos(1_600_000),
            Some(picos(100_000)),
            Some(picos(400_000))
        ))
    );
    let prio = t.resolve("openai.gpt-oss-120b-1:0", "us-east-1", Tier::Priority);
    assert_eq!(
        prio.map(|p| (p.input, p.output)),
        Ok((picos(262_500), picos(1_050_000)))
    );
    // A user's table may give the reserved tier a price.
    let user = PriceTable::parse(
        "[models.\"m\"]\ninput_per_mtok = 1\noutput_per_mtok = 2\nreserved_input_per_mtok = 0.5\nreserved_output_per_mtok = 1\n",
    );
    assert_eq!(
        user.map(|u| u.resolve("m", "us-east-1", Tier::Reserved).map(|p| p.input)),
        Ok(Ok(picos(500_000)))
    );
}

#[test]
fn lookup_unknown_ids_is_none() {
    let table = PriceTable::builtin();
    assert_eq!(table.lookup("anthropic.claude-v9"), None);
    assert_eq!(
        table.lookup("xx.anthropic.claude-3-haiku-20240307-v1:0"),
        None
    );
    assert_eq!(table.lookup("us."), None);
    assert_eq!(table.lookup(""), None);
    assert_eq!(
        table.lookup("arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3"),
        None
    );
    // Only one prefix is stripped.
    assert_eq!(table.lookup(&format!("us.us.{SONNET_4}")), None);
}

#[test]
fn exact_profile_id_in_table_wins_over_prefix_stripping() -> Result<(), PriceError> {
    let text = r#"
[models."m"]
input_per_mtok = 1.0
output_per_mtok = 2.0
profile_markup_pct = 10

[models."us.m"]
input_per_mtok = 1.05
output_per_mtok = 2.0
"#;
    let table = PriceTable::parse(text)?;
    assert_eq!(
        table.lookup("us.m").map(|p| p.input),
        Some(picos(1_050_000))
    );
    assert_eq!(
        table.lookup("eu.m").map(|p| p.input),
        Some(picos(1_100_000))
    );
    assert_eq!(
        table.lookup("global.m").map(|p| p.input),
        Some(picos(1_000_000))
    );
    Ok(())
}

#[test]
fn markup_rounds_half_up_in_picos() -> Result<(), PriceError> {
    let text = "[models.\"m\"]\ninput_per_mtok = 0.000005\noutput_per_mtok = 0.000015\nprofile_markup_pct = 10\n";
    let table = PriceTable::parse(text)?;
    // 5 x 1.1 = 5.5 -> 6; 15 x 1.1 = 16.5 -> 17.
    assert_eq!(
        table.lookup("us.m").map(|p| (p.input, p.output)),
        Some((picos(6), picos(17)))
    );
    Ok(())
}

#[test]
fn parse_keeps_order_and_accepts_integer_prices() -> Result<(), PriceError> {
    let text = "[models.\"z\"]\ninput_per_mtok = 1\noutput_per_mtok = 2\n\n[models.\"a\"]\ninput_per_mtok = 0.5\noutput_per_mtok = 0\n";
    let table = PriceTable::parse(text)?;
    let rows: Vec<(&str, u64, u64)> = table
        .iter()
        .map(|(id, p)| (id, p.input.picos(), p.output.picos()))
        .collect();
    assert_eq!(rows, [("z", 1_000_000, 2_000_000), ("a", 500_000, 0)]);
    assert_eq!(table.len(), 2);
    assert_eq!(table.get("z").map(|p| p.cache_read), Some(None));
    Ok(())
}

#[test]
fn unknown_key_is_an_error_naming_key_and_model() {
    let e = parse_err(
        "[models.\"m\"]\ninput_per_mtok = 1.0\noutput_per_mtok = 2.0\ncache_reed_per_mtok = 0.1\n",
    );
    assert_eq!(
        e,
        "unknown key `cache_reed_per_mtok` in model `m` (did you mean `cache_read_per_mtok`?)"
    );
    let e = parse_err("[models.\"m\"]\ninput_per_mtok = 1.0\noutput_per_mtok = 2.0\ncolour = 1\n");
    assert_eq!(e, "unknown key `colour` in model `m`");
    let e = parse_err("[model.\"m\"]\ninput_per_mtok = 1.0\n");
    assert_eq!(
        e,
        "unknown top-level key `model` in the price table (expected `[models.\"ID\"]` tables)"
    );
}

#[test]
fn bad_values_are_errors_naming_key_and_model() {
    let e = parse_err("[models.\"m\"]\ninput_per_mtok = 0.0000001\noutput_per_mtok = 2.0\n");
    assert_eq!(
        e,
        "`input_per_mtok` of model `m`: price `0.0000001` has more than six decimals (USD per million tokens)"
    );
    let e = parse_err("[models.\"m\"]\ninput_per_mtok = \"1.0\"\noutput_per_mtok = 2.0\n");
    assert_eq!(
        e,
        "`input_per_mtok` of model `m` must be a number, not a string"
    );
    let e = parse_err("[models.\"m\"]\ninput_per_mtok = -1\noutput_per_mtok = 2.0\n");
    assert_eq!(e, "`input_per_mtok` of model `m`: price `-1` is negative");
    let e = parse_err("[models.\"m\"]\noutput_per_mtok = 2.0\n");
    assert_eq!(e, "model `m` lacks `input_per_mtok`");
    let e = parse_err(
        "[models.\"m\"]\ninput_per_mtok = 1.0\noutput_per_mtok = 2.0\nprofile_markup_pct = 5000\n",
    );
    assert_eq!(
        e,
        "`profile_markup_pct` of model `m` is `5000`, outside 0..=1000"
    );
    let e = parse_err("[models.\"m\"]\ninput_per_mtok = 1.0\noutput_per_mtok = 2.0\nlong_context_input_per_mtok = 2.0\n");
    assert_eq!(
        e,
        "model `m` gives `long_context_input_per_mtok` without `long_context_threshold_tokens` (the long-context tier needs all three keys)"
    );
    let e = parse_err(
        "[models.\"m\"]\ninput_per_mtok = 1.0\noutput_per_mtok = 2.0\nflex_input_per_mtok = 0.5\n",
    );
    assert_eq!(
        e,
        "model `m` gives `flex_input_per_mtok` without `flex_output_per_mtok` (a tier needs both prices)"
    );
    let e = parse_err(
        "[models.\"m\"]\ninput_per_mtok = 1.0\noutput_per_mtok = 2.0\ncache_sites = [\"tool\"]\n",
    );
    assert_eq!(
        e,
        "`cache_sites` of model `m` holds `tool`, expected `system`, `messages` or `tools`"
    );
    let e = parse_err("[models]\nm = 3\n");
    assert_eq!(e, "`models.\"m\"` must be a table");
}

#[test]
fn regional_blocks_must_price_what_the_model_prices() {
    let base = "[models.\"m\"]\ninput_per_mtok = 1\noutput_per_mtok = 2\ncache_read_per_mtok = 0.1\ncache_write_5m_per_mtok = 1\nbatch_input_per_mtok = 0.5\nbatch_output_per_mtok = 1\n";
    let e = parse_err(&format!(
        "{base}\n[[models.\"m\".regional]]\nregions = [\"eu-*\"]\ninput_per_mtok = 2\noutput_per_mtok = 4\ncache_write_5m_per_mtok = 2\n"
    ));
    assert_eq!(
        e,
        "regional prices for `eu-*` of model `m` lack `cache_read_per_mtok`, which the model's own prices give"
    );
    // Batch may be left out: not offered there.
    let t = PriceTable::parse(&format!(
        "{base}\n[[models.\"m\".regional]]\nregions = [\"eu-*\"]\ninput_per_mtok = 2\noutput_per_mtok = 4\ncache_write_5m_per_mtok = 2\ncache_read_per_mtok = 0.2\n"
    ));
    assert_eq!(
        t.map(|t| t
            .resolve("m", "eu-west-3", Tier::Default)
            .map(|p| (p.input, p.batch_input))),
        Ok(Ok((picos(2_000_000), None)))
    );
    let e = parse_err(&format!(
        "{base}\n[[models.\"m\".regional]]\nregions = [\"EU\"]\ninput_per_mtok = 2\noutput_per_mtok = 4\n"
    ));
    assert_eq!(
        e,
        "`regions` of model `m` holds `EU`, expected a region name such as `eu-west-1` or `eu-*`"
    );
}

#[test]
fn toml_syntax_error_has_line_and_column() {
    let e = PriceTable::parse("[models.\"m\"]\ninput_per_mtok = = 1\n").err();
    assert!(
        matches!(
            e,
            Some(PriceError::Syntax {
                line: 2,
                column: 18,
                ..
            })
        ),
        "{e:?}"
    );
}

#[test]
fn overrides_replace_rows_in_place_and_append_new_ones() -> Result<(), PriceError> {
    let mut table = PriceTable::builtin().clone();
    let overrides = PriceTable::parse(
        "[models.\"amazon.nova-micro-v1:0\"]\ninput_per_mtok = 0.04\noutput_per_mtok = 0.16\n\n[models.\"my.custom-model\"]\ninput_per_mtok = 1\noutput_per_mtok = 1\n",
    )?;
    let before = table.len();
    table.override_with(overrides);
    assert_eq!(table.len(), before + 1);
    assert_eq!(
        table.lookup("us.amazon.nova-micro-v1:0").map(|p| p.input),
        Some(picos(40_000))
    );
    assert_eq!(
        table
            .iter()
            .position(|(id, _)| id == "amazon.nova-micro-v1:0"),
        BUILTIN_MODELS
            .iter()
            .position(|id| *id == "amazon.nova-micro-v1:0")
    );
    assert_eq!(
        table.iter().last().map(|(id, _)| id),
        Some("my.custom-model")
    );
    Ok(())
}

#[test]
fn a_policy_price_file_overrides_the_builtin_table_and_joins_the_hash() {
    let dir = std::env::temp_dir().join(format!("tollgate-policy-prices-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_default();
    let policy = "[policy]\nname = \"p\"\ndefault_model = \"micro\"\nprices = \"prices.toml\"\n\n[models.micro]\nid = \"us.amazon.nova-micro-v1:0\"\n";
    let write = |name: &str, text: &str| std::fs::write(dir.join(name), text).is_ok();
    assert!(write("policy.toml", policy));
    // In the policy directory, yet never merged as a policy file.
    assert!(write(
        "prices.toml",
        "[models.\"amazon.nova-micro-v1:0\"]\ninput_per_mtok = 0.04\noutput_per_mtok = 0.16\n"
    ));
    let opts = tollgate_lang::LoadOptions::default();
    let loaded = tollgate_lang::load_path(&dir, &opts).map_err(|e| format!("{:?}", e.diagnostics));
    let loaded = loaded.map(|l| (l.policy.models()[0].prices.input, l.policy.hash()));
    assert_eq!(loaded.as_ref().map(|l| l.0), Ok(picos(40_000)));
    let hash = loaded.map_or(0, |l| l.1);
    assert_eq!(
        PriceTable::builtin()
            .lookup("amazon.nova-micro-v1:0")
            .map(|p| p.input),
        Some(picos(35_000))
    );
    // A price change is a policy change.
    assert!(write(
        "prices.toml",
        "[models.\"amazon.nova-micro-v1:0\"]\ninput_per_mtok = 0.05\noutput_per_mtok = 0.16\n"
    ));
    let again = tollgate_lang::load_path(&dir, &opts)
        .map(|l| l.policy.hash())
        .ok();
    assert!(again.is_some_and(|h| h != hash));
    // A bad price file is a located error.
    assert!(write(
        "prices.toml",
        "[models.\"m\"]\ninput_per_mtok = 0.0000001\noutput_per_mtok = 1\n"
    ));
    let e = tollgate_lang::load_path(&dir, &opts)
        .err()
        .map(|e| e.diagnostics[0].message.clone());
    assert_eq!(
        e,
        Some(format!(
            "invalid price table `{}`: `input_per_mtok` of model `m`: price `0.0000001` has more than six decimals (USD per million tokens)",
            dir.join("prices.toml").display()
        ))
    );
    let _ = std::fs::remove_dir_all(&dir);
}
