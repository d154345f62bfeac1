//! Driving one run: stages, routing, sub-pipelines and the one-batch stage commit.

use crate::address::{Ancestry, ChildAddress, ResumeAddress};
use crate::context::StepContext;
use crate::definition::{Pipeline, Stage};
use crate::error::PipelineError;
use crate::events::EventKind;
use crate::inner::EngineInner;
use crate::outcome::{Cause, Failure};
use crate::patch;
use crate::record::RunStatus;
use crate::router::{Route, RouterInput};
use crate::scope::Scope;
use crate::step::{run_steps, StepsEnd};
use berth_core::{Checkpoint, Timestamp};
use futures::future::BoxFuture;
use futures::FutureExt;
use serde_json::Value;
use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// The in-memory copy of a run, kept equal to its record after every commit.
#[derive(Debug, Clone)]
pub(crate) struct RunState {
    pub run_id: Arc<str>,
    pub state: Arc<Value>,
    pub version: u64,
    pub seq: u64,
    pub started_at: Timestamp,
    pub status: RunStatus,
    pub cursor: Option<ResumeAddress>,
    /// A current checkpoint exists; the next commit removes it (unless it writes a new one).
    pub checkpoint_pending: bool,
}

/// What a pausing commit left behind.
#[derive(Debug, Clone)]
pub(crate) struct PauseInfo {
    pub checkpoint: Checkpoint,
    pub timeout: Duration,
    pub results: BTreeMap<String, Value>,
}

/// How a (sub-)pipeline frame stopped.
pub(crate) enum FrameEnd {
    Ended { terminated: bool },
    Paused,
    Failed(Failure),
    Aborted,
}

enum StageStep {
    Next(Option<ResumeAddress>),
    InChild(ChildAddress),
    End(FrameEnd),
}

/// One level of the pipeline tree being driven.
pub(crate) struct Frame<'p> {
    pub pipeline: &'p Pipeline,
    pub ancestry: Ancestry,
    pub namespace: Vec<String>,
    pub scope: Scope,
    /// The stage path prefix of this frame, as `stage/ns:` … (empty at the root).
    pub prefix: String,
}

/// Drives a run until it ends, pauses, fails or is aborted.
pub(crate) struct Driver<'e> {
    pub engine: &'e EngineInner,
    pub run: RunState,
    pub cancel: CancellationToken,
    pub paused: Option<PauseInfo>,
}

fn first_address(p: &Pipeline) -> Option<ResumeAddress> {
    p.stages().first().map(|s| ResumeAddress::stage(&s.id))
}

impl<'e> Driver<'e> {
    fn mismatch(&self, reason: String) -> PipelineError {
        PipelineError::Mismatch {
            run_id: self.run.run_id.to_string(),
            reason,
        }
    }

