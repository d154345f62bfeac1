//! Why a pack-run operation failed.

use berth_core::Timestamp;
use berth_pipeline::PipelineError;
use std::path::PathBuf;

/// Errors of the pack-run runner; each says what went wrong in terms a user can act on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PackRunError {
    /// The plan file could not be read.
    #[error("cannot read plan {path}: {source}")]
    PlanRead {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The plan is malformed.
    #[error("invalid plan {source_name}: {reason}")]
    Plan {
        /// The file (or `<inline>`).
        source_name: String,
        /// What is wrong.
        reason: String,
    },
    /// The plan differs from the one the run started with.
    #[error("plan {path} changed since run {run_id} started (run has {stored}, file has {given})")]
    PlanChanged {
        /// The run.
        run_id: String,
        /// Where the plan was read from.
        path: String,
        /// The run's plan hash.
        stored: String,
        /// The hash of the plan given now.
        given: String,
    },
    /// A `fromEnv` environment value names a variable berth's environment lacks.
    #[error("step {step:?}: {source}")]
    MissingVariable {
        /// The step.
        step: String,
        /// The key and variable.
        source: crate::env::MissingVariable,
    },
    /// Resuming needs a secret literal of the plan, which a run never stores.
    #[error("run {run_id} needs the secret value of {key} (step {step:?}), which is never stored; resume it with the plan file it started from")]
    SecretNotStored {
        /// The run.
        run_id: String,
        /// The step.
        step: String,
        /// The environment name.
        key: String,
    },
    /// A run with this id exists.
    #[error("run {0} already exists")]
    RunExists(String),
    /// No such run.
    #[error("run {0} not found")]
    RunNotFound(String),
    /// The run has ended.
    #[error("run {run_id} has already {status}; there is nothing to resume")]
    NotResumable {
        /// The run.
        run_id: String,
        /// Its status.
        status: String,
    },
    /// The run record exists but no execution state: its runner stopped before the first
    /// commit, or the run was imported (exports carry records, not execution state).
    #[error("run {0} has no execution state in this store (its runner stopped before the first commit, or it was imported from an export)")]
    NeverStarted(String),
    /// The run has no such gate (yet).
    #[error("run {run_id} has no open gate {gate:?} (gates so far: {known})")]
    GateNotFound {
        /// The run.
        run_id: String,
        /// The gate asked for.
        gate: String,
        /// The run's gates, comma separated.
        known: String,
    },
    /// The decision was refused (already decided, actor decided before, missing grant).
    #[error("decision refused: {0}")]
    Decision(String),
    /// Another live runner executes the run.
    #[error("run {run_id} is being executed by runner {owner} (lease until {expires_at})")]
    Busy {
        /// The run.
        run_id: String,
        /// The runner holding it.
        owner: String,
        /// When its lease lapses unless refreshed.
        expires_at: Timestamp,
    },
    /// Another runner took the run over (this one's lease had lapsed); this runner stopped
    /// its commands and wrote nothing after the takeover.
    #[error("run {run_id} was taken over by another runner while this one's lease had lapsed; this runner stopped and wrote nothing more")]
    ClaimLost {
        /// The run.
        run_id: String,
    },
    /// A stored record does not decode or does not match its hash.
    #[error("stored data of run {run_id} is corrupt: {reason}")]
    Corrupt {
        /// The run.
        run_id: String,
        /// What is wrong.
        reason: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] berth_core::Error),
    /// The pipeline engine failed.
    #[error(transparent)]
    Engine(#[from] PipelineError),
}
