//! The price table: exact nano-dollar conversion, the built-in Bedrock table
//! and model-id lookups (profiles, ARNs, markups).

use tollgate_lang::pricing::{
    nanos_to_usd_per_mtok, usd_per_mtok_to_nanos, LongContext, PriceError, PriceTable, Prices,
};

const SONNET_4: &str = "anthropic.claude-sonnet-4-20250514-v1:0";
const SONNET_4_5: &str = "anthropic.claude-sonnet-4-5-20250929-v1:0";
const HAIKU_3: &str = "anthropic.claude-3-haiku-20240307-v1:0";
const HAIKU_3_5: &str = "anthropic.claude-3-5-haiku-20241022-v1:0";

/// Every model the built-in table must cover.
const BUILTIN_MODELS: &[&str] = &[
    HAIKU_3,
    HAIKU_3_5,
    "anthropic.claude-3-5-sonnet-20240620-v1:0",
    "anthropic.claude-3-5-sonnet-20241022-v2:0",
    "anthropic.claude-3-7-sonnet-20250219-v1:0",
    SONNET_4,
    "anthropic.claude-opus-4-20250514-v1:0",
    SONNET_4_5,
    "anthropic.claude-haiku-4-5-20251001-v1:0",
    "amazon.nova-micro-v1:0",
    "amazon.nova-lite-v1:0",
    "amazon.nova-pro-v1:0",
    "meta.llama3-8b-instruct-v1:0",
    "meta.llama3-70b-instruct-v1:0",
    "meta.llama3-1-8b-instruct-v1:0",
    "meta.llama3-1-70b-instruct-v1:0",
    "meta.llama3-3-70b-instruct-v1:0",
    "amazon.titan-embed-text-v2:0",
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

#[test]
fn conversion_is_exact_for_three_decimals() {
    assert_eq!(usd_per_mtok_to_nanos(0.035), Ok(35));
    assert_eq!(usd_per_mtok_to_nanos(0.8), Ok(800));
    assert_eq!(usd_per_mtok_to_nanos(4.0), Ok(4000));
    assert_eq!(usd_per_mtok_to_nanos(15.0), Ok(15000));
    assert_eq!(usd_per_mtok_to_nanos(1.325), Ok(1325));
    assert_eq!(usd_per_mtok_to_nanos(22.5), Ok(22500));
    assert_eq!(usd_per_mtok_to_nanos(0.0), Ok(0));
    assert_eq!(usd_per_mtok_to_nanos(0.001), Ok(1));
    assert_eq!(usd_per_mtok_to_nanos(1_000_000.0), Ok(1_000_000_000));
}

#[test]
fn conversion_is_exact_for_every_three_decimal_price_up_to_100_usd(
) -> Result<(), std::num::ParseFloatError> {
    for nanos in 0..=100_000u64 {
        let text = format!("{}.{:03}", nanos / 1000, nanos % 1000);
        let usd: f64 = text.parse()?;
        assert_eq!(usd_per_mtok_to_nanos(usd), Ok(nanos), "`{text}`");
        assert_eq!(nanos_to_usd_per_mtok(nanos), usd, "`{text}`");
    }
    Ok(())
}

#[test]
fn conversion_rejects_fourth_decimal_negative_nan_and_absurd() {
    assert_eq!(
        usd_per_mtok_to_nanos(0.0001),
        Err(PriceError::TooPrecise { value: 0.0001 })
    );
    assert_eq!(
        usd_per_mtok_to_nanos(0.0175),
        Err(PriceError::TooPrecise { value: 0.0175 })
    );
    assert_eq!(
        usd_per_mtok_to_nanos(1e-10),
        Err(PriceError::TooPrecise { value: 1e-10 })
    );
    assert_eq!(
        usd_per_mtok_to_nanos(-1.0),
        Err(PriceError::Negative { value: -1.0 })
    );
    assert!(matches!(
        usd_per_mtok_to_nanos(f64::NAN),
        Err(PriceError::NotFinite { .. })
    ));
    assert!(matches!(
        usd_per_mtok_to_nanos(f64::INFINITY),
        Err(PriceError::NotFinite { .. })
    ));
    assert_eq!(
        usd_per_mtok_to_nanos(1_000_000.001),
        Err(PriceError::TooLarge {
            value: 1_000_000.001
        })
    );
    assert_eq!(
        usd_per_mtok_to_nanos(0.0001).map_err(|e| e.to_string()),
        Err("price `0.0001` has more than three decimals (USD per million tokens)".to_owned())
    );
}

#[test]
fn nanos_display_as_usd_per_mtok() {
    assert_eq!(nanos_to_usd_per_mtok(35), 0.035);
    assert_eq!(nanos_to_usd_per_mtok(3300), 3.3);
    assert_eq!(nanos_to_usd_per_mtok(0), 0.0);
}

#[test]
fn builtin_table_parses_and_covers_every_listed_model() -> Result<(), PriceError> {
    let text = tollgate_lang::pricing::BUILTIN_TOML;
    let table = PriceTable::parse(text)?;
    assert_eq!(&table, PriceTable::builtin());
    let ids: Vec<&str> = table.iter().map(|(id, _)| id).collect();
    assert_eq!(ids, BUILTIN_MODELS, "built-in models, in file order");
    Ok(())
}

#[test]
fn builtin_rows_all_carry_source_and_date() {
    for (id, p) in PriceTable::builtin().iter() {
        assert_eq!(
            p.source.as_deref(),
            Some("https://aws.amazon.com/bedrock/pricing/ (via LiteLLM model_prices_and_context_window.json)"),
            "`{id}`"
        );
        assert_eq!(p.as_of.as_deref(), Some("2026-11-26"), "`{id}`");
        assert!(p.input > 0, "`{id}` has an input price");
    }
}

#[test]
fn builtin_batch_is_exactly_half_of_on_demand_where_offered() {
    let p = builtin(HAIKU_3_5);
    assert_eq!((p.input, p.output), (800, 4000));
    assert_eq!((p.batch_input, p.batch_output), (Some(400), Some(2000)));
    // Every Claude and Llama row, and Nova Lite/Pro; Nova Micro's half
    // (17.5 nanos) is not a whole nano and is rounded up to 18.
    for (id, p) in PriceTable::builtin().iter() {
        if id == "amazon.nova-micro-v1:0" {
            assert_eq!((p.batch_input, p.batch_output), (Some(18), Some(70)));
            continue;
        }
        let batch = id.starts_with("anthropic.")
            || id.starts_with("meta.")
            || id.starts_with("amazon.nova-");
        if batch {
            assert_eq!(
                p.batch_input.map(|b| b * 2),
                Some(p.input),
                "`{id}` batch input"
            );
            assert_eq!(
                p.batch_output.map(|b| b * 2),
                Some(p.output),
                "`{id}` batch output"
            );
        } else {
            assert_eq!((p.batch_input, p.batch_output), (None, None), "`{id}`");
        }
    }
}

#[test]
fn builtin_anthropic_cache_prices_follow_the_multipliers() {
    for (id, p) in PriceTable::builtin()
        .iter()
        .filter(|(id, _)| id.starts_with("anthropic."))
    {
        if let Some(w) = p.cache_write_5m {
            assert_eq!(w * 4, p.input * 5, "`{id}` 5m write = 1.25x input");
        }
        if let Some(w) = p.cache_write_1h {
            assert_eq!(w, p.input * 2, "`{id}` 1h write = 2x input");
        }
        if let Some(r) = p.cache_read {
            assert_eq!(r * 10, p.input, "`{id}` read = 0.1x input");
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
    assert_eq!((p.input, p.output), (250, 1250));
    assert_eq!(p.cache_write_5m, None);
    assert_eq!(p.cache_write_1h, None);
    assert_eq!(p.cache_read, None);
    assert_eq!(p.prompt_cache_min_tokens, None);
}

#[test]
fn nova_and_embedding_rows() {
    let micro = builtin("amazon.nova-micro-v1:0");
    assert_eq!((micro.input, micro.output), (35, 140));
    assert_eq!(
        (micro.cache_write_5m, micro.cache_read),
        (Some(35), Some(9))
    );
    assert_eq!(micro.prompt_cache_min_tokens, Some(1024));
    let pro = builtin("amazon.nova-pro-v1:0");
    assert_eq!(
        (pro.input, pro.cache_write_5m, pro.cache_read),
        (800, Some(800), Some(200))
    );
    let titan = builtin("amazon.titan-embed-text-v2:0");
    assert_eq!((titan.input, titan.output), (20, 0));
    let v4 = builtin("cohere.embed-v4:0");
    assert_eq!((v4.input, v4.output, v4.batch_input), (120, 0, None));
}

#[test]
fn sonnet_4_has_long_context_tier() {
    let p = builtin(SONNET_4);
    assert_eq!(
        p.long_context,
        Some(LongContext {
            threshold_tokens: 200_000,
            input: 6000,
            output: 22500
        })
    );
    assert_eq!(builtin(HAIKU_3_5).long_context, None);
}

#[test]
fn lookup_bare_id() {
    let p = builtin(HAIKU_3_5);
    assert_eq!(
        p,
        Prices {
            input: 800,
            output: 4000,
            cache_write_5m: Some(1000),
            cache_write_1h: None,
            cache_read: Some(80),
            batch_input: Some(400),
            batch_output: Some(2000),
            prompt_cache_min_tokens: Some(2048),
            long_context: None,
            source: Some(
                "https://aws.amazon.com/bedrock/pricing/ (via LiteLLM model_prices_and_context_window.json)"
                    .to_owned()
            ),
            as_of: Some("2026-11-26".to_owned()),
        }
    );
}

#[test]
fn lookup_strips_profile_prefixes_without_markup_when_none_declared() {
    let bare = builtin(SONNET_4);
    for prefix in [
        "us.", "eu.", "apac.", "au.", "jp.", "ca.", "us-gov.", "global.",
    ] {
        assert_eq!(builtin(&format!("{prefix}{SONNET_4}")), bare, "`{prefix}`");
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
    assert_eq!(table.lookup(&global).map(|p| p.input), Some(3000));
    let regional =
        format!("arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.{SONNET_4_5}");
    assert_eq!(table.lookup(&regional).map(|p| p.input), Some(3300));
}

#[test]
fn sonnet_4_5_regional_profiles_cost_ten_percent_more_than_global() {
    let global = builtin(&format!("global.{SONNET_4_5}"));
    let us = builtin(&format!("us.{SONNET_4_5}"));
    let bare = builtin(SONNET_4_5);
    assert_eq!(global, bare);
    assert_eq!((global.input, global.output), (3000, 15000));
    assert_eq!((us.input, us.output), (3300, 16500));
    assert_eq!(
        (us.cache_write_5m, us.cache_write_1h, us.cache_read),
        (Some(4125), Some(6600), Some(330))
    );
    assert_eq!((us.batch_input, us.batch_output), (Some(1650), Some(8250)));
    assert_eq!(
        us.long_context,
        Some(LongContext {
            threshold_tokens: 200_000,
            input: 6600,
            output: 24750
        })
    );
    assert_eq!(us.prompt_cache_min_tokens, global.prompt_cache_min_tokens);
    assert_eq!(
        PriceTable::builtin().profile_markup_pct(SONNET_4_5),
        Some(10)
    );
    assert_eq!(PriceTable::builtin().profile_markup_pct(SONNET_4), Some(0));
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
    assert_eq!(table.lookup("us.m").map(|p| p.input), Some(1050));
    assert_eq!(table.lookup("eu.m").map(|p| p.input), Some(1100));
    assert_eq!(table.lookup("global.m").map(|p| p.input), Some(1000));
    Ok(())
}

#[test]
fn markup_rounds_half_up_in_nanos() -> Result<(), PriceError> {
    let text = "[models.\"m\"]\ninput_per_mtok = 0.005\noutput_per_mtok = 0.015\nprofile_markup_pct = 10\n";
    let table = PriceTable::parse(text)?;
    // 5 x 1.1 = 5.5 -> 6; 15 x 1.1 = 16.5 -> 17.
    assert_eq!(
        table.lookup("us.m").map(|p| (p.input, p.output)),
        Some((6, 17))
    );
    Ok(())
}

#[test]
fn parse_keeps_order_and_accepts_integer_prices() -> Result<(), PriceError> {
    let text = "[models.\"z\"]\ninput_per_mtok = 1\noutput_per_mtok = 2\n\n[models.\"a\"]\ninput_per_mtok = 0.5\noutput_per_mtok = 0\n";
    let table = PriceTable::parse(text)?;
    let rows: Vec<(&str, u64, u64)> = table
        .iter()
        .map(|(id, p)| (id, p.input, p.output))
        .collect();
    assert_eq!(rows, [("z", 1000, 2000), ("a", 500, 0)]);
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
    let e = parse_err("[models.\"m\"]\ninput_per_mtok = 0.0001\noutput_per_mtok = 2.0\n");
    assert_eq!(
        e,
        "`input_per_mtok` of model `m`: price `0.0001` has more than three decimals (USD per million tokens)"
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
    let e = parse_err("[models]\nm = 3\n");
    assert_eq!(e, "`models.\"m\"` must be a table");
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
        Some(40)
    );
    assert_eq!(
        table
            .iter()
            .position(|(id, _)| id == "amazon.nova-micro-v1:0"),
        Some(9)
    );
    assert_eq!(
        table.iter().last().map(|(id, _)| id),
        Some("my.custom-model")
    );
    Ok(())
}
