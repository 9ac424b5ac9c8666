//! The rest of a Converse request body: system blocks, tools and the
//! configuration fields, in the key order Bedrock documents them.

use super::content::{cache_point_from_json, guard_from_json};
use super::view::{to_tree, System, Tools};
use super::{
    array, build_err, document_from_json, document_to_json, message_to_json, one, opt_string,
    string, union, Binary, Obj, WireError,
};
use aws_sdk_bedrockruntime::operation::converse::ConverseInput;
use aws_sdk_bedrockruntime::types::{
    AnyToolChoice, AutoToolChoice, InferenceConfiguration, OutputFormatStructure,
    PromptVariableValues, SpecificToolChoice, SystemContentBlock, SystemTool, Tool, ToolChoice,
    ToolConfiguration, ToolInputSchema, ToolSpecification,
};
use serde_json::Value as Json;

/// System blocks as Converse JSON.
pub fn system_to_json(s: &[SystemContentBlock], bin: Binary) -> Result<Json, WireError> {
    to_tree(&System(s, bin))
}

/// System blocks from Converse JSON (the inverse of `system_to_json`,
/// held to it by the round-trip tests).
#[cfg_attr(not(test), allow(dead_code))]
pub fn system_from_json(v: &Json) -> Result<Vec<SystemContentBlock>, WireError> {
    let items = v
        .as_array()
        .ok_or_else(|| super::invalid("system", "expected an array"))?;
    let mut out = Vec::with_capacity(items.len());
    for (i, b) in items.iter().enumerate() {
        let at = &format!("system[{i}]");
        out.push(match union(b, at)? {
            ("text", t) => SystemContentBlock::Text(
                t.as_str()
                    .ok_or_else(|| super::invalid(at, "expected a string"))?
                    .to_string(),
            ),
            ("guardContent", g) => SystemContentBlock::GuardContent(guard_from_json(g, at)?),
            ("cachePoint", c) => SystemContentBlock::CachePoint(cache_point_from_json(c, at)?),
            (other, _) => {
                return Err(super::invalid(
                    at,
                    format!("unknown system block `{other}`"),
                ))
            }
        });
    }
    Ok(out)
}

/// A tool configuration as Converse JSON.
pub fn tool_config_to_json(t: &ToolConfiguration) -> Result<Json, WireError> {
    to_tree(&Tools(t))
}

/// A tool configuration from Converse JSON (the inverse of
/// `tool_config_to_json`, held to it by the round-trip tests).
#[cfg_attr(not(test), allow(dead_code))]
pub fn tool_config_from_json(v: &Json) -> Result<ToolConfiguration, WireError> {
    let mut b = ToolConfiguration::builder();
    for (i, t) in array(v, "tools", "toolConfig")?.iter().enumerate() {
        let at = &format!("toolConfig.tools[{i}]");
        b = b.tools(match union(t, at)? {
            ("toolSpec", s) => {
                let schema = match s.get("inputSchema") {
                    None => None,
                    Some(x) => Some(ToolInputSchema::Json(document_from_json(super::field(
                        x, "json", at,
                    )?))),
                };
                Tool::ToolSpec(
                    ToolSpecification::builder()
                        .name(string(s, "name", at)?)
                        .set_description(opt_string(s, "description"))
                        .set_input_schema(schema)
                        .set_strict(s.get("strict").and_then(Json::as_bool))
                        .build()
                        .map_err(|e| build_err(at, e))?,
                )
            }
            ("systemTool", s) => Tool::SystemTool(
                SystemTool::builder()
                    .name(string(s, "name", at)?)
                    .build()
                    .map_err(|e| build_err(at, e))?,
            ),
            ("cachePoint", c) => Tool::CachePoint(cache_point_from_json(c, at)?),
            (other, _) => return Err(super::invalid(at, format!("unknown tool `{other}`"))),
        });
    }
    if let Some(c) = v.get("toolChoice") {
        let at = "toolConfig.toolChoice";
        b = b.tool_choice(match union(c, at)? {
            ("auto", _) => ToolChoice::Auto(AutoToolChoice::builder().build()),
            ("any", _) => ToolChoice::Any(AnyToolChoice::builder().build()),
            ("tool", t) => ToolChoice::Tool(
                SpecificToolChoice::builder()
                    .name(string(t, "name", at)?)
                    .build()
                    .map_err(|e| build_err(at, e))?,
            ),
            (other, _) => return Err(super::invalid(at, format!("unknown tool choice `{other}`"))),
        });
    }
    b.build().map_err(|e| build_err("toolConfig", e))
}

