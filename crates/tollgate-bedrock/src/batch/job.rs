//! A submitted batch job followed to its end (feature `batch-submit`):
//! [`poll_job`] reads its state with `GetModelInvocationJob`, [`wait_for_job`] polls
//! until the state is terminal, and [`Gate::collect_batch_job`] waits, then
//! reads every output file from S3 (`aws-sdk-s3`'s `GetObject`) into call
//! events at the batch rate.
//!
//! # Where the outputs are
//!
//! Bedrock writes one `<input file>.out` per input file, and a
//! `manifest.json.out` summary, under the job's output location plus the
//! job id (the last part of its ARN):
//! `<outputDataConfig.s3OutputDataConfig.s3Uri>/<job id>/<input file>.out`
//! ("View the results of a batch inference job",
//! <https://docs.aws.amazon.com/bedrock/latest/userguide/batch-inference-results.html>).
//! The output location is the one `GetModelInvocationJob` reports.
//!
//! Every call (each poll, each `GetObject`) runs through the gate's one
//! retry loop with the SDK's own retries off, as job submission does
//! ([`SubmitRetry`]).

use super::submit::SubmitRetry;
use super::{BatchFile, BatchQueue, BatchRecord};
use crate::error::GateError;
use crate::gate::Gate;
use crate::sdk::Failure;
use aws_sdk_bedrock::operation::get_model_invocation_job::GetModelInvocationJobOutput;
use aws_sdk_bedrock::types::ModelInvocationJobOutputDataConfig;
use aws_smithy_types::DateTime;
use std::time::{Duration, Instant};

/// A batch job's state, as `GetModelInvocationJob` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobState {
    /// Accepted, not yet validated.
    Submitted,
    /// Its input is being checked against the quotas and the format.
    Validating,
    /// Waiting for capacity.
    Scheduled,
    /// Running.
    InProgress,
    /// A stop was asked for.
    Stopping,
    /// Done; every record has an output line (an answer or an error).
    Completed,
    /// Done, but some records have no output line.
    PartiallyCompleted,
    /// Failed as a whole (see the status message).
    Failed,
    /// Stopped on request.
    Stopped,
    /// Ran past its timeout.
    Expired,
    /// A state this version does not know (Bedrock added one).
    Unknown(String),
}

impl JobState {
    /// The state Bedrock names `s` (an unknown name is [`JobState::Unknown`]).
    pub fn parse(s: &str) -> JobState {
        match s {
            "Submitted" => JobState::Submitted,
            "Validating" => JobState::Validating,
            "Scheduled" => JobState::Scheduled,
            "InProgress" => JobState::InProgress,
            "Stopping" => JobState::Stopping,
            "Completed" => JobState::Completed,
            "PartiallyCompleted" => JobState::PartiallyCompleted,
            "Failed" => JobState::Failed,
            "Stopped" => JobState::Stopped,
            "Expired" => JobState::Expired,
            other => JobState::Unknown(other.to_string()),
        }
    }

    /// Bedrock's name for it.
    pub fn as_str(&self) -> &str {
        match self {
            JobState::Submitted => "Submitted",
            JobState::Validating => "Validating",
            JobState::Scheduled => "Scheduled",
            JobState::InProgress => "InProgress",
            JobState::Stopping => "Stopping",
            JobState::Completed => "Completed",
            JobState::PartiallyCompleted => "PartiallyCompleted",
            JobState::Failed => "Failed",
            JobState::Stopped => "Stopped",
            JobState::Expired => "Expired",
            JobState::Unknown(s) => s,
        }
    }

    /// The job will not change state again: `Completed`,
    /// `PartiallyCompleted`, `Failed`, `Stopped` or `Expired`. An unknown
    /// state is not terminal (waiting goes on until the deadline).
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            JobState::Completed
                | JobState::PartiallyCompleted
                | JobState::Failed
                | JobState::Stopped
                | JobState::Expired
        )
    }

    /// The job has output files to read: `Completed` or
    /// `PartiallyCompleted`.
    pub fn has_outputs(&self) -> bool {
        matches!(self, JobState::Completed | JobState::PartiallyCompleted)
    }
}

/// What `GetModelInvocationJob` says of a job.
#[derive(Debug, Clone, PartialEq)]
pub struct JobStatus {
    /// The job's ARN.
    pub job_arn: String,
    /// Its state.
    pub state: JobState,
    /// Bedrock's message (why a job failed, for one).
    pub message: Option<String>,
    /// When it was submitted.
    pub submit_time: DateTime,
    /// When it last changed.
    pub last_modified_time: Option<DateTime>,
    /// When it ended.
    pub end_time: Option<DateTime>,
    /// When it times out (or timed out).
    pub job_expiration_time: Option<DateTime>,
    /// `outputDataConfig.s3OutputDataConfig.s3Uri`.
    pub output_s3_uri: Option<String>,
    /// Records in the job, when Bedrock has counted them.
    pub total_record_count: Option<i64>,
    /// Records processed so far.
    pub processed_record_count: Option<i64>,
    /// Records answered.
    pub success_record_count: Option<i64>,
    /// Records that failed.
    pub error_record_count: Option<i64>,
}

