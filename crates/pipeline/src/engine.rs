//! The engine: starts, resumes, aborts, lists and clears runs of one pipeline.

use crate::address::ResumeAddress;
use crate::builder::EngineBuilder;
use crate::definition::Pipeline;
use crate::error::PipelineError;
use crate::events::{Event, EventKind, ResumeSource};
use crate::inner::EngineInner;
use crate::outcome::RunReport;
use crate::record::{CheckpointData, RunRecord, RunStatus};
use crate::registry::Registry;
use crate::run::RunState;
use berth_core::{codec, Batch, Checkpoint, ErrorKind, Precondition, Store};
use serde::Serialize;
use serde_json::Value;
use std::sync::Arc;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// Options of a new run.
#[derive(Debug, Clone, Default)]
pub struct StartOptions {
    /// The run id; a new id from the store's generator if `None`.
    pub run_id: Option<String>,
    /// The initial state (usually an object).
    pub state: Value,
    /// Where to start; the first stage by order if `None`.
    pub entry: Option<ResumeAddress>,
    /// Aborts the run when cancelled.
    pub cancel: Option<CancellationToken>,
}

/// A paused run as listed by [`Engine::paused_runs`].
#[derive(Debug, Clone, PartialEq)]
pub struct PausedRun {
    /// Its current checkpoint.
    pub checkpoint: Checkpoint,
    /// Whether the registry still holds it live.
    pub live: bool,
}

/// Runs one pipeline definition over a [`Store`]; cheap to clone, no thread per run.
///
/// See the crate documentation for the guarantees.
#[derive(Clone)]
pub struct Engine {
    pub(crate) inner: Arc<EngineInner>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("pipeline", &self.inner.pipeline.id)
            .field("store", &self.inner.store)
            .finish()
    }
}

impl Engine {
    /// Starts configuring an engine for `pipeline` over `store`.
    pub fn builder(store: Store, pipeline: Pipeline) -> EngineBuilder {
        EngineBuilder::new(store, pipeline)
    }

    /// An engine with default settings.
    pub fn new(store: Store, pipeline: Pipeline) -> Result<Self, PipelineError> {
        Engine::builder(store, pipeline).build()
    }

    /// The pipeline.
    pub fn pipeline(&self) -> &Pipeline {
        &self.inner.pipeline
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The registry of live paused runs.
    pub fn registry(&self) -> &Registry {
        &self.inner.registry
    }

    /// Events of every run of this engine from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.inner.emitter.subscribe()
    }

    /// Starts a new run from `state` and drives it until it ends or pauses.
    pub async fn start(&self, state: Value) -> Result<RunReport, PipelineError> {
        self.start_with(StartOptions {
            state,
            ..StartOptions::default()
        })
        .await
    }

    /// Starts a new run from a typed state.
    pub async fn start_typed<T: Serialize>(&self, state: &T) -> Result<RunReport, PipelineError> {
        self.start(codec::to_json(state)?).await
    }

    /// Starts a new run as `options` say and drives it until it ends or pauses.
    ///
    /// The run's record is written first (`Precondition::Absent`: an existing run id is
    /// [`PipelineError::RunExists`]), so a crash before the first stage commit still
    /// leaves a run to resume.
    pub async fn start_with(&self, options: StartOptions) -> Result<RunReport, PipelineError> {
        let inner = &*self.inner;
        let run_id = match options.run_id {
            Some(id) => id,
            None => inner.store.ids().next_id().to_string(),
        };
        berth_core::packrun::validate_run_id(&run_id)?;
        let cursor = match options.entry {
            Some(entry) => {
                inner
                    .pipeline
                    .check_address(&entry)
                    .map_err(|reason| PipelineError::Definition(format!("entry: {reason}")))?;
                Some(entry)
            }
            None => inner
                .pipeline
                .stages()
                .first()
                .map(|s| ResumeAddress::stage(&s.id)),
        };
        let cancel = options.cancel.unwrap_or_default();
        let span =
            tracing::debug_span!("pipeline run", pipeline = %inner.pipeline.id, run = %run_id);
        async {
            let _active = inner.claim(&run_id, cancel.clone())?;
            let started_at = inner.store.clock().now();
            let record = RunRecord {
                pipeline_id: inner.pipeline.id.clone(),
                run_id: run_id.clone(),
                status: RunStatus::Running,
                cursor: cursor.clone(),
                state: options.state,
                seq: 0,
                started_at,
                failure: None,
            };
            let build = || {
                let mut batch = Batch::new();
                batch
                    .put(&inner.runs_collection, &run_id, codec::to_json(&record)?)
                    .when(Precondition::Absent);
                Ok(batch)
            };
            let (committed, first) = match inner.commit_owned(build).await {
                Ok(c) => c,
                Err(e) if e.kind() == ErrorKind::Conflict => {
                    return Err(PipelineError::RunExists(run_id.clone()))
                }
                Err(e) if e.kind() == ErrorKind::StaleFence => {
                    return Err(PipelineError::ClaimLost(run_id.clone()))
                }
                Err(e) => return Err(e.into()),
            };
            let run = RunState {
                run_id: Arc::from(run_id.as_str()),
                state: Arc::new(record.state),
                version: committed
                    .versions
                    .get(first)
                    .copied()
                    .flatten()
                    .unwrap_or(1),
                seq: 0,
                started_at,
                status: RunStatus::Running,
                cursor,
                checkpoint_pending: false,
            };
            inner
                .root_scope(&run.run_id)
                .emit(|| EventKind::PipelineStart);
            inner.execute(run, cancel).await
        }
        .instrument(span)
        .await
    }

