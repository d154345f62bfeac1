//! Events for every transition of a run, on a `tokio::sync::broadcast` channel.

use crate::address::ResumeAddress;
use crate::outcome::{Cause, Failure};
use crate::router::Route;
use berth_core::{SharedClock, Timestamp};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;

/// One step of an event's path: a (sub-)pipeline and, below the pipeline level, a stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathNode {
    /// The (sub-)pipeline id.
    pub pipeline: String,
    /// The stage within it, if the event is about a stage or below.
    pub stage: Option<String>,
    /// The namespace the pipeline runs under (`None` for the root).
    pub namespace: Option<String>,
}

/// Where a resumed run came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResumeSource {
    /// Fast path: the registry still held it.
    Live,
    /// Slow path: rebuilt from storage; the checkpoint held an exported bundle.
    Bundle,
    /// Slow path: rebuilt from the run record (no bundle, or recovery after a crash).
    Record,
}

/// What happened.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum EventKind {
    /// A new run starts.
    PipelineStart,
    /// A paused or interrupted run continues.
    PipelineResumed {
        /// Fast or slow path.
        from: ResumeSource,
    },
    /// The run ended successfully.
    PipelineSuccess {
        /// Ended by a router's terminate rather than after the last stage.
        terminated: bool,
    },
    /// The run failed.
    PipelineFailure {
        /// The failing stage and every cause.
        failure: Failure,
    },
    /// The run paused.
    PipelinePaused {
        /// Where it resumes.
        resume_at: Option<ResumeAddress>,
        /// How long the registry keeps it live.
        timeout: Duration,
    },
    /// The run was aborted.
    PipelineAborted,
    /// The registry let go of a live paused run.
    PipelineReleased {
        /// Whether its context was exported into the checkpoint (false if the run had moved on).
        exported: bool,
    },
    /// A stage's steps start.
    StageStart {
        /// The stage.
        stage: String,
    },
    /// A stage committed and advanced, jumped or terminated.
    StageSuccess {
        /// The stage.
        stage: String,
    },
    /// A stage failed; nothing of it was committed.
    StageFailure {
        /// The stage.
        stage: String,
        /// Every cause.
        causes: Vec<Cause>,
    },
    /// A stage committed and paused the run.
    StagePaused {
        /// The stage.
        stage: String,
    },
    /// An attempt of a step starts.
    StepStart {
        /// The step.
        step: String,
        /// The attempt, from 1.
        attempt: u32,
    },
    /// A step returned its patch.
    StepSuccess {
        /// The step.
        step: String,
        /// The attempt that succeeded.
        attempt: u32,
    },
    /// An attempt failed; the step is tried again after `delay`.
    StepRetry {
        /// The step.
        step: String,
        /// The attempt that failed.
        attempt: u32,
        /// The wait before the next attempt.
        delay: Duration,
        /// The error.
        error: String,
    },
    /// The step failed for good.
    StepFailure {
        /// The step.
        step: String,
        /// Attempts made.
        attempts: u32,
        /// The last error.
        error: String,
    },
    /// A router decided.
    RouterEvaluated {
        /// The stage.
        stage: String,
        /// The decision.
        route: Route,
    },
    /// A stage starts (or continues) a sub-pipeline.
    SubPipelineFork {
        /// The stage.
        stage: String,
        /// The child's namespace.
        namespace: String,
    },
    /// A sub-pipeline ended and its stage goes on.
    SubPipelineJoin {
        /// The stage.
        stage: String,
        /// The child's namespace.
        namespace: String,
    },
}

/// A transition of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The run.
    pub run_id: Arc<str>,
    /// The run's root pipeline.
    pub pipeline_id: Arc<str>,
    /// From the root pipeline down to the (sub-)pipeline and stage concerned.
    pub path: Vec<PathNode>,
    /// When it happened, by the store's clock.
    pub at: Timestamp,
    /// What happened.
    pub kind: EventKind,
}

/// Sends events; building one is skipped when nobody listens.
#[derive(Debug, Clone)]
pub(crate) struct Emitter {
    tx: broadcast::Sender<Event>,
    clock: SharedClock,
}

impl Emitter {
    pub fn new(capacity: usize, clock: SharedClock) -> Self {
        let (tx, _) = broadcast::channel(capacity.max(1));
        Emitter { tx, clock }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.tx.subscribe()
    }

    pub fn emit(
        &self,
        run_id: &Arc<str>,
        pipeline_id: &Arc<str>,
        path: impl FnOnce() -> Vec<PathNode>,
        kind: impl FnOnce() -> EventKind,
    ) {
        if self.tx.receiver_count() == 0 {
            return;
        }
        let event = Event {
            run_id: run_id.clone(),
            pipeline_id: pipeline_id.clone(),
            path: path(),
            at: self.clock.now(),
            kind: kind(),
        };
        // An error only means every receiver went away meanwhile.
        let _ = self.tx.send(event);
    }
}
