//! `batch::submit::submit_job` with the real aws-sdk-bedrock client
//! against the loopback server: the CreateModelInvocationJob request body.
#![cfg(feature = "batch-submit")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use aws_sdk_bedrock::config::{BehaviorVersion, Credentials, Region};
use common::{Reply, Server};
use serde_json::json;
use tollgate_bedrock::GateError;
use tollgate_bedrock::{submit_job, JobSpec};

fn control_client(url: &str) -> aws_sdk_bedrock::Client {
    let conf = aws_sdk_bedrock::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("AKID", "SECRET", None, None, "test"))
        .endpoint_url(url)
        .build();
    aws_sdk_bedrock::Client::from_conf(conf)
}

fn spec() -> JobSpec {
    JobSpec {
        job_name: "nightly-2026-11-26".into(),
        role_arn: "arn:aws:iam::123456789012:role/BedrockBatch".into(),
        model_id: "us.anthropic.claude-3-5-haiku-20241022-v1:0".into(),
        input_s3_uri: "s3://tollgate-batch/in/2026-11-26/".into(),
        output_s3_uri: "s3://tollgate-batch/out/2026-11-26/".into(),
        timeout_hours: Some(24),
        client_request_token: Some("tok-0001".into()),
    }
}

#[tokio::test]
async fn submit_sends_create_model_invocation_job() {
    let server = Server::start().await;
    let arn = "arn:aws:bedrock:us-east-1:123456789012:model-invocation-job/abc123";
    server.push(Reply::Json {
        status: 200,
        error_type: None,
        body: json!({ "jobArn": arn }).to_string(),
    });
    let got = submit_job(&control_client(&server.url), &spec())
        .await
        .unwrap();
    assert_eq!(got, arn);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].method, "POST");
    assert_eq!(reqs[0].path, "/model-invocation-job");
    assert_eq!(
        reqs[0].json(),
        json!({
            "clientRequestToken": "tok-0001",
            "inputDataConfig": {"s3InputDataConfig": {
                "s3InputFormat": "JSONL",
                "s3Uri": "s3://tollgate-batch/in/2026-11-26/"
            }},
            "jobName": "nightly-2026-11-26",
            "modelId": "us.anthropic.claude-3-5-haiku-20241022-v1:0",
            "modelInvocationType": "Converse",
            "outputDataConfig": {"s3OutputDataConfig": {
                "s3Uri": "s3://tollgate-batch/out/2026-11-26/"
            }},
            "roleArn": "arn:aws:iam::123456789012:role/BedrockBatch",
            "timeoutDurationInHours": 24
        })
    );
}

#[tokio::test]
async fn a_refused_submit_is_a_typed_error() {
    let server = Server::start().await;
    server.push(Reply::error(
        400,
        "ValidationException",
        "minimum 100 records per job",
    ));
    let err = submit_job(&control_client(&server.url), &spec())
        .await
        .unwrap_err();
    assert_eq!(
        err,
        GateError::Bedrock {
            code: "ValidationException".into(),
            message: "minimum 100 records per job".into(),
            attempts: 1
        }
    );
}

#[tokio::test]
async fn a_throttled_submit_is_retried_with_the_same_token() {
    use tollgate_bedrock::Backoff;
    use tollgate_bedrock::{submit_job_with, SubmitRetry};
    let server = Server::start().await;
    let arn = "arn:aws:bedrock:us-east-1:123456789012:model-invocation-job/retried";
    server.push(Reply::error(429, "ThrottlingException", "slow down"));
    server.push(Reply::Reset);
    server.push(Reply::Json {
        status: 200,
        error_type: None,
        body: json!({ "jobArn": arn }).to_string(),
    });
    let mut s = spec();
    s.client_request_token = None;
    let retry = SubmitRetry {
        backoff: Backoff::none(),
        ..SubmitRetry::default()
    };
    let got = submit_job_with(&control_client(&server.url), &s, &retry)
        .await
        .unwrap();
    assert_eq!(got, arn);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 3);
    let tokens: Vec<String> = reqs
        .iter()
        .map(|r| r.json()["clientRequestToken"].as_str().unwrap().to_string())
        .collect();
    assert!(tokens[0].starts_with("tollgate-"), "{tokens:?}");
    assert_eq!(tokens[0], tokens[1]);
    assert_eq!(tokens[1], tokens[2]);
}
