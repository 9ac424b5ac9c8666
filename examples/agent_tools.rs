//! A tool-use loop through tollgate to Amazon Bedrock.
//!
//! ```sh
//! cargo run --example agent_tools -- --rules rules/example.toml \
//!     --attr feature=chat --prompt "What is the weather in Paris?"
//! ```
//!
//! It declares one tool, `get_weather` (input `{"city": string}`), sends
//! the prompt through the gate, and answers every `toolUse` block of a
//! turn in one user message, in order: `get_weather` with a `json` result
//! `{"city", "forecast": "sunny", "celsius": 21}`, any other tool with an
//! `error` result; it loops until the stop reason is not `tool_use`. Each
//! call's event is one JSON line on stdout, in call order; the final text
//! is the last line of stderr. Exit 0, or 3 when the fifth call still asks
//! for a tool.
//!
//! Credentials and region come from the default AWS chain (environment,
//! shared config and credentials files, SSO, IMDS, ...) via `aws-config`;
//! with `--endpoint` and no credentials anywhere, static test credentials
//! are used so that a local server can be called. The answer goes to
//! stderr.
//!
//! `--attr KEY=VALUE` sets a request attribute, typed by the policy's
//! `[attributes]` (`int`, `float`, `bool`, `string`, lists comma-separated);
//! `app`, `feature`, `user`, `use_case` and `tenant` are tags as well.

use aws_config::BehaviorVersion;
use aws_sdk_bedrockruntime::config::{Credentials, ProvideCredentials, Region};
use aws_sdk_bedrockruntime::operation::converse::ConverseInput;
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ConversationRole, Message, StopReason, Tool, ToolConfiguration, ToolInputSchema,
    ToolResultBlock, ToolResultContentBlock, ToolResultStatus, ToolSpecification,
};
use serde_json::json;
use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use tollgate_bedrock::{document_from_json, document_to_json, AttrValue, ChatRequest, Gate};
use tollgate_cost::{CallEvent, Sink, SinkError, Tags};
use tollgate_engine::PolicyHandle;
use tollgate_lang::{Elem, LoadOptions, Type};

/// Writes each call event as one JSON line on stdout.
struct Stdout;
impl Sink for Stdout {
    fn write(&self, e: &CallEvent) -> Result<(), SinkError> {
        let line = e.to_json_line()?;
        let mut out = std::io::stdout().lock();
        out.write_all(&line)?;
        out.flush()?;
        Ok(())
    }
}

struct Args {
    endpoint: Option<String>,
    rules: String,
    attrs: Vec<(String, String)>,
    prompt: String,
}

const USAGE: &str =
    "usage: agent_tools [--endpoint URL] --rules PATH [--attr KEY=VALUE]... --prompt TEXT";

fn args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let (mut endpoint, mut rules, mut attrs, mut prompt) = (None, None, Vec::new(), None);
    while let Some(a) = it.next() {
        let mut value = || it.next().ok_or(format!("{a} needs a value\n{USAGE}"));
        match a.as_str() {
            "--endpoint" => endpoint = Some(value()?),
            "--rules" => rules = Some(value()?),
            "--prompt" => prompt = Some(value()?),
            "--attr" => {
                let kv = value()?;
                let (k, v) = kv
                    .split_once('=')
                    .ok_or(format!("--attr `{kv}`: expected KEY=VALUE"))?;
                attrs.push((k.to_string(), v.to_string()));
            }
            "-h" | "--help" => return Err(USAGE.to_string()),
            other => return Err(format!("unknown argument `{other}`\n{USAGE}")),
        }
    }
    Ok(Args {
        endpoint,
        rules: rules.ok_or(format!("--rules is required\n{USAGE}"))?,
        attrs,
        prompt: prompt.ok_or(format!("--prompt is required\n{USAGE}"))?,
    })
}

/// Types `text` as the policy declares attribute `name`.
fn typed(ty: Type, name: &str, text: &str) -> Result<AttrValue, String> {
    let bad = |what: &str| format!("--attr {name}={text}: `{name}` is {what}");
    Ok(match ty {
        Type::Bool => AttrValue::Bool(text.parse().map_err(|_| bad("a bool"))?),
        Type::Int => AttrValue::Int(text.parse().map_err(|_| bad("an int"))?),
        Type::Float => AttrValue::Float(text.parse().map_err(|_| bad("a float"))?),
        Type::String => AttrValue::Str(text.to_string()),
        Type::List(Elem::Int) => AttrValue::Ints(
            text.split(',')
                .map(|s| s.trim().parse())
                .collect::<Result<_, _>>()
                .map_err(|_| bad("a list of ints"))?,
        ),
        Type::List(_) => AttrValue::Strs(text.split(',').map(|s| s.trim().to_string()).collect()),
        Type::StrMap | Type::IntMap => return Err(bad("a map, which this example cannot set")),
        Type::Timestamp => AttrValue::Timestamp(
            tollgate_lang::Timestamp::parse(text).ok_or_else(|| bad("a timestamp (RFC 3339)"))?,
        ),
        Type::Duration => return Err(bad("a duration, which no attribute can be")),
    })
}

/// The calls the loop makes before it gives up.
const MAX_CALLS: usize = 5;

