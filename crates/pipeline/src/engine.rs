//! The engine: starts, resumes, aborts, lists and clears runs of one pipeline.

use crate::address::{Ancestry, ResumeAddress};
use crate::definition::Pipeline;
use crate::error::PipelineError;
use crate::events::{Emitter, Event, EventKind, PathNode, ResumeSource};
use crate::outcome::{Outcome, RunReport};
use crate::record::{
    runs_collection, stage_log_collection, CheckpointData, RunRecord, RunStatus, StageLogEntry,
};
use crate::registry::{LiveRun, Registry};
use crate::run::{Driver, Frame, FrameEnd, RunState};
use crate::scope::Scope;
use berth_core::{codec, Batch, Checkpoint, ErrorKind, Item, Precondition, Scan, Store};
use serde::Serialize;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// Default time a paused run stays live in the registry.
pub const DEFAULT_PAUSE_TIMEOUT: Duration = Duration::from_secs(300);

/// Configures an [`Engine`].
#[derive(Debug)]
pub struct EngineBuilder {
    store: Store,
    pipeline: Pipeline,
    registry: Option<Registry>,
    default_pause_timeout: Duration,
    event_capacity: usize,
}

impl EngineBuilder {
    /// Shares `registry` (for example between the engines of several pipelines).
    pub fn registry(mut self, registry: Registry) -> Self {
        self.registry = Some(registry);
        self
    }

    /// How long a paused run stays live when its router names no timeout (zero: release
    /// at once). Default [`DEFAULT_PAUSE_TIMEOUT`].
    pub fn default_pause_timeout(mut self, timeout: Duration) -> Self {
        self.default_pause_timeout = timeout;
        self
    }

    /// Capacity of the event channel (a slow subscriber loses the oldest events). Default 1024.
    pub fn event_capacity(mut self, capacity: usize) -> Self {
        self.event_capacity = capacity;
        self
    }

    /// Checks the pipeline and builds the engine.
    pub fn build(self) -> Result<Engine, PipelineError> {
        self.pipeline.validate()?;
        let id = self.pipeline.id.clone();
        let emitter = Emitter::new(self.event_capacity, self.store.clock().clone());
        Ok(Engine {
            inner: Arc::new(EngineInner {
                runs_collection: runs_collection(&id),
                log_collection: stage_log_collection(&id),
                root_id: Arc::from(id.as_str()),
                store: self.store,
                pipeline: self.pipeline,
                registry: self.registry.unwrap_or_default(),
                default_pause_timeout: self.default_pause_timeout,
                emitter,
                active: Mutex::new(HashMap::new()),
            }),
        })
    }
}

pub(crate) struct EngineInner {
    pub store: Store,
    pub pipeline: Pipeline,
    pub registry: Registry,
    pub default_pause_timeout: Duration,
    pub emitter: Emitter,
    pub runs_collection: String,
    pub log_collection: String,
    pub root_id: Arc<str>,
    active: Mutex<HashMap<String, CancellationToken>>,
}

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
    inner: Arc<EngineInner>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("pipeline", &self.inner.pipeline.id)
            .field("store", &self.inner.store)
            .finish()
    }
}

/// Removes a run from the engine's active set when its call ends.
struct Active<'e> {
    engine: &'e EngineInner,
    run_id: String,
}

impl Drop for Active<'_> {
    fn drop(&mut self) {
        self.engine.active().remove(&self.run_id);
    }
}

