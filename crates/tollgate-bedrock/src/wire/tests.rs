//! One round trip per variant: SDK value -> JSON -> SDK value, equal, and
//! the JSON checked against Bedrock's key names for the variant.
#![allow(clippy::panic)]

use super::*;
use aws_sdk_bedrockruntime::types::*;
use serde_json::json;

type R = Result<(), Box<dyn std::error::Error>>;

fn msg(c: ContentBlock) -> Result<Message, Box<dyn std::error::Error>> {
    Ok(Message::builder()
        .role(ConversationRole::User)
        .content(c)
        .build()?)
}

/// The block written as `expected`, and read back equal.
fn round_trip(c: ContentBlock, expected: serde_json::Value) -> R {
    let m = msg(c)?;
    let j = message_to_json(&m, Binary::Base64)?;
    assert_eq!(j, json!({"role": "user", "content": [expected]}));
    let back = message_from_json(&j)?;
    assert_eq!(back, m);
    // The text the estimate, fingerprint and cache key read is the tree's.
    for bin in [Binary::Base64, Binary::Hash] {
        assert_eq!(
            message_text(&m, bin)?,
            message_to_json(&m, bin)?.to_string()
        );
    }
    Ok(())
}

#[test]
fn text() -> R {
    round_trip(ContentBlock::Text("hi".into()), json!({"text": "hi"}))
}

#[test]
fn image_bytes_and_s3() -> R {
    let b = ImageBlock::builder()
        .format(ImageFormat::Png)
        .source(ImageSource::Bytes(Blob::new(vec![1u8, 2, 3])))
        .build()?;
    round_trip(
        ContentBlock::Image(b),
        json!({"image": {"format": "png", "source": {"bytes": "AQID"}}}),
    )?;
    let s3 = S3Location::builder()
        .uri("s3://b/k.jpg")
        .bucket_owner("111122223333")
        .build()?;
    let b = ImageBlock::builder()
        .format(ImageFormat::Jpeg)
        .source(ImageSource::S3Location(s3))
        .build()?;
    round_trip(
        ContentBlock::Image(b),
        json!({"image": {"format": "jpeg", "source": {"s3Location": {"uri": "s3://b/k.jpg", "bucketOwner": "111122223333"}}}}),
    )
}

#[test]
fn document_every_source() -> R {
    let sources = [
        (
            DocumentSource::Bytes(Blob::new(b"%PDF".to_vec())),
            json!({"bytes": "JVBERg=="}),
        ),
        (
            DocumentSource::Text("plain".into()),
            json!({"text": "plain"}),
        ),
        (
            DocumentSource::Content(vec![DocumentContentBlock::Text("c1".into())]),
            json!({"content": [{"text": "c1"}]}),
        ),
    ];
    for (src, want) in sources {
        let d = DocumentBlock::builder()
            .format(DocumentFormat::Pdf)
            .name("spec")
            .source(src)
            .context("ctx")
            .citations(CitationsConfig::builder().enabled(true).build()?)
            .build()?;
        round_trip(
            ContentBlock::Document(d),
            json!({"document": {"format": "pdf", "name": "spec", "source": want, "context": "ctx", "citations": {"enabled": true}}}),
        )?;
    }
    Ok(())
}

#[test]
fn video_and_audio() -> R {
    let v = VideoBlock::builder()
        .format(VideoFormat::Mp4)
        .source(VideoSource::Bytes(Blob::new(vec![0u8])))
        .build()?;
    round_trip(
        ContentBlock::Video(v),
        json!({"video": {"format": "mp4", "source": {"bytes": "AA=="}}}),
    )?;
    let a = AudioBlock::builder()
        .format(AudioFormat::Mp3)
        .source(AudioSource::S3Location(
            S3Location::builder().uri("s3://b/a.mp3").build()?,
        ))
        .build()?;
    round_trip(
        ContentBlock::Audio(a),
        json!({"audio": {"format": "mp3", "source": {"s3Location": {"uri": "s3://b/a.mp3"}}}}),
    )
}

#[test]
fn tool_use() -> R {
    let t = ToolUseBlock::builder()
        .tool_use_id("t1")
        .name("get_weather")
        .input(document_from_json(&json!({"city": "Paris", "days": 2})))
        .build()?;
    round_trip(
        ContentBlock::ToolUse(t),
        json!({"toolUse": {"toolUseId": "t1", "name": "get_weather", "input": {"city": "Paris", "days": 2}}}),
    )
}

