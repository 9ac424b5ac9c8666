//! One gated chat call against real Bedrock.
//!
//! ```sh
//! AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=... \
//!   cargo run -p tollgate-bedrock --example bedrock_chat -- rules/example.toml "Say hi"
//! ```
//!
//! Credentials come from the environment (no aws-config dependency); the
//! call event is printed as one JSON line on stderr.

use aws_sdk_bedrockruntime::config::{BehaviorVersion, Credentials, Region};
use std::sync::Arc;
use tollgate_bedrock::{ChatRequest, Gate};
use tollgate_cost::{CallEvent, Sink, SinkError, Tags};
use tollgate_engine::PolicyHandle;
use tollgate_lang::LoadOptions;

struct Stderr;
impl Sink for Stderr {
    fn write(&self, e: &CallEvent) -> Result<(), SinkError> {
        if let Ok(line) = e.to_json_line() {
            eprintln!("{}", String::from_utf8_lossy(&line).trim_end());
        }
        Ok(())
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let policy_path = args.next().ok_or("usage: bedrock_chat POLICY PROMPT")?;
    let prompt = args
        .next()
        .unwrap_or_else(|| "Say hi in five words.".into());
    let env = |k: &str| std::env::var(k).ok();
    let creds = Credentials::new(
        env("AWS_ACCESS_KEY_ID").ok_or("AWS_ACCESS_KEY_ID is not set")?,
        env("AWS_SECRET_ACCESS_KEY").ok_or("AWS_SECRET_ACCESS_KEY is not set")?,
        env("AWS_SESSION_TOKEN"),
        None,
        "env",
    );
    let conf = aws_sdk_bedrockruntime::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(
            env("AWS_REGION").unwrap_or_else(|| "us-east-1".into()),
        ))
        .credentials_provider(creds)
        .build();
    let client = aws_sdk_bedrockruntime::Client::from_conf(conf);
    let handle =
        PolicyHandle::load(&policy_path, LoadOptions::default()).map_err(|e| e.render())?;
    let gate = Gate::builder(client, Arc::new(handle))
        .sink(Arc::new(Stderr))
        .build();
    let tags = Tags {
        feature: Some("chat".into()),
        ..Tags::default()
    };
    let resp = gate.converse(&ChatRequest::user(prompt), &tags).await?;
    println!("{}", resp.text);
    Ok(())
}
