//! Batch jobs end to end with the real SDK clients: the quota check before
//! submitting, `GetModelInvocationJob` polled on the loopback Bedrock, and
//! the outputs read with `aws-sdk-s3` from the loopback S3 stand-in into
//! call events at the batch rate.
#![cfg(feature = "batch-submit")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "support/s3.rs"]
mod s3;

use aws_sdk_bedrock::config::{BehaviorVersion, Credentials, Region};
use aws_smithy_types::DateTime;
use common::{client, handle, Collect, Reply, Server};
use s3::{s3_client, S3Request, S3Server};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tollgate_bedrock::{
    output_object, poll_job, poll_job_with, submit_checked, wait_for_job, Backoff, BatchFile,
    BatchLimits, BatchQueue, ChatRequest, Gate, GateError, JobLimits, JobSpec, JobState, S3Object,
    SubmitRetry, WaitOptions, JOB_SIZE, MIN_RECORDS_PER_JOB, RECORDS_PER_FILE,
};
use tollgate_cost::{Ledger, Mode, Status, Tags};

const POLICY: &str = r#"
[policy]
name = "batch-job-test"
default_model = "haiku"

[attributes]
feature = "string"

[models.haiku]
id = "us.anthropic.claude-3-5-haiku-20241022-v1:0"

[[batch]]
name = "nightly"
when = 'feature == "nightly"'
"#;

const HAIKU: &str = "us.anthropic.claude-3-5-haiku-20241022-v1:0";
const ARN: &str = "arn:aws:bedrock:us-east-1:123456789012:model-invocation-job/abc123def456";
const ARN_PATH: &str = "/model-invocation-job/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Amodel-invocation-job%2Fabc123def456";
const OUT_URI: &str = "s3://tollgate-batch/out/2026-11-26/";
/// 2026-11-26T02:00:00Z.
const SUBMITTED_AT: i64 = 1_795_658_400;

fn control_client(url: &str) -> aws_sdk_bedrock::Client {
    let conf = aws_sdk_bedrock::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("AKID", "SECRET", None, None, "test"))
        .endpoint_url(url)
        .build();
    aws_sdk_bedrock::Client::from_conf(conf)
}

/// A GetModelInvocationJob answer in `status`, with `extra` fields.
fn job(status: &str, extra: Value) -> Reply {
    let mut body = json!({
        "jobArn": ARN,
        "jobName": "nightly-2026-11-26",
        "modelId": HAIKU,
        "roleArn": "arn:aws:iam::123456789012:role/BedrockBatch",
        "status": status,
        "submitTime": "2026-11-26T02:00:00Z",
        "inputDataConfig": {"s3InputDataConfig": {"s3Uri": "s3://tollgate-batch/in/2026-11-26/"}},
        "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": OUT_URI}},
        "modelInvocationType": "Converse"
    });
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            b.insert(k.clone(), v.clone());
        }
    }
    Reply::json(body)
}

fn quick() -> SubmitRetry {
    SubmitRetry {
        backoff: Backoff::none(),
        ..SubmitRetry::default()
    }
}

fn waiting() -> WaitOptions {
    WaitOptions {
        interval: Duration::from_millis(1),
        deadline: Instant::now() + Duration::from_secs(20),
        retry: quick(),
    }
}

fn tmpdir(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!(
        "tollgate-batch-job-{name}-{}-{}",
        std::process::id(),
        fastrand::u64(..)
    ))
}

fn tags() -> Tags {
    Tags {
        feature: Some("nightly".into()),
        ..Tags::default()
    }
}

/// A gate with a queue (prefix `prefix`, `per_file` records a file)
/// holding `n` queued requests, and the files it closed.
async fn queued(
    server: &Server,
    prefix: &str,
    per_file: usize,
    n: usize,
) -> (Gate, Arc<BatchQueue>, Arc<Collect>, Vec<BatchFile>) {
    let limits = BatchLimits {
        max_records_per_file: per_file,
        ..BatchLimits::default()
    };
    let queue = Arc::new(BatchQueue::with_prefix(tmpdir(prefix), limits, prefix).unwrap());
    let events = Arc::new(Collect::default());
    let gate = Gate::builder(client(&server.url), handle(POLICY))
        .sink(events.clone())
        .batch_queue(queue.clone())
        .ledger(Ledger::in_memory())
        .build();
    for i in 0..n {
        let req = ChatRequest::user(format!("doc {i}")).max_tokens(50);
        gate.send(&req, &tags()).await.unwrap();
    }
    let files = queue.close().unwrap();
    (gate, queue, events, files)
}