#[test]
fn tool_result_every_content() -> R {
    let t = ToolResultBlock::builder()
        .tool_use_id("t1")
        .content(ToolResultContentBlock::Json(document_from_json(
            &json!({"celsius": 21}),
        )))
        .content(ToolResultContentBlock::Text("sunny".into()))
        .content(ToolResultContentBlock::Image(
            ImageBlock::builder()
                .format(ImageFormat::Gif)
                .source(ImageSource::Bytes(Blob::new(vec![9u8])))
                .build()?,
        ))
        .content(ToolResultContentBlock::SearchResult(
            SearchResultBlock::builder()
                .source("kb")
                .title("t")
                .content(SearchResultContentBlock::builder().text("x").build()?)
                .build()?,
        ))
        .status(ToolResultStatus::Error)
        .build()?;
    round_trip(
        ContentBlock::ToolResult(t),
        json!({"toolResult": {"toolUseId": "t1", "content": [
            {"json": {"celsius": 21}},
            {"text": "sunny"},
            {"image": {"format": "gif", "source": {"bytes": "CQ=="}}},
            {"searchResult": {"source": "kb", "title": "t", "content": [{"text": "x"}]}}
        ], "status": "error"}}),
    )
}

#[test]
fn reasoning_text_and_redacted() -> R {
    let r = ReasoningContentBlock::ReasoningText(
        ReasoningTextBlock::builder()
            .text("think")
            .signature("sig")
            .build()?,
    );
    round_trip(
        ContentBlock::ReasoningContent(r),
        json!({"reasoningContent": {"reasoningText": {"text": "think", "signature": "sig"}}}),
    )?;
    round_trip(
        ContentBlock::ReasoningContent(ReasoningContentBlock::RedactedContent(Blob::new(vec![
            1u8,
        ]))),
        json!({"reasoningContent": {"redactedContent": "AQ=="}}),
    )
}

#[test]
fn guard_content_text_and_image() -> R {
    let g = GuardrailConverseContentBlock::Text(
        GuardrailConverseTextBlock::builder()
            .text("check me")
            .qualifiers(GuardrailConverseContentQualifier::GuardContent)
            .build()?,
    );
    round_trip(
        ContentBlock::GuardContent(g),
        json!({"guardContent": {"text": {"text": "check me", "qualifiers": ["guard_content"]}}}),
    )?;
    let g = GuardrailConverseContentBlock::Image(
        GuardrailConverseImageBlock::builder()
            .format(GuardrailConverseImageFormat::Png)
            .source(GuardrailConverseImageSource::Bytes(Blob::new(vec![2u8])))
            .build()?,
    );
    round_trip(
        ContentBlock::GuardContent(g),
        json!({"guardContent": {"image": {"format": "png", "source": {"bytes": "Ag=="}}}}),
    )
}

#[test]
fn citations_every_location() -> R {
    let locs = [
        (
            CitationLocation::DocumentChar(
                DocumentCharLocation::builder()
                    .document_index(0)
                    .start(1)
                    .end(5)
                    .build(),
            ),
            json!({"documentChar": {"documentIndex": 0, "start": 1, "end": 5}}),
        ),
        (
            CitationLocation::DocumentChunk(
                DocumentChunkLocation::builder()
                    .document_index(1)
                    .start(2)
                    .end(3)
                    .build(),
            ),
            json!({"documentChunk": {"documentIndex": 1, "start": 2, "end": 3}}),
        ),
        (
            CitationLocation::DocumentPage(
                DocumentPageLocation::builder()
                    .document_index(0)
                    .start(4)
                    .end(4)
                    .build(),
            ),
            json!({"documentPage": {"documentIndex": 0, "start": 4, "end": 4}}),
        ),
        (
            CitationLocation::SearchResultLocation(
                SearchResultLocation::builder()
                    .search_result_index(2)
                    .start(0)
                    .end(1)
                    .build(),
            ),
            json!({"searchResultLocation": {"searchResultIndex": 2, "start": 0, "end": 1}}),
        ),
        (
            CitationLocation::Web(
                WebLocation::builder()
                    .url("https://x.test")
                    .domain("x.test")
                    .build(),
            ),
            json!({"web": {"url": "https://x.test", "domain": "x.test"}}),
        ),
    ];
    for (loc, want) in locs {
        let c = CitationsContentBlock::builder()
            .content(CitationGeneratedContent::Text("claim".into()))
            .citations(
                Citation::builder()
                    .title("doc")
                    .source("src")
                    .source_content(CitationSourceContent::Text("quote".into()))
                    .location(loc)
                    .build(),
            )
            .build();
        round_trip(
            ContentBlock::CitationsContent(c),
            json!({"citationsContent": {"content": [{"text": "claim"}], "citations": [
                {"title": "doc", "source": "src", "sourceContent": [{"text": "quote"}], "location": want}
            ]}}),
        )?;
    }
    Ok(())
}