enum Outcome {
    Done,
    StillAsking,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = match args() {
        Ok(a) => a,
        Err(msg) => {
            eprintln!("{msg}");
            return ExitCode::from(2);
        }
    };
    match run(args).await {
        Ok(Outcome::Done) => ExitCode::SUCCESS,
        Ok(Outcome::StillAsking) => {
            eprintln!("error: call {MAX_CALLS} still asks for a tool; giving up");
            ExitCode::from(3)
        }
        Err(msg) => {
            eprintln!("{}", msg.trim_end());
            ExitCode::FAILURE
        }
    }
}

fn err(e: impl std::fmt::Display) -> String {
    format!("error: {e}")
}

/// The one tool: `get_weather(city)`.
fn tools() -> Result<ToolConfiguration, String> {
    let schema =
        json!({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]});
    let spec = ToolSpecification::builder()
        .name("get_weather")
        .description("Today's weather in a city")
        .input_schema(ToolInputSchema::Json(document_from_json(&schema)))
        .build()
        .map_err(err)?;
    ToolConfiguration::builder()
        .tools(Tool::ToolSpec(spec))
        .build()
        .map_err(err)
}

/// The user message answering every tool use of a turn, in order.
fn answers(turn: &Message) -> Result<Message, String> {
    let mut m = Message::builder().role(ConversationRole::User);
    for c in turn.content() {
        let ContentBlock::ToolUse(u) = c else {
            continue;
        };
        let r = ToolResultBlock::builder().tool_use_id(u.tool_use_id());
        let r = if u.name() == "get_weather" {
            let city = document_to_json(u.input())["city"].clone();
            let result = json!({"city": city, "forecast": "sunny", "celsius": 21});
            r.content(ToolResultContentBlock::Json(document_from_json(&result)))
        } else {
            r.content(ToolResultContentBlock::Text(format!(
                "unknown tool `{}`",
                u.name()
            )))
            .status(ToolResultStatus::Error)
        };
        m = m.content(ContentBlock::ToolResult(r.build().map_err(err)?));
    }
    m.build().map_err(err)
}

/// The loop; an error comes back as the text to print.
async fn run(args: Args) -> Result<Outcome, String> {
    let handle = PolicyHandle::load(&args.rules, LoadOptions::default()).map_err(|e| e.render())?;
    let (attrs, tags) = attributes(&handle, &args.attrs)?;
    let client = client(args.endpoint.as_deref()).await;
    let gate = Gate::builder(client, Arc::new(handle))
        .sink(Arc::new(Stdout))
        .build();
    let first = Message::builder()
        .role(ConversationRole::User)
        .content(ContentBlock::Text(args.prompt))
        .build()
        .map_err(err)?;
    let mut messages = vec![first];
    let tools = tools()?;
    for _ in 0..MAX_CALLS {
        let input = ConverseInput::builder()
            .set_messages(Some(messages.clone()))
            .tool_config(tools.clone())
            .build()
            .map_err(err)?;
        let req = attrs.iter().fold(ChatRequest::from(input), |r, (k, v)| {
            r.attr(k.clone(), v.clone())
        });
        let resp = gate.converse(&req, &tags).await.map_err(err)?;
        if *resp.stop_reason() != StopReason::ToolUse {
            eprintln!("{}", resp.text());
            return Ok(Outcome::Done);
        }
        let turn = resp
            .message()
            .cloned()
            .ok_or_else(|| err("a tool_use answer without a message"))?;
        let results = answers(&turn)?;
        messages.push(turn);
        messages.push(results);
    }
    Ok(Outcome::StillAsking)
}

/// The `--attr` values typed by the policy, and the tags among them.
fn attributes(
    handle: &PolicyHandle,
    kvs: &[(String, String)],
) -> Result<(Vec<(String, AttrValue)>, Tags), String> {
    let mut attrs = Vec::new();
    let mut tags = Tags::default();
    let schema = handle.schema();
    for (k, v) in kvs {
        match k.as_str() {
            "app" => tags.app = Some(v.into()),
            "feature" => tags.feature = Some(v.into()),
            "user" => tags.user = Some(v.into()),
            "use_case" => tags.use_case = Some(v.into()),
            "tenant" => tags.tenant = Some(v.into()),
            _ => {}
        }
        let Some(def) = schema.id(k).and_then(|id| schema.get(id)) else {
            eprintln!("warning: `{k}` is not an attribute of this policy; ignored by the rules");
            continue;
        };
        attrs.push((k.clone(), typed(def.ty, k, v)?));
    }
    Ok((attrs, tags))
}

/// The SDK client: the default AWS chain, or static test credentials for
/// an `--endpoint` without any.
async fn client(endpoint: Option<&str>) -> aws_sdk_bedrockruntime::Client {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(url) = endpoint {
        loader = loader.endpoint_url(url);
    }
    let shared = loader.load().await;
    let mut conf = aws_sdk_bedrockruntime::config::Builder::from(&shared);
    if shared.region().is_none() {
        conf = conf.region(Region::new("us-east-1"));
    }
    let has_creds = match shared.credentials_provider() {
        Some(p) => p.provide_credentials().await.is_ok(),
        None => false,
    };
    if endpoint.is_some() && !has_creds {
        conf = conf.credentials_provider(Credentials::new("test", "test", None, None, "static"));
    }
    aws_sdk_bedrockruntime::Client::from_conf(conf.build())
}
