//! Bedrock's per-job batch quotas, checked before a job is submitted.
//!
//! Bedrock refuses a job that breaks one of them only after it was
//! created, in its `Validating` state; checking them here turns that into
//! an error before anything is sent, naming the quota and the count.
//!
//! The quotas are per account, per Region and per model, and adjustable,
//! hence configurable. Their names and meaning are from "Format and upload
//! your batch inference data" in the Amazon Bedrock User Guide,
//! <https://docs.aws.amazon.com/bedrock/latest/userguide/batch-inference-data.html>;
//! their per-model default values are listed in "Amazon Bedrock endpoints
//! and quotas",
//! <https://docs.aws.amazon.com/general/latest/gr/bedrock.html#limits_bedrock>.
//! The defaults below are the values most models have there. The stored
//! copy of that table we could consult does not show the values
//! themselves, so they are confirmed only as far as this: 100 records as
//! the minimum is the figure AWS's own batch examples use; 50,000 records
//! per file and per job, 1 GB per file and 5 GB per job are the figures
//! commonly quoted for Anthropic models; some models differ (Amazon Nova
//! allows larger jobs). Read your account's values in the Service Quotas
//! console (service `bedrock`) and set them here.

use super::BatchFile;
use crate::error::GateError;

/// Quota name: the fewest records a job may hold.
pub const MIN_RECORDS_PER_JOB: &str = "Minimum number of records per batch inference job";
/// Quota name: the most records a job may hold.
pub const RECORDS_PER_JOB: &str = "Records per batch inference job";
/// Quota name: the most records one input file may hold.
pub const RECORDS_PER_FILE: &str = "Records per input file per batch inference job";
/// Quota name: the largest input file, bytes.
pub const FILE_SIZE: &str = "Batch inference input file size";
/// Quota name: the most bytes all of a job's input files may hold together.
pub const JOB_SIZE: &str = "Batch inference job size";

/// Bedrock's per-job batch quotas (see the module documentation for the
/// sources of the defaults).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobLimits {
    /// `Minimum number of records per batch inference job`: default 100.
    pub min_records_per_job: u64,
    /// `Records per batch inference job`: default 50,000.
    pub max_records_per_job: u64,
    /// `Records per input file per batch inference job`: default 50,000.
    pub max_records_per_file: u64,
    /// `Batch inference input file size`: default 1 GB (10^9 bytes).
    pub max_bytes_per_file: u64,
    /// `Batch inference job size`: default 5 GB (5 * 10^9 bytes).
    pub max_bytes_per_job: u64,
}

impl Default for JobLimits {
    fn default() -> Self {
        JobLimits {
            min_records_per_job: 100,
            max_records_per_job: 50_000,
            max_records_per_file: 50_000,
            max_bytes_per_file: 1_000_000_000,
            max_bytes_per_job: 5_000_000_000,
        }
    }
}

fn refuse(limit: &str, quota: u64, scope: String, count: u64) -> GateError {
    GateError::BatchQuota {
        limit: limit.to_string(),
        quota,
        scope,
        count,
    }
}

impl JobLimits {
    /// Checks the files of one job (all for `model_id`, as a job runs one
    /// model) against the quotas; the first quota broken is the error
    /// ([`GateError::BatchQuota`], naming the quota, its value, the count
    /// and whether the job or which file broke it). Files for another
    /// model are a [`GateError::Request`].
    pub fn check(&self, model_id: &str, files: &[BatchFile]) -> Result<(), GateError> {
        if let Some(f) = files.iter().find(|f| f.model_id != model_id) {
            return Err(GateError::Request(format!(
                "batch file {} is for model `{}`, not the job's `{model_id}`",
                f.path.display(),
                f.model_id
            )));
        }
        for f in files {
            let name = f.path.file_name().map_or_else(
                || f.path.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            );
            let records = u64::try_from(f.records).unwrap_or(u64::MAX);
            if records > self.max_records_per_file {
                return Err(refuse(
                    RECORDS_PER_FILE,
                    self.max_records_per_file,
                    format!("file {name}"),
                    records,
                ));
            }
            if f.bytes > self.max_bytes_per_file {
                return Err(refuse(
                    FILE_SIZE,
                    self.max_bytes_per_file,
                    format!("file {name}"),
                    f.bytes,
                ));
            }
        }
        let records = files
            .iter()
            .map(|f| u64::try_from(f.records).unwrap_or(u64::MAX))
            .fold(0u64, u64::saturating_add);
        let bytes = files
            .iter()
            .map(|f| f.bytes)
            .fold(0u64, u64::saturating_add);
        let job = || "the job".to_string();
        if records < self.min_records_per_job {
            return Err(refuse(
                MIN_RECORDS_PER_JOB,
                self.min_records_per_job,
                job(),
                records,
            ));
        }
        if records > self.max_records_per_job {
            return Err(refuse(
                RECORDS_PER_JOB,
                self.max_records_per_job,
                job(),
                records,
            ));
        }
        if bytes > self.max_bytes_per_job {
            return Err(refuse(JOB_SIZE, self.max_bytes_per_job, job(), bytes));
        }
        Ok(())
    }
}