#[test]
fn search_result() -> R {
    let s = SearchResultBlock::builder()
        .source("https://kb")
        .title("Refunds")
        .content(
            SearchResultContentBlock::builder()
                .text("30 days")
                .build()?,
        )
        .citations(CitationsConfig::builder().enabled(false).build()?)
        .build()?;
    round_trip(
        ContentBlock::SearchResult(s),
        json!({"searchResult": {"source": "https://kb", "title": "Refunds", "content": [{"text": "30 days"}], "citations": {"enabled": false}}}),
    )
}

#[test]
fn cache_point() -> R {
    let c = CachePointBlock::builder()
        .r#type(CachePointType::Default)
        .ttl(CacheTtl::OneHour)
        .build()?;
    round_trip(
        ContentBlock::CachePoint(c),
        json!({"cachePoint": {"type": "default", "ttl": "1h"}}),
    )
}

#[test]
fn tool_addition_and_removal() -> R {
    let r = ToolReference::builder()
        .r#type("mcp")
        .name("search")
        .server_name("srv")
        .build();
    round_trip(
        ContentBlock::ToolAddition(ToolAdditionBlock::builder().tool(r.clone()).build()),
        json!({"toolAddition": {"tool": {"type": "mcp", "name": "search", "serverName": "srv"}}}),
    )?;
    round_trip(
        ContentBlock::ToolRemoval(ToolRemovalBlock::builder().tool(r).build()),
        json!({"toolRemoval": {"tool": {"type": "mcp", "name": "search", "serverName": "srv"}}}),
    )
}

#[test]
fn system_blocks_round_trip() -> R {
    let sys = vec![
        SystemContentBlock::Text("be brief".into()),
        SystemContentBlock::GuardContent(GuardrailConverseContentBlock::Text(
            GuardrailConverseTextBlock::builder().text("g").build()?,
        )),
        SystemContentBlock::CachePoint(
            CachePointBlock::builder()
                .r#type(CachePointType::Default)
                .build()?,
        ),
    ];
    let j = system_to_json(&sys, Binary::Base64)?;
    assert_eq!(system_text(&sys, Binary::Base64)?, j.to_string());
    assert_eq!(
        j,
        json!([{"text": "be brief"}, {"guardContent": {"text": {"text": "g"}}}, {"cachePoint": {"type": "default"}}])
    );
    assert_eq!(system_from_json(&j)?, sys);
    Ok(())
}

#[test]
fn tool_config_every_tool_and_choice() -> R {
    let spec = ToolSpecification::builder()
        .name("get_weather")
        .description("weather")
        .input_schema(ToolInputSchema::Json(document_from_json(
            &json!({"type": "object", "properties": {"city": {"type": "string"}}}),
        )))
        .strict(true)
        .build()?;
    let choices = [
        (
            ToolChoice::Auto(AutoToolChoice::builder().build()),
            json!({"auto": {}}),
        ),
        (
            ToolChoice::Any(AnyToolChoice::builder().build()),
            json!({"any": {}}),
        ),
        (
            ToolChoice::Tool(SpecificToolChoice::builder().name("get_weather").build()?),
            json!({"tool": {"name": "get_weather"}}),
        ),
    ];
    for (choice, want) in choices {
        let tc = ToolConfiguration::builder()
            .tools(Tool::ToolSpec(spec.clone()))
            .tools(Tool::SystemTool(
                SystemTool::builder().name("nova_grounding").build()?,
            ))
            .tools(Tool::CachePoint(
                CachePointBlock::builder()
                    .r#type(CachePointType::Default)
                    .build()?,
            ))
            .tool_choice(choice)
            .build()?;
        let j = tool_config_to_json(&tc)?;
        assert_eq!(tool_config_text(&tc)?, j.to_string());
        // Measured without writing: the text's size.
        assert_eq!(tool_config_size(&tc)?, TextSize::of(&j.to_string()));
        assert_eq!(
            j,
            json!({"tools": [
                {"toolSpec": {"name": "get_weather", "description": "weather", "inputSchema": {"json": {"properties": {"city": {"type": "string"}}, "type": "object"}}, "strict": true}},
                {"systemTool": {"name": "nova_grounding"}},
                {"cachePoint": {"type": "default"}}
            ], "toolChoice": want})
        );
        assert_eq!(tool_config_from_json(&j)?, tc);
    }
    Ok(())
}

