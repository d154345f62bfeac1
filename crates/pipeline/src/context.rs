//! What a step's action is given.

use serde::de::DeserializeOwned;
use serde_json::Value;
use std::sync::Arc;
use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};

/// The context of one attempt of one step.
#[derive(Debug, Clone)]
pub struct StepContext {
    pub(crate) run_id: Arc<str>,
    pub(crate) pipeline_id: Arc<str>,
    pub(crate) stage_id: Arc<str>,
    pub(crate) step_id: Arc<str>,
    pub(crate) seq: u64,
    pub(crate) attempt: u32,
    pub(crate) state: Arc<Value>,
    pub(crate) cancel: CancellationToken,
}

impl StepContext {
    /// The run.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// The (sub-)pipeline the step belongs to.
    pub fn pipeline_id(&self) -> &str {
        &self.pipeline_id
    }

    /// The stage.
    pub fn stage_id(&self) -> &str {
        &self.stage_id
    }

    /// The step.
    pub fn step_id(&self) -> &str {
        &self.step_id
    }

    /// The attempt, from 1.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The number of stage commits the run had when this stage started; distinguishes two
    /// visits of the same stage (loops, jumps back).
    pub fn stage_seq(&self) -> u64 {
        self.seq
    }

    /// The committed state the stage started from (inside a sub-pipeline: its namespace).
    pub fn state(&self) -> &Value {
        &self.state
    }

    /// The state decoded as `T`.
    pub fn state_as<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        T::deserialize(self.state.as_ref())
    }

    /// A key naming this attempt: run id, stage commit sequence, stage, step and attempt.
    ///
    /// Steps run at least once: after a crash between a step's side effect and its stage's
    /// commit, the stage runs again and the step sees the same key for the same attempt
    /// number, so a side effect keyed on it can be made exactly-once.
    pub fn idempotency_key(&self) -> String {
        format!(
            "{}/{}/{}/{}/{}",
            self.run_id, self.seq, self.stage_id, self.step_id, self.attempt
        )
    }

    /// Whether the run was aborted (or the stage gave up); the step should stop.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// Completes when the run is aborted or the stage gives up.
    pub fn cancelled(&self) -> WaitForCancellationFuture<'_> {
        self.cancel.cancelled()
    }

    /// The token the step can hand to its own work.
    pub fn cancellation_token(&self) -> &CancellationToken {
        &self.cancel
    }
}