fn answer(id: &str, text: &str, input: u64, output: u64) -> String {
    json!({"recordId": id, "modelInput": {},
           "modelOutput": {"output": {"message": {"role": "assistant", "content": [{"text": text}]}},
                           "stopReason": "end_turn",
                           "usage": {"inputTokens": input, "outputTokens": output,
                                     "totalTokens": input + output}}})
    .to_string()
}

fn out_key(file: &BatchFile) -> String {
    let name = file.path.file_name().unwrap().to_string_lossy();
    format!("out/2026-11-26/abc123def456/{name}.out")
}

#[tokio::test]
async fn every_state_is_parsed() {
    let server = Server::start().await;
    let bedrock = control_client(&server.url);
    let states = [
        ("Submitted", JobState::Submitted, false),
        ("Validating", JobState::Validating, false),
        ("Scheduled", JobState::Scheduled, false),
        ("InProgress", JobState::InProgress, false),
        ("Stopping", JobState::Stopping, false),
        ("Completed", JobState::Completed, true),
        ("PartiallyCompleted", JobState::PartiallyCompleted, true),
        ("Failed", JobState::Failed, true),
        ("Stopped", JobState::Stopped, true),
        ("Expired", JobState::Expired, true),
        ("Archived", JobState::Unknown("Archived".into()), false),
    ];
    for (name, state, terminal) in &states {
        server.push(job(name, json!({})));
        let got = poll_job(&bedrock, ARN).await.unwrap();
        assert_eq!(&got.state, state);
        assert_eq!(got.state.as_str(), *name);
        assert_eq!(got.state.is_terminal(), *terminal, "{name}");
        assert_eq!(
            got.state.has_outputs(),
            matches!(name, &"Completed" | &"PartiallyCompleted")
        );
    }
    let reqs = server.requests();
    assert_eq!(reqs.len(), states.len());
    assert!(reqs.iter().all(|r| r.method == "GET" && r.path == ARN_PATH));

    // Message, timestamps and counts as the SDK reads them.
    server.push(job(
        "PartiallyCompleted",
        json!({"message": "2 records were not processed",
               "lastModifiedTime": "2026-11-26T03:00:00Z",
               "endTime": "2026-11-26T03:30:00Z",
               "jobExpirationTime": "2026-11-27T02:00:00Z",
               "totalRecordCount": 120, "processedRecordCount": 118,
               "successRecordCount": 117, "errorRecordCount": 1}),
    ));
    let s = poll_job(&bedrock, ARN).await.unwrap();
    assert_eq!(s.job_arn, ARN);
    assert_eq!(s.message.as_deref(), Some("2 records were not processed"));
    assert_eq!(s.submit_time, DateTime::from_secs(SUBMITTED_AT));
    assert_eq!(
        s.last_modified_time,
        Some(DateTime::from_secs(SUBMITTED_AT + 3_600))
    );
    assert_eq!(s.end_time, Some(DateTime::from_secs(SUBMITTED_AT + 5_400)));
    assert_eq!(
        s.job_expiration_time,
        Some(DateTime::from_secs(SUBMITTED_AT + 86_400))
    );
    assert_eq!(s.output_s3_uri.as_deref(), Some(OUT_URI));
    assert_eq!(
        (
            s.total_record_count,
            s.processed_record_count,
            s.success_record_count,
            s.error_record_count
        ),
        (Some(120), Some(118), Some(117), Some(1))
    );
}