impl EngineInner {
    fn active(&self) -> MutexGuard<'_, HashMap<String, CancellationToken>> {
        self.active.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn claim(&self, run_id: &str, cancel: CancellationToken) -> Result<Active<'_>, PipelineError> {
        let mut active = self.active();
        if active.contains_key(run_id) {
            return Err(PipelineError::AlreadyRunning(run_id.to_owned()));
        }
        active.insert(run_id.to_owned(), cancel);
        Ok(Active {
            engine: self,
            run_id: run_id.to_owned(),
        })
    }

    fn root_scope(&self, run_id: &Arc<str>) -> Scope {
        Scope {
            emitter: self.emitter.clone(),
            run_id: run_id.clone(),
            root_id: self.root_id.clone(),
            path: vec![PathNode {
                pipeline: self.pipeline.id.clone(),
                stage: None,
                namespace: None,
            }],
        }
    }

    async fn read(&self, run_id: &str) -> Result<Option<Item<RunRecord>>, PipelineError> {
        Ok(self
            .store
            .records()
            .get(&self.runs_collection, run_id)
            .await?
            .map(|r| Item::from_record(&self.runs_collection, r))
            .transpose()?)
    }

    /// Drives `run` from its cursor and records how it ended.
    async fn execute(
        &self,
        run: RunState,
        cancel: CancellationToken,
    ) -> Result<RunReport, PipelineError> {
        let scope = self.root_scope(&run.run_id);
        let start = run.cursor.clone();
        let mut driver = Driver {
            engine: self,
            run,
            cancel,
            paused: None,
        };
        let frame = Frame {
            pipeline: &self.pipeline,
            ancestry: Ancestry::default(),
            namespace: Vec::new(),
            scope: scope.clone(),
            prefix: String::new(),
        };
        let end = driver.drive(&frame, start).await?;
        let outcome = match end {
            FrameEnd::Ended { terminated } => {
                if !driver.run.status.is_terminal() {
                    let status = if terminated {
                        RunStatus::Terminated
                    } else {
                        RunStatus::Completed
                    };
                    let state = driver.run.state.clone();
                    driver.commit(state, None, status, None, None, None).await?;
                }
                let terminated = driver.run.status == RunStatus::Terminated;
                scope.emit(|| EventKind::PipelineSuccess { terminated });
                if terminated {
                    Outcome::Terminated
                } else {
                    Outcome::Completed
                }
            }
            FrameEnd::Failed(failure) => {
                let state = driver.run.state.clone();
                let cursor = driver.run.cursor.clone();
                driver
                    .commit(
                        state,
                        cursor,
                        RunStatus::Failed,
                        None,
                        None,
                        Some(failure.clone()),
                    )
                    .await?;
                scope.emit(|| EventKind::PipelineFailure {
                    failure: failure.clone(),
                });
                Outcome::Failed(failure)
            }
            FrameEnd::Aborted => {
                let state = driver.run.state.clone();
                let cursor = driver.run.cursor.clone();
                driver
                    .commit(state, cursor, RunStatus::Aborted, None, None, None)
                    .await?;
                scope.emit(|| EventKind::PipelineAborted);
                Outcome::Aborted
            }
            FrameEnd::Paused => {
                let Some(info) = driver.paused.take() else {
                    return Err(PipelineError::Mismatch {
                        run_id: driver.run.run_id.to_string(),
                        reason: "paused without a checkpoint".into(),
                    });
                };
                let resume_at = driver.run.cursor.clone();
                scope.emit(|| EventKind::PipelinePaused {
                    resume_at: resume_at.clone(),
                    timeout: info.timeout,
                });
                if !info.timeout.is_zero() {
                    self.registry.hold(
                        LiveRun {
                            pipeline_id: self.pipeline.id.clone(),
                            run_id: driver.run.run_id.clone(),
                            state: driver.run.state.clone(),
                            version: driver.run.version,
                            seq: driver.run.seq,
                            started_at: driver.run.started_at,
                            cursor: resume_at.clone(),
                            checkpoint: info.checkpoint.clone(),
                            results: info.results,
                            store: self.store.clone(),
                            runs_collection: self.runs_collection.clone(),
                            emitter: self.emitter.clone(),
                        },
                        info.timeout,
                    );
                }
                Outcome::Paused {
                    checkpoint: Box::new(info.checkpoint),
                    resume_at,
                    timeout: info.timeout,
                }
            }
        };
        Ok(RunReport {
            run_id: driver.run.run_id.to_string(),
            pipeline_id: self.pipeline.id.clone(),
            outcome,
            state: driver.run.state,
            stage_commits: driver.run.seq,
        })
    }
}