    /// Runs `frame` from `start` until it ends or stops.
    pub fn drive<'a>(
        &'a mut self,
        frame: &'a Frame<'a>,
        start: Option<ResumeAddress>,
    ) -> BoxFuture<'a, Result<FrameEnd, PipelineError>> {
        async move {
            let mut at = start;
            loop {
                let Some(addr) = at else {
                    return Ok(FrameEnd::Ended { terminated: false });
                };
                if self.cancel.is_cancelled() {
                    return Ok(FrameEnd::Aborted);
                }
                let Some(idx) = frame.pipeline.index_of(&addr.stage) else {
                    return Err(self.mismatch(format!(
                        "pipeline {} has no stage {}",
                        frame.pipeline.id, addr.stage
                    )));
                };
                let stage = &frame.pipeline.stages()[idx];
                let scope = frame.scope.at_stage(&stage.id);
                let step = match addr.child {
                    None => {
                        let span = tracing::debug_span!("stage", stage = %stage.id);
                        self.run_stage(frame, &scope, stage, idx, addr.step.as_deref())
                            .instrument(span)
                            .await?
                    }
                    Some(child) => StageStep::InChild(*child),
                };
                let step = match step {
                    StageStep::InChild(child) => {
                        self.run_children(frame, &scope, stage, idx, child).await?
                    }
                    other => other,
                };
                match step {
                    StageStep::Next(next) => at = next,
                    StageStep::End(end) => return Ok(end),
                    StageStep::InChild(_) => {
                        return Err(self.mismatch("sub-pipelines did not join".into()))
                    }
                }
            }
        }
        .boxed()
    }

    async fn run_stage(
        &mut self,
        frame: &Frame<'_>,
        scope: &Scope,
        stage: &Stage,
        idx: usize,
        from_step: Option<&str>,
    ) -> Result<StageStep, PipelineError> {
        let from = match from_step {
            None => 0,
            Some(step) => stage
                .steps
                .iter()
                .position(|s| s.id == step)
                .ok_or_else(|| self.mismatch(format!("stage {} has no step {step}", stage.id)))?,
        };
        let started_at = self.engine.store.clock().now();
        scope.emit(|| EventKind::StageStart {
            stage: stage.id.clone(),
        });
        let template = StepContext {
            run_id: self.run.run_id.clone(),
            pipeline_id: Arc::from(frame.pipeline.id.as_str()),
            stage_id: Arc::from(stage.id.as_str()),
            step_id: Arc::from(""),
            seq: self.run.seq,
            attempt: 1,
            state: if frame.namespace.is_empty() {
                self.run.state.clone()
            } else {
                Arc::new(patch::view(&self.run.state, &frame.namespace).clone())
            },
            cancel: self.cancel.clone(),
        };
        let patches = match run_steps(scope, stage, from, template, &self.cancel).await {
            StepsEnd::Aborted => return Ok(StageStep::End(FrameEnd::Aborted)),
            StepsEnd::Failed(causes) => return Ok(self.stage_failed(frame, scope, stage, causes)),
            StepsEnd::Done(patches) => patches,
        };
        if self.cancel.is_cancelled() {
            return Ok(StageStep::End(FrameEnd::Aborted));
        }
        let mut new_state = Value::clone(&self.run.state);
        for (_, p) in &patches {
            if frame.namespace.is_empty() {
                patch::merge(&mut new_state, p);
            } else {
                patch::merge(&mut new_state, &patch::nest(&frame.namespace, p.clone()));
            }
        }
        let results: BTreeMap<String, Value> = patches.into_iter().collect();
        if let Some(first) = stage.sub_pipelines.first() {
            let child = ChildAddress {
                namespace: first.namespace.clone(),
                at: first_address(&first.pipeline),
            };
            let cursor = frame.ancestry.wrap(Some(ResumeAddress {
                stage: stage.id.clone(),
                step: None,
                child: Some(Box::new(child.clone())),
            }));
            let entry = self.log_entry(frame, stage, results, None, cursor.clone(), started_at);
            self.commit(
                new_state,
                cursor,
                RunStatus::Running,
                Some(entry),
                None,
                None,
            )
            .await?;
            return Ok(StageStep::InChild(child));
        }
        let route = match evaluate(
            stage,
            &self.run.run_id,
            &new_state,
            &frame.namespace,
            &results,
        ) {
            Ok(route) => route,
            Err(cause) => return Ok(self.stage_failed(frame, scope, stage, vec![cause])),
        };
        scope.emit(|| EventKind::RouterEvaluated {
            stage: stage.id.clone(),
            route: route.clone(),
        });
        self.route_and_commit(
            frame, scope, stage, idx, route, new_state, results, started_at,
        )
        .await
    }

    async fn run_children(
        &mut self,
        frame: &Frame<'_>,
        scope: &Scope,
        stage: &Stage,
        idx: usize,
        child: ChildAddress,
    ) -> Result<StageStep, PipelineError> {
        let Some(mut ci) = stage
            .sub_pipelines
            .iter()
            .position(|c| c.namespace == child.namespace)
        else {
            return Err(self.mismatch(format!(
                "stage {} has no sub-pipeline {}",
                stage.id, child.namespace
            )));
        };
        let mut at = child.at;
        loop {
            let sub = &stage.sub_pipelines[ci];
            let mut namespace = frame.namespace.clone();
            namespace.push(sub.namespace.clone());
            let child_frame = Frame {
                pipeline: &sub.pipeline,
                ancestry: frame.ancestry.child(&stage.id, &sub.namespace),
                namespace,
                scope: scope.child_scope(&sub.pipeline.id, &sub.namespace),
                prefix: format!("{}{}/{}:", frame.prefix, stage.id, sub.namespace),
            };
            scope.emit(|| EventKind::SubPipelineFork {
                stage: stage.id.clone(),
                namespace: sub.namespace.clone(),
            });
            if at.is_some() {
                match self.drive(&child_frame, at).await? {
                    FrameEnd::Ended { .. } => {}
                    other => return Ok(StageStep::End(other)),
                }
            }
            scope.emit(|| EventKind::SubPipelineJoin {
                stage: stage.id.clone(),
                namespace: sub.namespace.clone(),
            });
            ci += 1;
            match stage.sub_pipelines.get(ci) {
                Some(next) => at = first_address(&next.pipeline),
                None => break,
            }
        }
        let results: BTreeMap<String, Value> = stage
            .sub_pipelines
            .iter()
            .map(|c| {
                let mut ns = frame.namespace.clone();
                ns.push(c.namespace.clone());
                (
                    c.namespace.clone(),
                    patch::view(&self.run.state, &ns).clone(),
                )
            })
            .collect();
        let state = Value::clone(&self.run.state);
        let route = match evaluate(stage, &self.run.run_id, &state, &frame.namespace, &results) {
            Ok(route) => route,
            Err(cause) => return Ok(self.stage_failed(frame, scope, stage, vec![cause])),
        };
        scope.emit(|| EventKind::RouterEvaluated {
            stage: stage.id.clone(),
            route: route.clone(),
        });
        let now = self.engine.store.clock().now();
        self.route_and_commit(frame, scope, stage, idx, route, state, results, now)
            .await
    }

    fn stage_failed(
        &self,
        frame: &Frame<'_>,
        scope: &Scope,
        stage: &Stage,
        causes: Vec<Cause>,
    ) -> StageStep {
        scope.emit(|| EventKind::StageFailure {
            stage: stage.id.clone(),
            causes: causes.clone(),
        });
        StageStep::End(FrameEnd::Failed(Failure {
            stage: format!("{}{}", frame.prefix, stage.id),
            causes,
        }))
    }

    #[allow(clippy::too_many_arguments)]
    async fn route_and_commit(
        &mut self,
        frame: &Frame<'_>,
        scope: &Scope,
        stage: &Stage,
        idx: usize,
        route: Route,
        new_state: Value,
        results: BTreeMap<String, Value>,
        started_at: Timestamp,
    ) -> Result<StageStep, PipelineError> {
        let stages = frame.pipeline.stages();
        let advance = || stages.get(idx + 1).map(|s| ResumeAddress::stage(&s.id));
        let known = |target: &str| frame.pipeline.index_of(target).is_some();
        let (next, terminated, pause) = match &route {
            Route::Advance => (advance(), false, None),
            Route::Terminate => (None, true, None),
            Route::Jump { stage: target } if known(target) => {
                (Some(ResumeAddress::stage(target)), false, None)
            }
            Route::Pause(p) => match &p.resume_at {
                Some(target) if known(target) => {
                    (Some(ResumeAddress::stage(target)), false, Some(p.clone()))
                }
                None => (advance(), false, Some(p.clone())),
                Some(target) => return Ok(self.unknown(frame, scope, stage, target)),
            },
            Route::Jump { stage: target } => return Ok(self.unknown(frame, scope, stage, target)),
        };
        let cursor = frame.ancestry.wrap(next.clone());
        let status = match (&pause, cursor.is_none()) {
            (Some(_), _) => RunStatus::Paused,
            (None, true) if terminated => RunStatus::Terminated,
            (None, true) => RunStatus::Completed,
            (None, false) => RunStatus::Running,
        };
        let checkpoint = match &pause {
            Some(p) => {
                let timeout = p.timeout.unwrap_or(self.engine.default_pause_timeout);
                let cp = self.checkpoint(stage, cursor.clone(), timeout, &new_state, &results)?;
                Some((cp, timeout))
            }
            None => None,
        };
        let log_results = if stage.sub_pipelines.is_empty() {
            results.clone()
        } else {
            BTreeMap::new()
        };
        let entry = self.log_entry(
            frame,
            stage,
            log_results,
            Some(route),
            cursor.clone(),
            started_at,
        );
        self.commit(
            new_state,
            cursor,
            status,
            Some(entry),
            checkpoint.as_ref().map(|(cp, _)| cp.clone()),
            None,
        )
        .await?;
        if let Some((checkpoint, timeout)) = checkpoint {
            scope.emit(|| EventKind::StagePaused {
                stage: stage.id.clone(),
            });
            self.paused = Some(PauseInfo {
                checkpoint,
                timeout,
                results,
            });
            return Ok(StageStep::End(FrameEnd::Paused));
        }
        scope.emit(|| EventKind::StageSuccess {
            stage: stage.id.clone(),
        });
        if terminated {
            return Ok(StageStep::End(FrameEnd::Ended { terminated: true }));
        }
        Ok(StageStep::Next(next))
    }

    fn unknown(&self, frame: &Frame<'_>, scope: &Scope, stage: &Stage, target: &str) -> StageStep {
        self.stage_failed(
            frame,
            scope,
            stage,
            vec![Cause::UnknownStage {
                target: target.to_owned(),
            }],
        )
    }
}

fn evaluate(
    stage: &Stage,
    run_id: &str,
    state: &Value,
    namespace: &[String],
    results: &BTreeMap<String, Value>,
) -> Result<Route, Cause> {
    let Some(router) = &stage.router else {
        return Ok(Route::Advance);
    };
    let input = RouterInput {
        run_id,
        stage_id: &stage.id,
        state: patch::view(state, namespace),
        results,
    };
    // A panicking router fails its stage like a failing step instead of unwinding the run.
    std::panic::catch_unwind(AssertUnwindSafe(|| router(&input))).map_err(|panic| {
        Cause::RouterPanicked {
            message: panic_message(panic.as_ref()),
        }
    })
}

/// The text of a panic payload.
pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic".to_owned())
}
