//! The flows' error: what stopped a flow, and whether running it again can help.

use crate::backend::BackendError;

/// Why a flow stopped. Its message is what the run prints after the file and flow.
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    /// The object store, catalog or log failed (a service's error, a timeout, a broker
    /// away): running the flow again may succeed, and it resumes where it stopped.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// A local file (the spool, a spill, a local input) could not be read or written:
    /// a full disk or a permission may be fixed and the flow run again.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// Arrow could not build, cast or decode a batch: the data or the dataset's types.
    #[error(transparent)]
    Arrow(#[from] arrow_schema::ArrowError),
    /// A Parquet file could not be written or read back.
    #[error(transparent)]
    Parquet(#[from] parquet::errors::ParquetError),
    /// The dataset's rules do not fit the input (a column missing) or could not be applied.
    #[error(transparent)]
    Clean(#[from] crate::clean::CleanError),
    /// A state object, checkpoint or record is not the JSON it should be.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// The input, the pipeline or the stored state is not what the flow can take; the
    /// message says which, and how to fix it. Running again unchanged does not help.
    #[error("{0}")]
    Invalid(String),
}

impl FlowError {
    /// Whether running the flow again unchanged may succeed: a backend's or a local
    /// file's failure may pass; bad data, a bad pipeline or a bad state object does not.
    pub fn retryable(&self) -> bool {
        matches!(self, FlowError::Backend(_) | FlowError::Io(_))
    }
}

impl From<String> for FlowError {
    fn from(message: String) -> Self {
        FlowError::Invalid(message)
    }
}

impl From<&str> for FlowError {
    fn from(message: &str) -> Self {
        FlowError::Invalid(message.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_service_and_file_failures_are_worth_a_retry() {
        let service = FlowError::from(BackendError::Service {
            service: "s3",
            message: "SlowDown: reduce your request rate".into(),
        });
        assert!(service.retryable());
        assert_eq!(
            service.to_string(),
            "s3: SlowDown: reduce your request rate"
        );
        let disk = FlowError::from(std::io::Error::other("No space left on device"));
        assert!(disk.retryable());
        assert_eq!(disk.to_string(), "No space left on device");
        let state = serde_json::from_slice::<u64>(b"{").expect_err("not JSON");
        assert!(!FlowError::from(state).retryable());
        let pipeline = FlowError::from("the pipeline has no storage");
        assert!(!pipeline.retryable());
        assert_eq!(pipeline.to_string(), "the pipeline has no storage");
    }
}