#[tokio::test]
async fn a_poll_is_retried_through_the_gate_retry_loop() {
    let server = Server::start().await;
    server.push(Reply::error(503, "ServiceUnavailableException", "busy"));
    server.push(Reply::Reset);
    server.push(job("Scheduled", json!({})));
    let s = poll_job_with(&control_client(&server.url), ARN, &quick())
        .await
        .unwrap();
    assert_eq!(s.state, JobState::Scheduled);
    assert_eq!(server.requests().len(), 3);
    // A fatal error is not retried.
    server.clear();
    server.push(Reply::error(
        404,
        "ResourceNotFoundException",
        "no such job",
    ));
    let err = poll_job_with(&control_client(&server.url), ARN, &quick())
        .await
        .unwrap_err();
    assert_eq!(
        err,
        GateError::Bedrock {
            code: "ResourceNotFoundException".into(),
            message: "no such job".into(),
            attempts: 1
        }
    );
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn wait_follows_the_job_to_completed_and_reads_the_outputs_from_s3() {
    let server = Server::start().await;
    let s3 = S3Server::start().await;
    let (gate, queue, events, files) = queued(&server, "JOB", 50_000, 3).await;
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].model_id, HAIKU);

    // Submitted after the quota check (this account's minimum is 3).
    let bedrock = control_client(&server.url);
    let limits = JobLimits {
        min_records_per_job: 3,
        ..JobLimits::default()
    };
    let spec = JobSpec {
        job_name: "nightly-2026-11-26".into(),
        role_arn: "arn:aws:iam::123456789012:role/BedrockBatch".into(),
        model_id: HAIKU.into(),
        input_s3_uri: "s3://tollgate-batch/in/2026-11-26/".into(),
        output_s3_uri: OUT_URI.into(),
        timeout_hours: Some(24),
        client_request_token: Some("tok-job-1".into()),
    };
    server.push(Reply::json(json!({ "jobArn": ARN })));
    let arn = submit_checked(&bedrock, &spec, &files, &limits, &quick())
        .await
        .unwrap();
    assert_eq!(arn, ARN);

    server.push(job("Submitted", json!({})));
    server.push(job("InProgress", json!({})));
    server.push(job("Completed", json!({"endTime": "2026-11-26T03:30:00Z"})));
    let output = [
        answer("JOB00000002", "two", 2_000, 300),
        json!({"recordId": "JOB00000001", "modelInput": {},
               "error": {"errorCode": 400, "errorMessage": "Malformed input request"}})
        .to_string(),
        answer("JOB00000003", "three", 1_000, 100),
    ]
    .join("\n");
    s3.put("tollgate-batch", &out_key(&files[0]), output);
    s3.put(
        "tollgate-batch",
        "out/2026-11-26/abc123def456/manifest.json.out",
        r#"{"totalRecordCount":3}"#,
    );

    let out = gate
        .collect_batch_job(
            &bedrock,
            &s3_client(&s3.url),
            &queue,
            &arn,
            &files,
            &waiting(),
        )
        .await
        .unwrap();
    assert_eq!(out.status.state, JobState::Completed);
    assert_eq!(
        out.status.end_time,
        Some(DateTime::from_secs(SUBMITTED_AT + 5_400))
    );
    // Claude 3.5 Haiku batch: $0.40 / $2.00 per Mtok.
    let got: Vec<(&str, Status, u64)> = out
        .records
        .iter()
        .map(|r| (r.record_id.as_str(), r.event.status, r.event.cost_nanos))
        .collect();
    assert_eq!(
        got,
        vec![
            ("JOB00000002", Status::Ok, 2_000 * 400 + 300 * 2_000),
            ("JOB00000001", Status::Error, 0),
            ("JOB00000003", Status::Ok, 1_000 * 400 + 100 * 2_000),
        ]
    );
    assert_eq!(out.records[0].outcome.as_ref().unwrap().text, "two");
    assert_eq!(
        out.records[1].outcome,
        Err(GateError::Bedrock {
            code: "400".into(),
            message: "Malformed input request".into(),
            attempts: 1
        })
    );
    assert!(out.records.iter().all(|r| r.event.mode == Mode::Batch));
    assert_eq!(events.events().len(), 3);
    assert_eq!(queue.pending(), 0);
    // One create, three polls; one GetObject, path-style.
    let paths: Vec<(String, String)> = server
        .requests()
        .into_iter()
        .map(|r| (r.method, r.path))
        .collect();
    assert_eq!(paths[0], ("POST".into(), "/model-invocation-job".into()));
    assert_eq!(paths.len(), 4);
    assert!(paths[1..].iter().all(|(m, p)| m == "GET" && p == ARN_PATH));
    assert_eq!(
        s3.requests(),
        vec![S3Request {
            method: "GET".into(),
            path: format!("/tollgate-batch/{}", out_key(&files[0])),
        }]
    );
}

