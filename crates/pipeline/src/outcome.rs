//! How a run ended (or stopped), as returned to the caller.

use crate::address::ResumeAddress;
use berth_core::Checkpoint;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::Duration;

/// Why a stage failed; a run fails with every cause of its failing stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "cause")]
pub enum Cause {
    /// A step failed on its last attempt (or with a permanent error).
    Step {
        /// The step.
        step: String,
        /// Attempts made.
        attempts: u32,
        /// The last error.
        error: String,
    },
    /// The stage's steps did not finish within the stage's timeout.
    StageTimeout {
        /// The timeout, in milliseconds.
        after_ms: u64,
    },
    /// The stage's router panicked.
    RouterPanicked {
        /// The panic message.
        message: String,
    },
    /// The router jumped (or paused) to a stage the pipeline does not have.
    UnknownStage {
        /// The stage asked for.
        target: String,
    },
}

/// A failed stage and its causes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// The stage that failed, as `stage` or `stage/namespace:child-stage` inside children.
    pub stage: String,
    /// Every cause, steps in declaration order.
    pub causes: Vec<Cause>,
}

/// How a call to start or resume a run came back.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The last stage advanced past the end.
    Completed,
    /// A router terminated the pipeline.
    Terminated,
    /// A router paused the run; it waits for [`Engine::resume`](crate::Engine::resume).
    Paused {
        /// The checkpoint written with the pausing stage.
        checkpoint: Box<Checkpoint>,
        /// Where it resumes.
        resume_at: Option<ResumeAddress>,
        /// How long the registry keeps it live.
        timeout: Duration,
    },
    /// A stage failed; nothing of it was committed.
    Failed(Failure),
    /// The run was aborted; nothing of the interrupted stage was committed.
    Aborted,
}

/// The result of running a run until it ended or paused.
#[derive(Debug, Clone, PartialEq)]
pub struct RunReport {
    /// The run.
    pub run_id: String,
    /// The pipeline.
    pub pipeline_id: String,
    /// How it came back.
    pub outcome: Outcome,
    /// The committed state.
    pub state: Value,
    /// Stage commits made by the run so far (all calls together).
    pub stage_commits: u64,
}

impl RunReport {
    /// The committed state decoded as `T`.
    pub fn state_as<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        T::deserialize(&self.state)
    }

    /// Whether the run ended successfully (completed or terminated).
    pub fn succeeded(&self) -> bool {
        matches!(self.outcome, Outcome::Completed | Outcome::Terminated)
    }
}
