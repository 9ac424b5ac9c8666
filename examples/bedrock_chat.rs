//! One gated chat call through tollgate to Amazon Bedrock.
//!
//! ```sh
//! cargo run --example bedrock_chat -- --rules rules/example.toml \
//!     --attr feature=chat --attr user.tier=pro --prompt "Say hi in five words."
//! # any Bedrock-compatible endpoint (a local test server, a VPC endpoint):
//! cargo run --example bedrock_chat -- --endpoint http://127.0.0.1:8080 \
//!     --rules rules/example.toml --prompt "Say hi"
//! ```
//!
//! Credentials and region come from the default AWS chain (environment,
//! shared config and credentials files, SSO, IMDS, ...) via `aws-config`;
//! with `--endpoint` and no credentials anywhere, static test credentials
//! are used so that a local server can be called. The answer goes to
//! stderr; the call event is the last line of stdout, one JSON object.
//!
//! `--attr KEY=VALUE` sets a request attribute, typed by the policy's
//! `[attributes]` (`int`, `float`, `bool`, `string`, lists comma-separated);
//! `app`, `feature`, `user`, `use_case` and `tenant` are tags as well.

use aws_config::BehaviorVersion;
use aws_sdk_bedrockruntime::config::{Credentials, ProvideCredentials, Region};
use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use tollgate_bedrock::{AttrValue, ChatRequest, Gate};
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
    "usage: bedrock_chat [--endpoint URL] --rules PATH [--attr KEY=VALUE]... --prompt TEXT";

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

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = match args() {
        Ok(a) => a,
        Err(msg) => {
            eprintln!("{msg}");
            return ExitCode::from(2);
        }
    };
    match chat(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("{}", msg.trim_end());
            ExitCode::FAILURE
        }
    }
}

/// The call; an error comes back as the text to print (a policy that does
/// not load: its located diagnostics).
async fn chat(args: Args) -> Result<(), String> {
    let handle = PolicyHandle::load(&args.rules, LoadOptions::default()).map_err(|e| e.render())?;

    let mut req = ChatRequest::user(args.prompt);
    let mut tags = Tags::default();
    {
        let schema = handle.schema();
        for (k, v) in &args.attrs {
            match k.as_str() {
                "app" => tags.app = Some(v.into()),
                "feature" => tags.feature = Some(v.into()),
                "user" => tags.user = Some(v.into()),
                "use_case" => tags.use_case = Some(v.into()),
                "tenant" => tags.tenant = Some(v.into()),
                _ => {}
            }
            let Some(def) = schema.id(k).and_then(|id| schema.get(id)) else {
                eprintln!(
                    "warning: `{k}` is not an attribute of this policy; ignored by the rules"
                );
                continue;
            };
            req = req.attr(k.clone(), typed(def.ty, k, v)?);
        }
    }

    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(url) = &args.endpoint {
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
    if args.endpoint.is_some() && !has_creds {
        conf = conf.credentials_provider(Credentials::new("test", "test", None, None, "static"));
    }
    let client = aws_sdk_bedrockruntime::Client::from_conf(conf.build());

    let gate = Gate::builder(client, Arc::new(handle))
        .sink(Arc::new(Stdout))
        .build();
    let resp = gate
        .converse(&req, &tags)
        .await
        .map_err(|e| format!("error: {e}"))?;
    eprintln!("{}", resp.text());
    Ok(())
}