#[tokio::test]
async fn a_partially_completed_job_leaves_the_missing_records_pending() {
    let server = Server::start().await;
    let s3 = S3Server::start().await;
    // Two records a file: files 1 (JOB1, JOB2) and 2 (JOB3).
    let (gate, queue, events, files) = queued(&server, "PRT", 2, 3).await;
    assert_eq!(files.len(), 2);
    s3.put(
        "tollgate-batch",
        &out_key(&files[0]),
        answer("PRT00000001", "one", 100, 10),
    );
    s3.put(
        "tollgate-batch",
        &out_key(&files[1]),
        format!("{}\n", answer("PRT00000003", "three", 300, 30)),
    );
    server.push(job(
        "PartiallyCompleted",
        json!({"message": "1 record was not processed"}),
    ));
    let out = gate
        .collect_batch_job(
            &control_client(&server.url),
            &s3_client(&s3.url),
            &queue,
            ARN,
            &files,
            &waiting(),
        )
        .await
        .unwrap();
    assert_eq!(out.status.state, JobState::PartiallyCompleted);
    let ids: Vec<&str> = out.records.iter().map(|r| r.record_id.as_str()).collect();
    assert_eq!(ids, vec!["PRT00000001", "PRT00000003"]);
    assert_eq!(out.records[1].event.cost_nanos, 300 * 400 + 30 * 2_000);
    assert_eq!(events.events().len(), 2);
    assert_eq!(queue.pending(), 1);
    assert_eq!(s3.requests().len(), 2);
}

