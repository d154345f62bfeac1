//! The engine's error type and the error a step returns.

use std::fmt;

/// Why the engine could not start, continue or record a run.
///
/// Step failures are not errors of the engine: they end the run with
/// [`Outcome::Failed`](crate::Outcome::Failed).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PipelineError {
    /// The store failed or rejected a write.
    #[error(transparent)]
    Store(#[from] berth_core::Error),
    /// The pipeline definition is malformed.
    #[error("invalid pipeline definition: {0}")]
    Definition(String),
    /// No run with this id is stored for the pipeline.
    #[error("run {0} not found")]
    RunNotFound(String),
    /// The run exists but cannot be resumed in its status.
    #[error("run {run_id} cannot be resumed: it is {status}")]
    NotResumable {
        /// The run.
        run_id: String,
        /// Its stored status.
        status: String,
    },
    /// A run with this id already exists.
    #[error("run {0} already exists")]
    RunExists(String),
    /// The run has not ended (it is running or paused), so it cannot be purged.
    #[error("run {run_id} has not ended: it is {status}")]
    NotEnded {
        /// The run.
        run_id: String,
        /// Its stored status.
        status: String,
    },
    /// The run is being executed by this engine right now.
    #[error("run {0} is already running")]
    AlreadyRunning(String),
    /// Another engine committed to the run since this one read it; this one stopped.
    #[error("run {0} was changed by another engine; this one stopped")]
    LostOwnership(String),
    /// The engine's claim on the run was taken over by another owner; this engine stopped
    /// and stored nothing after the takeover.
    #[error(
        "run {0}: another owner took over this run; this runner stopped and wrote nothing more"
    )]
    ClaimLost(String),
    /// A stored run record or checkpoint does not fit the pipeline definition.
    #[error("run {run_id} does not fit the pipeline: {reason}")]
    Mismatch {
        /// The run.
        run_id: String,
        /// What did not fit.
        reason: String,
    },
}

impl PipelineError {
    /// The [`berth_core::ErrorKind`] of a store error, if this is one.
    pub fn store_kind(&self) -> Option<berth_core::ErrorKind> {
        match self {
            PipelineError::Store(e) => Some(e.kind()),
            _ => None,
        }
    }
}

/// The error a step's action returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepError {
    /// What went wrong.
    pub message: String,
    /// Whether another attempt may succeed; permanent errors skip the remaining retries.
    pub retryable: bool,
}

impl StepError {
    /// A retryable error.
    pub fn new(message: impl Into<String>) -> Self {
        StepError {
            message: message.into(),
            retryable: true,
        }
    }

    /// An error no retry can fix.
    pub fn permanent(message: impl Into<String>) -> Self {
        StepError {
            message: message.into(),
            retryable: false,
        }
    }
}

impl fmt::Display for StepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for StepError {}

impl From<serde_json::Error> for StepError {
    fn from(e: serde_json::Error) -> Self {
        StepError::permanent(format!("json: {e}"))
    }
}