impl Engine {
    /// Starts configuring an engine for `pipeline` over `store`.
    pub fn builder(store: Store, pipeline: Pipeline) -> EngineBuilder {
        EngineBuilder {
            store,
            pipeline,
            registry: None,
            default_pause_timeout: DEFAULT_PAUSE_TIMEOUT,
            event_capacity: 1024,
        }
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
    /// The run's record is written first (`Precondition::Absent`: an existing run id is a
    /// [`PipelineError::LostOwnership`]), so a crash before the first stage commit still
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
                if inner.pipeline.index_of(&entry.stage).is_none() {
                    return Err(PipelineError::Definition(format!(
                        "entry stage {} is not in pipeline {}",
                        entry.stage, inner.pipeline.id
                    )));
                }
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
            let mut batch = Batch::new();
            batch
                .put(&inner.runs_collection, &run_id, codec::to_json(&record)?)
                .when(Precondition::Absent);
            let committed = match inner.store.commit(batch).await {
                Ok(c) => c,
                Err(e) if e.kind() == ErrorKind::Conflict => {
                    return Err(PipelineError::LostOwnership(run_id.clone()))
                }
                Err(e) => return Err(e.into()),
            };
            let run = RunState {
                run_id: Arc::from(run_id.as_str()),
                state: record.state,
                version: committed.versions.first().copied().flatten().unwrap_or(1),
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
        Ok((
            RunState {
                run_id: Arc::from(run_id),
                state: record.state,
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

    /// Aborts a run this engine is driving; returns whether it was running here.
    pub fn abort(&self, run_id: &str) -> bool {
        match self.inner.active().get(run_id) {
            Some(token) => {
                token.cancel();
                true
            }
            None => false,
        }
    }

    /// Whether this engine is driving `run_id` right now.
    pub fn is_running(&self, run_id: &str) -> bool {
        self.inner.active().contains_key(run_id)
    }

    /// The paused runs of this pipeline, newest pause first.
    pub async fn paused_runs(&self) -> Result<Vec<PausedRun>, PipelineError> {
        let inner = &*self.inner;
        let list = inner.store.checkpoints().list(&inner.pipeline.id).await?;
        Ok(list
            .into_iter()
            .map(|checkpoint| PausedRun {
                live: inner
                    .registry
                    .is_live(&inner.pipeline.id, &checkpoint.run_id),
                checkpoint,
            })
            .collect())
    }

    /// Gives up a paused run: drops it from the registry, removes its checkpoint and marks
    /// it aborted. Returns false if the run is not paused.
    pub async fn clear_paused(&self, run_id: &str) -> Result<bool, PipelineError> {
        let inner = &*self.inner;
        let _active = inner.claim(run_id, CancellationToken::new())?;
        inner.registry.forget(&inner.pipeline.id, run_id);
        let Some(item) = inner.read(run_id).await? else {
            return Ok(false);
        };
        if item.value.status != RunStatus::Paused {
            return Ok(false);
        }
        let mut record = item.value;
        record.status = RunStatus::Aborted;
        let mut batch = Batch::new();
        batch
            .put(&inner.runs_collection, run_id, codec::to_json(&record)?)
            .when(Precondition::Version(item.meta.version));
        inner
            .store
            .checkpoints()
            .clear_in(&mut batch, &inner.pipeline.id, run_id)?;
        match inner.store.commit(batch).await {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == ErrorKind::Conflict => {
                Err(PipelineError::LostOwnership(run_id.to_owned()))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The stored record of a run and its version.
    pub async fn run_record(
        &self,
        run_id: &str,
    ) -> Result<Option<(RunRecord, u64)>, PipelineError> {
        Ok(self
            .inner
            .read(run_id)
            .await?
            .map(|item| (item.value, item.meta.version)))
    }

    /// The stage log of a run, oldest commit first.
    pub async fn stage_log(&self, run_id: &str) -> Result<Vec<StageLogEntry>, PipelineError> {
        let inner = &*self.inner;
        let records = inner
            .store
            .records()
            .scan(
                &inner.log_collection,
                &Scan::prefix(format!("{run_id}\u{1f}")),
            )
            .await?;
        Ok(records
            .into_iter()
            .map(|r| codec::from_json(r.value, "stage log entry"))
            .collect::<Result<_, _>>()?)
    }

    /// Ids of the runs stored as `running` that this engine is not driving: candidates for
    /// [`resume`](Engine::resume) after a crash.
    pub async fn interrupted_runs(&self) -> Result<Vec<String>, PipelineError> {
        let inner = &*self.inner;
        let mut out = Vec::new();
        let mut scan = Scan::all().limit(1000);
        loop {
            let page = inner
                .store
                .records()
                .scan(&inner.runs_collection, &scan)
                .await?;
            let done = page.len() < 1000;
            if let Some(last) = page.last() {
                scan.start_after = Some(last.key.clone());
            }
            for r in page {
                let key = r.key.clone();
                let item: Item<RunRecord> = Item::from_record(&inner.runs_collection, r)?;
                if item.value.status == RunStatus::Running && !self.is_running(&key) {
                    out.push(key);
                }
            }
            if done {
                return Ok(out);
            }
        }
    }
}