#[tokio::test]
async fn a_missing_output_file_reads_nothing() {
    let server = Server::start().await;
    let s3 = S3Server::start().await;
    let (gate, queue, events, files) = queued(&server, "MIS", 2, 3).await;
    s3.put(
        "tollgate-batch",
        &out_key(&files[0]),
        format!(
            "{}\n{}\n",
            answer("MIS00000001", "one", 100, 10),
            answer("MIS00000002", "two", 100, 10)
        ),
    );
    let status = {
        server.push(job("Completed", json!({})));
        poll_job(&control_client(&server.url), ARN).await.unwrap()
    };
    let err = gate
        .read_batch_job_outputs(&s3_client(&s3.url), &queue, &status, &files, &quick())
        .await
        .unwrap_err();
    let key = out_key(&files[1]);
    assert_eq!(
        err,
        GateError::Bedrock {
            code: "NoSuchKey".into(),
            message: format!("s3://tollgate-batch/{key}: The specified key does not exist."),
            attempts: 1
        }
    );
    assert_eq!(queue.pending(), 3);
    assert!(events.events().is_empty());

    // A bad line in the second file: named, and nothing is taken.
    s3.put("tollgate-batch", &key, r#"{"recordId":"MIS00000003"}"#);
    let err = gate
        .read_batch_job_outputs(&s3_client(&s3.url), &queue, &status, &files, &quick())
        .await
        .unwrap_err();
    let name = files[1].path.file_name().unwrap().to_string_lossy();
    assert_eq!(
        err,
        GateError::Malformed(format!(
            "batch output {name}.out line 1: neither `modelOutput` nor `error`"
        ))
    );
    assert_eq!(queue.pending(), 3);
    assert!(events.events().is_empty());
}

#[tokio::test]
async fn a_failed_job_returns_its_message_and_reads_nothing() {
    let server = Server::start().await;
    let s3 = S3Server::start().await;
    let (gate, queue, events, files) = queued(&server, "FLD", 50_000, 2).await;
    let bedrock = control_client(&server.url);
    let message = "The role does not have permission to read s3://tollgate-batch/in/";
    server.push(job("Submitted", json!({})));
    server.push(job("Validating", json!({})));
    server.push(job("Failed", json!({ "message": message })));
    let s = wait_for_job(
        &bedrock,
        ARN,
        Duration::from_millis(1),
        Instant::now() + Duration::from_secs(20),
    )
    .await
    .unwrap();
    assert_eq!(s.state, JobState::Failed);
    assert_eq!(s.message.as_deref(), Some(message));
    assert_eq!(server.requests().len(), 3);

    server.push(job("Failed", json!({ "message": message })));
    let err = gate
        .collect_batch_job(
            &bedrock,
            &s3_client(&s3.url),
            &queue,
            ARN,
            &files,
            &waiting(),
        )
        .await
        .unwrap_err();
    assert_eq!(
        err,
        GateError::BatchJob {
            job_arn: ARN.into(),
            state: "Failed".into(),
            message: message.into()
        }
    );
    assert_eq!(
        err.to_string(),
        format!("batch job `{ARN}` is Failed: {message}")
    );
    assert!(s3.requests().is_empty());
    assert_eq!(queue.pending(), 2);
    assert!(events.events().is_empty());
}

#[tokio::test]
async fn wait_gives_up_at_the_deadline_with_the_last_state() {
    let server = Server::start().await;
    server.set_default(job("InProgress", json!({})));
    let started = Instant::now();
    let err = wait_for_job(
        &control_client(&server.url),
        ARN,
        Duration::from_millis(20),
        Instant::now() + Duration::from_millis(100),
    )
    .await
    .unwrap_err();
    let GateError::BatchJob {
        job_arn,
        state,
        message,
    } = err
    else {
        panic!("expected a batch job error, got {err:?}")
    };
    assert_eq!((job_arn.as_str(), state.as_str()), (ARN, "InProgress"));
    assert!(
        message.starts_with("not done by the deadline ("),
        "{message}"
    );
    assert!(started.elapsed() >= Duration::from_millis(100));
}

#[tokio::test]
async fn the_quotas_are_checked_before_submitting() {
    let server = Server::start().await;
    let (_gate, _queue, _events, files) = queued(&server, "QTA", 50_000, 99).await;
    let spec = JobSpec {
        job_name: "small".into(),
        role_arn: "arn:aws:iam::123456789012:role/BedrockBatch".into(),
        model_id: HAIKU.into(),
        input_s3_uri: "s3://tollgate-batch/in/".into(),
        output_s3_uri: OUT_URI.into(),
        timeout_hours: None,
        client_request_token: None,
    };
    let err = submit_checked(
        &control_client(&server.url),
        &spec,
        &files,
        &JobLimits::default(),
        &quick(),
    )
    .await
    .unwrap_err();
    assert_eq!(
        err,
        GateError::BatchQuota {
            limit: MIN_RECORDS_PER_JOB.into(),
            quota: 100,
            scope: "the job".into(),
            count: 99
        }
    );
    assert_eq!(
        err.to_string(),
        "batch quota `Minimum number of records per batch inference job` is 100, and the job has 99"
    );
    // Nothing reached Bedrock.
    assert!(server.requests().is_empty());

    let file = |name: &str, records: usize, bytes: u64| BatchFile {
        model_id: HAIKU.into(),
        path: std::path::PathBuf::from(format!("/batch/{name}")),
        records,
        bytes,
    };
    let limits = JobLimits::default();
    assert_eq!(
        limits.check(HAIKU, &[file("a.jsonl", 50_001, 10)]),
        Err(GateError::BatchQuota {
            limit: RECORDS_PER_FILE.into(),
            quota: 50_000,
            scope: "file a.jsonl".into(),
            count: 50_001
        })
    );
    let big = vec![file("a.jsonl", 40_000, 900_000_000); 6];
    let err = limits.check(HAIKU, &big[..2]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "batch quota `Records per batch inference job` is 50000, and the job has 80000"
    );
    let roomy = JobLimits {
        max_records_per_job: 1_000_000,
        ..limits
    };
    assert_eq!(
        roomy.check(HAIKU, &big),
        Err(GateError::BatchQuota {
            limit: JOB_SIZE.into(),
            quota: 5_000_000_000,
            scope: "the job".into(),
            count: 5_400_000_000
        })
    );
    assert_eq!(roomy.check(HAIKU, &big[..5]), Ok(()));
    let err = limits
        .check(
            "us.anthropic.claude-sonnet-4-20250514-v1:0",
            &[file("a.jsonl", 100, 10)],
        )
        .unwrap_err();
    assert_eq!(
        err,
        GateError::Request(format!(
            "batch file /batch/a.jsonl is for model `{HAIKU}`, not the job's `us.anthropic.claude-sonnet-4-20250514-v1:0`"
        ))
    );
}

#[test]
fn outputs_are_under_the_output_location_and_the_job_id() {
    let at = |uri: &str| output_object(uri, ARN, "m-00001.jsonl");
    let want = |key: &str| {
        Ok(S3Object {
            bucket: "b".into(),
            key: key.into(),
        })
    };
    assert_eq!(
        at("s3://b/out/"),
        want("out/abc123def456/m-00001.jsonl.out")
    );
    assert_eq!(at("s3://b/out"), want("out/abc123def456/m-00001.jsonl.out"));
    assert_eq!(at("s3://b"), want("abc123def456/m-00001.jsonl.out"));
    assert_eq!(at("s3://b/"), want("abc123def456/m-00001.jsonl.out"));
    assert_eq!(
        at("https://b/out/"),
        Err(GateError::Request(
            "batch output location `https://b/out/`: not an s3:// URI".into()
        ))
    );
    assert_eq!(
        at("s3:///out/"),
        Err(GateError::Request(
            "batch output location `s3:///out/`: no bucket".into()
        ))
    );
}