#[test]
fn hash_form_names_bytes_by_their_hash() -> R {
    let img = |b: Vec<u8>| -> Result<Message, Box<dyn std::error::Error>> {
        msg(ContentBlock::Image(
            ImageBlock::builder()
                .format(ImageFormat::Png)
                .source(ImageSource::Bytes(Blob::new(b)))
                .build()?,
        ))
    };
    let a = message_to_json(&img(vec![1, 2, 3])?, Binary::Hash)?;
    let b = message_to_json(&img(vec![1, 2, 4])?, Binary::Hash)?;
    let h = format!("{:032x}", xxhash_rust::xxh3::xxh3_128(&[1, 2, 3]));
    assert_eq!(
        a,
        json!({"role": "user", "content": [{"image": {"format": "png", "source": {"bytes": {"xxh3": h}}}}]})
    );
    assert_ne!(a, b);
    Ok(())
}

#[test]
fn invalid_json_is_a_located_error() -> R {
    let bad = json!({"role": "user", "content": [{"image": {"format": "png", "source": {"bytes": "!!"}}}]});
    match message_from_json(&bad) {
        Err(WireError::Invalid { at, message }) => {
            assert_eq!(at, "content[0].image.source");
            assert!(message.starts_with("not base64"), "{message}");
        }
        other => panic!("expected a located error, got {other:?}"),
    }
    let e = message_from_json(&json!({"role": "user", "content": [{"hologram": {}}]}));
    assert_eq!(
        e.map(|_| ()),
        Err(WireError::Invalid {
            at: "content[0].hologram".into(),
            message: "unknown content block `hologram`".into()
        })
    );
    Ok(())
}

#[test]
fn input_body_writes_every_field() -> R {
    use aws_sdk_bedrockruntime::operation::converse::ConverseInput;
    let input = ConverseInput::builder()
        .model_id("m")
        .messages(msg(ContentBlock::Text("q".into()))?)
        .system(SystemContentBlock::Text("s".into()))
        .inference_config(
            InferenceConfiguration::builder()
                .max_tokens(10)
                .temperature(0.7)
                .build(),
        )
        .guardrail_config(
            GuardrailConfiguration::builder()
                .guardrail_identifier("g1")
                .guardrail_version("1")
                .trace(GuardrailTrace::Enabled)
                .build(),
        )
        .additional_model_request_fields(document_from_json(&json!({"top_k": 5})))
        .prompt_variables("who", PromptVariableValues::Text("me".into()))
        .additional_model_response_field_paths("/stop_sequence")
        .request_metadata("team", "a")
        .performance_config(
            PerformanceConfiguration::builder()
                .latency(PerformanceConfigLatency::Optimized)
                .build(),
        )
        .service_tier(
            ServiceTier::builder()
                .r#type(ServiceTierType::Flex)
                .build()?,
        )
        .build()?;
    assert_eq!(
        input_body(&input, Binary::Base64)?,
        json!({
            "messages": [{"role": "user", "content": [{"text": "q"}]}],
            "system": [{"text": "s"}],
            "inferenceConfig": {"maxTokens": 10, "temperature": 0.7},
            "guardrailConfig": {"guardrailIdentifier": "g1", "guardrailVersion": "1", "trace": "enabled"},
            "additionalModelRequestFields": {"top_k": 5},
            "promptVariables": {"who": {"text": "me"}},
            "additionalModelResponseFieldPaths": ["/stop_sequence"],
            "requestMetadata": {"team": "a"},
            "performanceConfig": {"latency": "optimized"},
            "serviceTier": {"type": "flex"}
        })
    );
    Ok(())
}