/// `inferenceConfig` as Converse JSON.
pub fn inference_to_json(i: &InferenceConfiguration) -> Json {
    let stop = (!i.stop_sequences().is_empty()).then(|| i.stop_sequences().to_vec());
    Obj::new()
        .opt("maxTokens", i.max_tokens())
        .opt("temperature", i.temperature().map(super::float))
        .opt("topP", i.top_p().map(super::float))
        .opt("stopSequences", stop)
        .done()
}

fn sorted<V>(m: &std::collections::HashMap<String, V>) -> Vec<(&String, &V)> {
    let mut v: Vec<(&String, &V)> = m.iter().collect();
    v.sort_by(|a, b| a.0.cmp(b.0));
    v
}

/// A Converse request body (everything but `modelId`, which is in the
/// path), as a batch record's `modelInput` holds it; with
/// [`Binary::Hash`], the canonical form the cache key and fingerprints
/// read. Map-valued fields are written with sorted keys.
pub fn input_body(input: &ConverseInput, bin: Binary) -> Result<Json, WireError> {
    let messages = input
        .messages()
        .iter()
        .map(|m| message_to_json(m, bin))
        .collect::<Result<Vec<_>, _>>()?;
    let mut o = Obj::new().put("messages", messages);
    if !input.system().is_empty() {
        o = o.put("system", system_to_json(input.system(), bin)?);
    }
    if let Some(i) = input.inference_config() {
        o = o.put("inferenceConfig", inference_to_json(i));
    }
    if let Some(t) = input.tool_config() {
        o = o.put("toolConfig", tool_config_to_json(t)?);
    }
    let Json::Object(mut m) = o.done() else {
        return Err(super::invalid("input", "not an object"));
    };
    m.extend(options_to_json(input)?);
    Ok(Json::Object(m))
}

/// The request's fields other than messages, system, inference and tools,
/// in the order Bedrock documents them (absent fields left out).
pub fn options_to_json(input: &ConverseInput) -> Result<serde_json::Map<String, Json>, WireError> {
    let mut o = Obj::new().opt(
        "guardrailConfig",
        input.guardrail_config().map(|g| {
            Obj::new()
                .put("guardrailIdentifier", g.guardrail_identifier())
                .put("guardrailVersion", g.guardrail_version())
                .put("trace", g.trace().as_str())
                .done()
        }),
    );
    o = o.opt(
        "additionalModelRequestFields",
        input
            .additional_model_request_fields()
            .map(document_to_json),
    );
    if let Some(vars) = input.prompt_variables() {
        let mut m = serde_json::Map::new();
        for (k, v) in sorted(vars) {
            match v {
                PromptVariableValues::Text(t) => m.insert(k.clone(), one("text", t.as_str())),
                _ => return Err(WireError::Unknown("prompt variable".into())),
            };
        }
        o = o.put("promptVariables", Json::Object(m));
    }
    if !input.additional_model_response_field_paths().is_empty() {
        o = o.put(
            "additionalModelResponseFieldPaths",
            input.additional_model_response_field_paths().to_vec(),
        );
    }
    if let Some(meta) = input.request_metadata() {
        let m: serde_json::Map<String, Json> = sorted(meta)
            .into_iter()
            .map(|(k, v)| (k.clone(), Json::String(v.clone())))
            .collect();
        o = o.put("requestMetadata", Json::Object(m));
    }
    o = o
        .opt(
            "performanceConfig",
            input
                .performance_config()
                .map(|p| one("latency", p.latency().as_str())),
        )
        .opt(
            "serviceTier",
            input
                .service_tier()
                .map(|s| one("type", s.r#type().as_str())),
        );
    if let Some(c) = input.output_config() {
        o = o.put("outputConfig", output_config_to_json(c)?);
    }
    Ok(o.0)
}

fn output_config_to_json(
    c: &aws_sdk_bedrockruntime::types::OutputConfig,
) -> Result<Json, WireError> {
    let fmt = match c.text_format() {
        None => None,
        Some(f) => {
            let structure = match f.structure() {
                None => None,
                Some(OutputFormatStructure::JsonSchema(j)) => Some(one(
                    "jsonSchema",
                    Obj::new()
                        .put("schema", j.schema())
                        .opt("name", j.name())
                        .opt("description", j.description())
                        .done(),
                )),
                Some(_) => return Err(WireError::Unknown("output format structure".into())),
            };
            Some(
                Obj::new()
                    .put("type", f.r#type().as_str())
                    .opt("structure", structure)
                    .done(),
            )
        }
    };
    Ok(Obj::new()
        .opt("textFormat", fmt)
        .opt("effort", c.effort())
        .done())
}
