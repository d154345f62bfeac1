//! The engine's shared state, the set of runs it drives, and how a driven run is recorded.

use crate::address::Ancestry;
use crate::definition::Pipeline;
use crate::error::PipelineError;
use crate::events::{Emitter, EventKind, PathNode};
use crate::outcome::{Outcome, RunReport};
use crate::record::{RunRecord, RunStatus};
use crate::registry::{LiveRun, Registry};
use crate::run::{Driver, Frame, FrameEnd, RunState};
use crate::scope::Scope;
use berth_core::{Item, Store};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub(crate) struct EngineInner {
    pub store: Store,
    pub pipeline: Pipeline,
    pub registry: Registry,
    pub default_pause_timeout: Duration,
    pub emitter: Emitter,
    pub runs_collection: String,
    pub log_collection: String,
    pub root_id: Arc<str>,
    pub stage_log: bool,
    pub claim: Option<crate::owned::OwnedBy>,
    pub(crate) active: Mutex<HashMap<String, CancellationToken>>,
}

/// Removes a run from the engine's active set when its call ends.
pub(crate) struct Active<'e> {
    engine: &'e EngineInner,
    run_id: String,
}

impl Drop for Active<'_> {
    fn drop(&mut self) {
        self.engine.active().remove(&self.run_id);
    }
}

impl EngineInner {
    pub(crate) fn active(&self) -> MutexGuard<'_, HashMap<String, CancellationToken>> {
        self.active.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn claim(
        &self,
        run_id: &str,
        cancel: CancellationToken,
    ) -> Result<Active<'_>, PipelineError> {
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

    pub(crate) fn root_scope(&self, run_id: &Arc<str>) -> Scope {
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

    pub(crate) async fn read(
        &self,
        run_id: &str,
    ) -> Result<Option<Item<RunRecord>>, PipelineError> {
        Ok(self
            .store
            .records()
            .get(&self.runs_collection, run_id)
            .await?
            .map(|r| Item::from_record(&self.runs_collection, r))
            .transpose()?)
    }

    /// Drives `run` from its cursor and records how it ended.
    pub(crate) async fn execute(
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
                    let state = Value::clone(&driver.run.state);
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
                let state = Value::clone(&driver.run.state);
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
                let state = Value::clone(&driver.run.state);
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
            state: Arc::try_unwrap(driver.run.state).unwrap_or_else(|shared| Value::clone(&shared)),
            stage_commits: driver.run.seq,
        })
    }
}
