//! Submitting a batch job with `aws-sdk-bedrock`'s
//! `CreateModelInvocationJob` (feature `batch-submit`), after checking its
//! files against the per-job quotas ([`JobLimits`]).

use super::quota::JobLimits;
use super::BatchFile;
use crate::error::GateError;
use crate::retry::{run, Backoff, Rule, Timeouts, DEFAULT_MAX_ATTEMPTS};
use crate::sdk::Failure;
use aws_sdk_bedrock::types::{
    ModelInvocationJobInputDataConfig, ModelInvocationJobOutputDataConfig,
    ModelInvocationJobS3InputDataConfig, ModelInvocationJobS3OutputDataConfig, ModelInvocationType,
    S3InputFormat,
};
use std::time::Duration;

/// A batch job to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobSpec {
    /// `jobName`.
    pub job_name: String,
    /// The service role Bedrock assumes to read and write S3.
    pub role_arn: String,
    /// The model id (or inference profile) every record is for.
    pub model_id: String,
    /// `s3://bucket/prefix/` holding the uploaded `.jsonl` files.
    pub input_s3_uri: String,
    /// `s3://bucket/prefix/` for the output.
    pub output_s3_uri: String,
    /// `timeoutDurationInHours` (Bedrock's default when `None`).
    pub timeout_hours: Option<i32>,
    /// An idempotency token (a retried submit creates one job).
    pub client_request_token: Option<String>,
}

/// How [`submit_job_with`] retries, and how [`poll_job_with`] and the
/// output reads retry.
///
/// [`poll_job_with`]: super::job::poll_job_with
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubmitRetry {
    /// Attempts at most, the first included.
    pub max_attempts: u32,
    /// Waits between attempts (a `Retry-After` header is honoured).
    pub backoff: Backoff,
    /// One attempt's time limit.
    pub timeout: Duration,
}

impl Default for SubmitRetry {
    fn default() -> Self {
        SubmitRetry {
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            backoff: Backoff::default(),
            timeout: Timeouts::default().attempt,
        }
    }
}

/// Creates the job (Converse-form records, JSONL input); returns its
/// ARN. Retried as every gate call is ([`SubmitRetry::default`]).
pub async fn submit_job(
    client: &aws_sdk_bedrock::Client,
    spec: &JobSpec,
) -> Result<String, GateError> {
    submit_job_with(client, spec, &SubmitRetry::default()).await
}

/// Checks `files` (the job's input files, as [`BatchQueue::close`]
/// returned them and as uploaded under `spec.input_s3_uri`) against
/// `limits`, then submits the job as [`submit_job_with`] does. A broken
/// quota is a [`GateError::BatchQuota`] naming it and the count, and then
/// nothing is sent.
///
/// [`BatchQueue::close`]: super::BatchQueue::close
pub async fn submit_checked(
    client: &aws_sdk_bedrock::Client,
    spec: &JobSpec,
    files: &[BatchFile],
    limits: &JobLimits,
    retry: &SubmitRetry,
) -> Result<String, GateError> {
    limits.check(&spec.model_id, files)?;
    submit_job_with(client, spec, retry).await
}

/// [`submit_job`] with its retries given. The SDK's own retries are
/// turned off (the gate's rule decides), and every attempt carries
/// the same `clientRequestToken` (the spec's, else one drawn here), so
/// an attempt that reached Bedrock before its answer was lost creates
/// no second job.
pub async fn submit_job_with(
    client: &aws_sdk_bedrock::Client,
    spec: &JobSpec,
    retry: &SubmitRetry,
) -> Result<String, GateError> {
    let client = SubmitRetry::bedrock_client(client);
    let token = spec
        .client_request_token
        .clone()
        .unwrap_or_else(|| format!("tollgate-{:032x}", fastrand::u128(..)));
    let (client, token) = (&client, token.as_str());
    retry.run(|| create_job(client, spec, token)).await
}

impl SubmitRetry {
    /// Runs `attempt` through the gate's one retry loop (one place, no
    /// budget): transient failures are retried, the last one is the error.
    pub(crate) async fn run<T, F, Fut>(&self, mut attempt: F) -> Result<T, GateError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, Failure>>,
    {
        let rule = Rule::new(
            1,
            self.max_attempts.max(1),
            None,
            &self.backoff,
            self.timeout,
        );
        match run(&rule, |_| attempt(), |_, _| {}).await {
            Ok((v, _)) => Ok(v),
            Err(g) => Err(g.into_error()),
        }
    }

    /// A client like `client` with the SDK's own retries off (the gate's
    /// loop decides).
    pub(crate) fn bedrock_client(client: &aws_sdk_bedrock::Client) -> aws_sdk_bedrock::Client {
        aws_sdk_bedrock::Client::from_conf(
            client
                .config()
                .to_builder()
                .retry_config(aws_sdk_bedrock::config::retry::RetryConfig::disabled())
                .build(),
        )
    }
}

/// One CreateModelInvocationJob attempt.
async fn create_job(
    client: &aws_sdk_bedrock::Client,
    spec: &JobSpec,
    token: &str,
) -> Result<String, Failure> {
    let input = ModelInvocationJobS3InputDataConfig::builder()
        .s3_uri(&spec.input_s3_uri)
        .s3_input_format(S3InputFormat::Jsonl)
        .build()
        .map_err(|e| Failure::Request(e.to_string()))?;
    let output = ModelInvocationJobS3OutputDataConfig::builder()
        .s3_uri(&spec.output_s3_uri)
        .build()
        .map_err(|e| Failure::Request(e.to_string()))?;
    let out = client
        .create_model_invocation_job()
        .job_name(&spec.job_name)
        .role_arn(&spec.role_arn)
        .model_id(&spec.model_id)
        .client_request_token(token)
        .input_data_config(ModelInvocationJobInputDataConfig::S3InputDataConfig(input))
        .output_data_config(ModelInvocationJobOutputDataConfig::S3OutputDataConfig(
            output,
        ))
        .model_invocation_type(ModelInvocationType::Converse)
        .set_timeout_duration_in_hours(spec.timeout_hours)
        .send()
        .await
        .map_err(Failure::of)?;
    Ok(out.job_arn().to_string())
}