    /// Continues a paused run, or a run left `running` by a crashed process.
    ///
    /// Fast path: the registry still holds the paused run live; nothing is read. Slow path:
    /// the run record (and checkpoint) are read from the store, so this works in a fresh
    /// engine or process.
    pub async fn resume(&self, run_id: &str) -> Result<RunReport, PipelineError> {
        self.resume_with(run_id, CancellationToken::new()).await
    }

    /// [`resume`](Engine::resume) with a token that aborts the run when cancelled.
    pub async fn resume_with(
        &self,
        run_id: &str,
        cancel: CancellationToken,
    ) -> Result<RunReport, PipelineError> {
        let inner = &*self.inner;
        let span =
            tracing::debug_span!("pipeline resume", pipeline = %inner.pipeline.id, run = %run_id);
        async {
            let _active = inner.claim(run_id, cancel.clone())?;
            let (run, from) = match inner.registry.take(&inner.pipeline.id, run_id) {
                Some(live) => (
                    RunState {
                        run_id: live.run_id,
                        state: live.state,
                        version: live.version,
                        seq: live.seq,
                        started_at: live.started_at,
                        status: RunStatus::Paused,
                        cursor: live.cursor,
                        checkpoint_pending: true,
                    },
                    ResumeSource::Live,
                ),
                None => self.load(run_id).await?,
            };
            inner
                .root_scope(&run.run_id)
                .emit(|| EventKind::PipelineResumed { from });
            inner.execute(run, cancel).await
        }
        .instrument(span)
        .await
    }

    /// The slow path: rebuilds a run from its record and checkpoint.
    async fn load(&self, run_id: &str) -> Result<(RunState, ResumeSource), PipelineError> {
        let inner = &*self.inner;
        let Some(item) = inner.read(run_id).await? else {
            return Err(PipelineError::RunNotFound(run_id.to_owned()));
        };
        let record = item.value;
        let mut from = ResumeSource::Record;
        let mut cursor = record.cursor;
        match record.status {
            RunStatus::Running => {}
            RunStatus::Paused => {
                let checkpoint = inner
                    .store
                    .checkpoints()
                    .read(&inner.pipeline.id, run_id)
                    .await?;
                if let Some(cp) = checkpoint {
                    let data: CheckpointData = codec::from_json(cp.data, "checkpoint data")?;
                    if data.run_version != item.meta.version {
                        return Err(PipelineError::Mismatch {
                            run_id: run_id.to_owned(),
                            reason: format!(
                                "checkpoint was written at run version {}, record is at {}",
                                data.run_version, item.meta.version
                            ),
                        });
                    }
                    if data.bundle.is_some() {
                        from = ResumeSource::Bundle;
                    }
                    cursor = data.resume_at;
                }
            }
            status => {
                return Err(PipelineError::NotResumable {
                    run_id: run_id.to_owned(),
                    status: status.to_string(),
                })
            }
        }
        if let Some(at) = &cursor {
            inner
                .pipeline
                .check_address(at)
                .map_err(|reason| PipelineError::Mismatch {
                    run_id: run_id.to_owned(),
                    reason,
                })?;
        }
        Ok((
            RunState {
                run_id: Arc::from(run_id),
                state: Arc::new(record.state),
                version: item.meta.version,
                seq: record.seq,
                started_at: record.started_at,
                status: record.status,
                cursor,
                checkpoint_pending: record.status == RunStatus::Paused,
            },
            from,
        ))
    }
}
