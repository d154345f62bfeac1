//! Why one attempt of a command step failed.

use std::time::Duration;

/// How a command attempt failed; its message is what the run records as the step's error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StepFailure {
    /// The program could not be started.
    #[error("could not start {program:?} in {dir}: {reason}")]
    Spawn {
        /// The program.
        program: String,
        /// The working directory.
        dir: String,
        /// What the operating system said.
        reason: String,
    },
    /// The main process exited with a non-zero status.
    #[error("exited with status {0}")]
    Exited(i32),
    /// The main process was killed by a signal.
    #[error("killed by signal {0}")]
    Signalled(i32),
    /// The attempt ran longer than its limit; its process group was terminated.
    #[error("timed out after {} s", limit.as_secs())]
    TimedOut {
        /// The step's limit (`timeoutSeconds`, or the runner's default).
        limit: Duration,
    },
    /// The main process ended in another way.
    #[error("ended with {0}")]
    Ended(String),
    /// Waiting for the main process failed.
    #[error("waiting for the process failed: {0}")]
    Wait(String),
    /// The step's environment could not be resolved.
    #[error("{0}")]
    Environment(String),
}
