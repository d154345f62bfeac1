//! What the engine stores per run: the run record (state + cursor) and the stage log.
//!
//! Layout, all in the run's root pipeline's collections:
//!
//! - `pipeline-runs:<pipeline>` / `<run>`: a [`RunRecord`]; every stage commit puts it
//!   with `Precondition::Version(n)` of the version the engine last wrote or read, so a
//!   stage can never be committed twice and two engines can never both drive one run;
//! - `pipeline-stage-log:<pipeline>` / `<run>\u{1f}<seq>`: one [`StageLogEntry`] per stage
//!   commit, written with `Precondition::Absent` in the same batch;
//! - the paused run's checkpoint (berth-core's [`Checkpoints`](berth_core::Checkpoints),
//!   namespace = the pipeline id), also in the same batch.

use crate::address::ResumeAddress;
use crate::outcome::Failure;
use crate::router::Route;
use berth_core::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;

/// The stored status of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Started or running; after a crash, [`Engine::resume`](crate::Engine::resume) continues it.
    Running,
    /// Paused by a router; a checkpoint exists.
    Paused,
    /// Ended after the last stage.
    Completed,
    /// Ended by a router's terminate.
    Terminated,
    /// A stage failed.
    Failed,
    /// Aborted (or a paused run was cleared).
    Aborted,
}

impl RunStatus {
    /// Whether the run has ended for good.
    pub fn is_terminal(self) -> bool {
        !matches!(self, RunStatus::Running | RunStatus::Paused)
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            RunStatus::Running => "running",
            RunStatus::Paused => "paused",
            RunStatus::Completed => "completed",
            RunStatus::Terminated => "terminated",
            RunStatus::Failed => "failed",
            RunStatus::Aborted => "aborted",
        };
        f.write_str(s)
    }
}

/// The durable record of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// The pipeline.
    pub pipeline_id: String,
    /// The run.
    pub run_id: String,
    /// Its status.
    pub status: RunStatus,
    /// The next position; `None` once the pipeline ended.
    pub cursor: Option<ResumeAddress>,
    /// The committed state.
    pub state: Value,
    /// Number of stage commits so far.
    pub seq: u64,
    /// When the run started.
    pub started_at: Timestamp,
    /// Why it failed, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
}

/// One committed stage, as kept in the stage log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageLogEntry {
    /// The commit's sequence number, from 1.
    pub seq: u64,
    /// The stage, as `stage` or `stage/namespace:child-stage`.
    pub stage: String,
    /// Each step's patch, by step id (empty for a sub-pipeline join).
    pub patches: BTreeMap<String, Value>,
    /// What the router decided (`None` when the steps commit before sub-pipelines run).
    pub route: Option<Route>,
    /// The cursor after the commit.
    pub cursor: Option<ResumeAddress>,
    /// When the stage's steps started.
    pub started_at: Timestamp,
}

/// The engine's part of a [`Checkpoint`](berth_core::Checkpoint): its `data` field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointData {
    /// Where the run resumes (stage, step, nested sub-pipeline address); `None` = at the end.
    pub resume_at: Option<ResumeAddress>,
    /// How long the registry keeps the run live, in milliseconds.
    pub pause_timeout_ms: u64,
    /// The run record's version written with the checkpoint.
    pub run_version: u64,
    /// The stage commit sequence number of the pausing commit.
    pub seq: u64,
    /// The exported run context, written when the registry releases the live run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle: Option<Bundle>,
}

/// A paused run's exported context.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bundle {
    /// The committed state at the pause.
    pub state: Value,
    /// The pausing stage's step patches, by step id.
    pub results: BTreeMap<String, Value>,
    /// When it was exported.
    pub exported_at: Timestamp,
}

/// The collection of run records of `pipeline`.
pub fn runs_collection(pipeline: &str) -> String {
    format!("pipeline-runs:{pipeline}")
}

/// The collection of stage log entries of `pipeline`.
pub fn stage_log_collection(pipeline: &str) -> String {
    format!("pipeline-stage-log:{pipeline}")
}

/// The stage log key of commit `seq` of `run`.
pub fn stage_log_key(run: &str, seq: u64) -> String {
    format!("{run}\u{1f}{seq:020}")
}