impl JobStatus {
    fn of(out: &GetModelInvocationJobOutput) -> JobStatus {
        let output_s3_uri = match out.output_data_config() {
            Some(ModelInvocationJobOutputDataConfig::S3OutputDataConfig(c)) => {
                Some(c.s3_uri().to_string())
            }
            _ => None,
        };
        JobStatus {
            job_arn: out.job_arn().to_string(),
            state: JobState::parse(out.status().map_or("", |s| s.as_str())),
            message: out.message().map(str::to_string),
            submit_time: *out.submit_time(),
            last_modified_time: out.last_modified_time().copied(),
            end_time: out.end_time().copied(),
            job_expiration_time: out.job_expiration_time().copied(),
            output_s3_uri,
            total_record_count: out.total_record_count(),
            processed_record_count: out.processed_record_count(),
            success_record_count: out.success_record_count(),
            error_record_count: out.error_record_count(),
        }
    }
}

/// One `GetModelInvocationJob` attempt.
async fn get_job(client: &aws_sdk_bedrock::Client, job_arn: &str) -> Result<JobStatus, Failure> {
    let out = client
        .get_model_invocation_job()
        .job_identifier(job_arn)
        .send()
        .await
        .map_err(Failure::of)?;
    Ok(JobStatus::of(&out))
}

/// The job's status now, retried as [`SubmitRetry::default`] says.
pub async fn poll_job(
    client: &aws_sdk_bedrock::Client,
    job_arn: &str,
) -> Result<JobStatus, GateError> {
    poll_job_with(client, job_arn, &SubmitRetry::default()).await
}

/// [`poll_job`] with its retries given.
pub async fn poll_job_with(
    client: &aws_sdk_bedrock::Client,
    job_arn: &str,
    retry: &SubmitRetry,
) -> Result<JobStatus, GateError> {
    let client = SubmitRetry::bedrock_client(client);
    retry.run(|| get_job(&client, job_arn)).await
}

/// How [`wait_for_job_with`] waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitOptions {
    /// Between two polls.
    pub interval: Duration,
    /// The last poll is at (or just after) this instant.
    pub deadline: Instant,
    /// How each poll (and each output read) is retried.
    pub retry: SubmitRetry,
}

impl WaitOptions {
    /// Polls every `interval` until `deadline`, retried by default.
    pub fn new(interval: Duration, deadline: Instant) -> WaitOptions {
        WaitOptions {
            interval,
            deadline,
            retry: SubmitRetry::default(),
        }
    }
}

/// Polls the job every `interval` until its state is terminal
/// ([`JobState::is_terminal`]) and returns that status, whichever terminal
/// state it is (a `Failed` job's status carries Bedrock's message). A job
/// still running at `deadline` is a [`GateError::BatchJob`] with its last
/// state; a poll that fails after its retries is that poll's error.
pub async fn wait_for_job(
    client: &aws_sdk_bedrock::Client,
    job_arn: &str,
    interval: Duration,
    deadline: Instant,
) -> Result<JobStatus, GateError> {
    wait_for_job_with(client, job_arn, &WaitOptions::new(interval, deadline)).await
}

/// [`wait_for_job`] with its retries given.
pub async fn wait_for_job_with(
    client: &aws_sdk_bedrock::Client,
    job_arn: &str,
    opts: &WaitOptions,
) -> Result<JobStatus, GateError> {
    let client = SubmitRetry::bedrock_client(client);
    let mut polls = 0u32;
    loop {
        let status = opts.retry.run(|| get_job(&client, job_arn)).await?;
        polls += 1;
        if status.state.is_terminal() {
            return Ok(status);
        }
        let now = Instant::now();
        if now >= opts.deadline {
            return Err(GateError::BatchJob {
                job_arn: job_arn.to_string(),
                state: status.state.as_str().to_string(),
                message: format!("not done by the deadline ({polls} polls)"),
            });
        }
        tokio::time::sleep(opts.interval.min(opts.deadline - now)).await;
    }
}

/// An S3 object's place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Object {
    /// The bucket.
    pub bucket: String,
    /// The key.
    pub key: String,
}