#[test]
fn document_text_is_the_tree_rendered() {
    use aws_smithy_types::{Document, Number};
    let d =
        document_from_json(&json!({"z": [1, -2, 2.5, null, true], "a": {"y": "é\"\n", "b": {}}}));
    let Document::Object(mut o) = d else {
        panic!("an object");
    };
    o.insert("nan".into(), Document::Number(Number::Float(f64::NAN)));
    let d = Document::Object(o);
    let text = document_text(&d);
    assert_eq!(text, document_to_json(&d).to_string());
    assert_eq!(
        text,
        r#"{"a":{"b":{},"y":"é\"\n"},"nan":null,"z":[1,-2,2.5,null,true]}"#
    );
}

/// The canonical text of an agent's turn, byte for byte: fingerprints and
/// cache keys recorded by earlier versions hash this text, so it must not
/// change (key order, escapes, numbers, binary parts by hash).
#[test]
fn canonical_text_is_pinned() -> R {
    let d = |v: serde_json::Value| document_from_json(&v);
    let tool_use = ToolUseBlock::builder()
        .tool_use_id("tu-1")
        .name("get_weather")
        .input(d(json!({"city": "Paris \"Île\"\n\u{1}\t", "days": 3, "neg": -2, "f": 0.5, "ok": true, "none": null, "list": [1, "a"]})))
        .build()?;
    let image = ImageBlock::builder()
        .format(ImageFormat::Png)
        .source(ImageSource::Bytes(Blob::new(vec![1u8, 2, 3])))
        .build()?;
    let result = ToolResultBlock::builder()
        .tool_use_id("tu-1")
        .content(ToolResultContentBlock::Json(d(
            json!({"forecast": "sunny", "celsius": 21}),
        )))
        .content(ToolResultContentBlock::Text("done\\".into()))
        .content(ToolResultContentBlock::Image(image.clone()))
        .status(ToolResultStatus::Error)
        .build()?;
    let point = CachePointBlock::builder()
        .r#type(CachePointType::Default)
        .ttl(CacheTtl::OneHour)
        .build()?;
    let m = Message::builder()
        .role(ConversationRole::Assistant)
        .content(ContentBlock::Text("Let me look.".into()))
        .content(ContentBlock::ToolUse(tool_use))
        .content(ContentBlock::ToolResult(result))
        .content(ContentBlock::Image(image))
        .content(ContentBlock::CachePoint(point.clone()))
        .build()?;
    let h = format!("{:032x}", xxhash_rust::xxh3::xxh3_128(&[1, 2, 3]));
    let image_text =
        format!(r#"{{"image":{{"format":"png","source":{{"bytes":{{"xxh3":"{h}"}}}}}}}}"#);
    let want = format!(
        r#"{{"role":"assistant","content":[{{"text":"Let me look."}},{{"toolUse":{{"toolUseId":"tu-1","name":"get_weather","input":{{"city":"Paris \"Île\"\n\u0001\t","days":3,"f":0.5,"list":[1,"a"],"neg":-2,"none":null,"ok":true}}}}}},{{"toolResult":{{"toolUseId":"tu-1","content":[{{"json":{{"celsius":21,"forecast":"sunny"}}}},{{"text":"done\\"}},{image_text}],"status":"error"}}}},{image_text},{{"cachePoint":{{"type":"default","ttl":"1h"}}}}]}}"#
    );
    assert_eq!(message_text(&m, Binary::Hash)?, want);
    let system = [
        SystemContentBlock::Text("Be brief.".into()),
        SystemContentBlock::CachePoint(point),
    ];
    assert_eq!(
        system_text(&system, Binary::Hash)?,
        r#"[{"text":"Be brief."},{"cachePoint":{"type":"default","ttl":"1h"}}]"#
    );
    let spec = ToolSpecification::builder()
        .name("get_weather")
        .description("The weather.")
        .input_schema(ToolInputSchema::Json(d(
            json!({"type": "object", "required": ["city"]}),
        )))
        .build()?;
    let tc = ToolConfiguration::builder()
        .tools(Tool::ToolSpec(spec))
        .tool_choice(ToolChoice::Auto(AutoToolChoice::builder().build()))
        .build()?;
    assert_eq!(
        tool_config_text(&tc)?,
        r#"{"tools":[{"toolSpec":{"name":"get_weather","description":"The weather.","inputSchema":{"json":{"required":["city"],"type":"object"}}}}],"toolChoice":{"auto":{}}}"#
    );
    Ok(())
}