/// Where Bedrock writes the output of `input_file` (a file name, as
/// uploaded) for the job `job_arn` whose output location is
/// `output_s3_uri`: `<s3Uri>/<job id>/<input_file>.out`.
pub fn output_object(
    output_s3_uri: &str,
    job_arn: &str,
    input_file: &str,
) -> Result<S3Object, GateError> {
    let bad =
        |what: &str| GateError::Request(format!("batch output location `{output_s3_uri}`: {what}"));
    let rest = output_s3_uri
        .strip_prefix("s3://")
        .ok_or_else(|| bad("not an s3:// URI"))?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(bad("no bucket"));
    }
    let job_id = job_arn.rsplit('/').next().unwrap_or(job_arn);
    if job_id.is_empty() {
        return Err(GateError::Request(format!(
            "batch job ARN `{job_arn}` has no job id"
        )));
    }
    let sep = if prefix.is_empty() || prefix.ends_with('/') {
        ""
    } else {
        "/"
    };
    Ok(S3Object {
        bucket: bucket.to_string(),
        key: format!("{prefix}{sep}{job_id}/{input_file}.out"),
    })
}

/// One `GetObject` attempt: the whole body.
async fn get_object(s3: &aws_sdk_s3::Client, at: &S3Object) -> Result<Vec<u8>, Failure> {
    let out = s3
        .get_object()
        .bucket(&at.bucket)
        .key(&at.key)
        .send()
        .await
        .map_err(Failure::of)?;
    let body = out
        .body
        .collect()
        .await
        .map_err(|e| Failure::Transport(e.to_string()))?;
    Ok(body.into_bytes().to_vec())
}

/// A finished job's status and its records.
#[derive(Debug, Clone, PartialEq)]
pub struct JobOutput {
    /// The job's terminal status (`Completed` or `PartiallyCompleted`).
    pub status: JobStatus,
    /// One record per output line, across every output file.
    pub records: Vec<BatchRecord>,
}

fn file_name(f: &BatchFile) -> Result<String, GateError> {
    f.path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| GateError::Request(format!("batch file {} has no name", f.path.display())))
}

impl Gate {
    /// Waits for the job ([`wait_for_job_with`]), then reads its outputs
    /// ([`Gate::read_batch_job_outputs`]). A job that ended `Failed`,
    /// `Stopped` or `Expired` is a [`GateError::BatchJob`] with Bedrock's
    /// message, and its records stay pending.
    pub async fn collect_batch_job(
        &self,
        bedrock: &aws_sdk_bedrock::Client,
        s3: &aws_sdk_s3::Client,
        queue: &BatchQueue,
        job_arn: &str,
        files: &[BatchFile],
        wait: &WaitOptions,
    ) -> Result<JobOutput, GateError> {
        let status = wait_for_job_with(bedrock, job_arn, wait).await?;
        let records = self
            .read_batch_job_outputs(s3, queue, &status, files, &wait.retry)
            .await?;
        Ok(JobOutput { status, records })
    }

    /// Reads the output of every one of the job's input `files` from S3
    /// ([`output_object`]) into call events at the batch rate, as
    /// [`Gate::read_batch_output`] does, all or nothing across the files:
    /// a missing object or a bad line in any of them is an error, and then
    /// no event is written and every record stays pending. Records a
    /// `PartiallyCompleted` job has no output line for stay pending too.
    ///
    /// `status` must be terminal with outputs; another terminal state is a
    /// [`GateError::BatchJob`] with Bedrock's message. With a Redis ledger,
    /// recording blocks the calling thread as [`Gate::read_batch_output`]
    /// says.
    pub async fn read_batch_job_outputs(
        &self,
        s3: &aws_sdk_s3::Client,
        queue: &BatchQueue,
        status: &JobStatus,
        files: &[BatchFile],
        retry: &SubmitRetry,
    ) -> Result<Vec<BatchRecord>, GateError> {
        if !status.state.has_outputs() {
            return Err(GateError::BatchJob {
                job_arn: status.job_arn.clone(),
                state: status.state.as_str().to_string(),
                message: status.message.clone().unwrap_or_default(),
            });
        }
        let Some(uri) = status.output_s3_uri.as_deref() else {
            return Err(GateError::Malformed(format!(
                "batch job `{}` reports no S3 output location",
                status.job_arn
            )));
        };
        let s3 = aws_sdk_s3::Client::from_conf(
            s3.config()
                .to_builder()
                .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled())
                .build(),
        );
        let mut outputs = Vec::with_capacity(files.len());
        for f in files {
            let at = output_object(uri, &status.job_arn, &file_name(f)?)?;
            let body = retry
                .run(|| get_object(&s3, &at))
                .await
                .map_err(|e| located(e, &at))?;
            outputs.push((format!("{}.out", file_name(f)?), body));
        }
        self.read_batch_sources(
            queue,
            outputs
                .iter()
                .map(|(n, b)| (Some(n.as_str()), b.as_slice())),
        )
    }
}

/// An S3 error with the object it was about.
fn located(e: GateError, at: &S3Object) -> GateError {
    let place = format!("s3://{}/{}", at.bucket, at.key);
    match e {
        GateError::Bedrock {
            code,
            message,
            attempts,
        } => GateError::Bedrock {
            code,
            message: format!("{place}: {message}"),
            attempts,
        },
        GateError::Transport(m) => GateError::Transport(format!("{place}: {m}")),
        other => other,
    }
}
