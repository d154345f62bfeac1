//! [`PackRunner`]: starts, resumes and decides pack runs.

use crate::book::RunBook;
use crate::build::{pipeline, PIPELINE_ID};
use crate::command::DEFAULT_STEP_TIMEOUT;
use crate::context::{LoadedPlan, RunContext};
use crate::error::PackRunError;
use crate::hash::{hash_value, normalised};
use crate::lease::{LeaseRefusal, RunClaim};
use crate::logs::LogWriter;
use crate::mask::Masker;
use crate::owned::OwnedWrites;
use crate::plan::Plan;
use crate::steps::RunEnv;
use berth_core::packrun::{
    Approval, ApprovalStatus, DecisionRequest, LogEntry, LogLevel, PackRun, RunStatus, StepState,
    StepStatus,
};
use berth_core::{codec, Batch, ErrorKind, Store};
use berth_pipeline::record::{runs_collection, RunRecord, RunStatus as EngineStatus};
use berth_pipeline::PipelineError;
use berth_pipeline::{Cause, Failure, Outcome};
use berth_pipeline::{Engine, StartOptions};
use serde_json::json;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// How a runner is set up.
#[derive(Debug, Clone)]
pub struct RunnerOptions {
    /// Each run's outputs go to `<artifacts_root>/<run id>/`.
    pub artifacts_root: PathBuf,
    /// Sees every log entry once it is stored (live progress).
    pub observer: Option<mpsc::UnboundedSender<LogEntry>>,
    /// Tenant of new runs.
    pub tenant: Option<String>,
    /// Limit of a step attempt whose plan sets no `timeoutSeconds` (default
    /// [`DEFAULT_STEP_TIMEOUT`]).
    pub step_timeout: Duration,
}

impl Default for RunnerOptions {
    fn default() -> Self {
        RunnerOptions {
            artifacts_root: PathBuf::new(),
            observer: None,
            tenant: None,
            step_timeout: DEFAULT_STEP_TIMEOUT,
        }
    }
}

/// Where a run stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finish {
    /// Every step done.
    Succeeded,
    /// A step failed or a gate was rejected.
    Failed {
        /// Why.
        reason: String,
    },
    /// Waiting at a gate.
    Paused {
        /// The pending gates.
        gates: Vec<Approval>,
    },
    /// Aborted (lease lost).
    Cancelled,
}

/// The run as it stopped.
#[derive(Debug, Clone)]
pub struct RunSummary {
    /// The run record.
    pub run: PackRun,
    /// How it stopped.
    pub finish: Finish,
}

/// Collection of run contexts (key: run id), written before the run record.
const CONTEXTS: &str = "packrun-contexts";

/// A run that may be resumed, as [`PackRunner::check_resumable`] found it.
#[derive(Debug, Clone)]
pub struct Resumable {
    /// The run record.
    pub run: PackRun,
    /// Its plan (matches the run's plan hash): the plan file given or the one it started
    /// from if still there, else the stored plan, whose secret literals read `***`.
    pub plan: Plan,
    /// A secret literal (step, key) the plan lacks because only the stored plan was found.
    pub secret_not_stored: Option<(String, String)>,
    /// Where it executes.
    pub context: RunContext,
    /// Whether the engine has its record (false: killed before its first write).
    pub engine_started: bool,
}

/// Executes task-pack plans durably over a [`Store`].
///
/// See the [module docs](crate) for the guarantees.
#[derive(Debug, Clone)]
pub struct PackRunner {
    store: Store,
    options: RunnerOptions,
}

enum Begin {
    Start,
    Resume,
}

impl PackRunner {
    /// A runner over `store`.
    pub fn new(store: Store, options: RunnerOptions) -> Self {
        PackRunner { store, options }
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Creates the run record for `plan` and executes it until it ends or pauses.
    pub async fn start(
        &self,
        plan: &LoadedPlan,
        run_id: Option<String>,
    ) -> Result<RunSummary, PackRunError> {
        plan.plan.validate().map_err(|e| PackRunError::Plan {
            source_name: plan
                .path
                .as_ref()
                .map_or("<inline>".into(), |p| p.display().to_string()),
            reason: e.0,
        })?;
        if let Some((step, source)) = plan.plan.missing_variable() {
            return Err(PackRunError::MissingVariable { step, source });
        }
        let run_id = run_id.unwrap_or_else(|| self.store.ids().next_id().to_string());
        berth_core::packrun::validate_run_id(&run_id)?;
        let mut run = PackRun::new(&run_id, &plan.hash, normalised(&plan.plan));
        run.failure_policy = plan.plan.failure_policy.clone();
        run.requested_at = self.store.clock().now();
        run.tenant_id = self.options.tenant.clone();
        run.steps = plan
            .plan
            .steps
            .iter()
            .flat_map(|s| s.leaf_ids())
            .map(|step_id| StepState {
                step_id,
                status: StepStatus::Pending,
                attempts: 0,
                next_attempt_at: None,
                last_error: None,
            })
            .collect();
        if self.store.runs().get(&run_id).await?.is_some() {
            return Err(PackRunError::RunExists(run_id));
        }
        let root = std::path::absolute(&self.options.artifacts_root)
            .unwrap_or_else(|_| self.options.artifacts_root.clone());
        let context = RunContext {
            base_dir: plan.base_dir.clone(),
            plan_path: plan.path.clone(),
            artifacts_dir: berth_core::ident::child_path(&root, "run id", &run_id)?,
        };
        // The context goes first, so a runner killed right after creating the run record
        // leaves everything a resume needs to start it.
        let mut batch = Batch::new();
        batch.put(CONTEXTS, &run_id, codec::to_json(&context)?);
        self.store.commit(batch).await?;
        let run = match self.store.runs().create(run).await {
            Ok(r) => r,
            Err(e) if e.kind() == ErrorKind::Conflict => {
                return Err(PackRunError::RunExists(run_id))
            }
            Err(e) => return Err(e.into()),
        };
        tracing::info!(run = %run_id, plan = %plan.plan.name, hash = %plan.hash, "pack run created");
        self.drive(run, plan.plan.clone(), context, Begin::Start)
            .await
    }

    /// Checks that `run_id` can be resumed: it exists, has not ended, its stored plan matches
    /// its hash, and the plan file (`plan`, or the file it started from if still there) has
    /// not changed. Changes nothing.
    pub async fn check_resumable(
        &self,
        run_id: &str,
        plan: Option<&LoadedPlan>,
    ) -> Result<Resumable, PackRunError> {
        let run = self
            .store
            .runs()
            .get(run_id)
            .await?
            .ok_or_else(|| PackRunError::RunNotFound(run_id.to_owned()))?;
        let status = match run.status {
            RunStatus::Succeeded => Some("succeeded"),
            RunStatus::Failed => Some("failed"),
            RunStatus::Cancelled => Some("been cancelled"),
            _ => None,
        };
        if let Some(status) = status {
            return Err(PackRunError::NotResumable {
                run_id: run_id.to_owned(),
                status: status.to_owned(),
            });
        }
        let corrupt = |reason: String| PackRunError::Corrupt {
            run_id: run_id.to_owned(),
            reason,
        };
        let stored: Plan = serde_json::from_value(run.plan.clone())
            .map_err(|e| corrupt(format!("stored plan does not decode: {e}")))?;
        if hash_value(&normalised(&stored)) != run.plan_hash {
            return Err(corrupt("stored plan does not match its plan hash".into()));
        }
        let context = self
            .store
            .records()
            .get(CONTEXTS, run_id)
            .await?
            .ok_or_else(|| PackRunError::NeverStarted(run_id.to_owned()))?;
        let context: RunContext = codec::from_json(context.value, "run context")?;
        let engine_started = self
            .store
            .records()
            .get(&runs_collection(PIPELINE_ID), run_id)
            .await?
            .is_some();
        let changed = |path: Option<PathBuf>, given: String| PackRunError::PlanChanged {
            run_id: run_id.to_owned(),
            path: path.map_or("<given plan>".into(), |p| p.display().to_string()),
            stored: run.plan_hash.clone(),
            given,
        };
        let fresh = match plan {
            Some(p) => Some(p.clone()),
            None => match &context.plan_path {
                Some(path) if path.exists() => match LoadedPlan::from_file(path) {
                    Ok(p) => Some(p),
                    Err(e) => {
                        return Err(changed(
                            Some(path.clone()),
                            format!("an invalid plan ({e})"),
                        ))
                    }
                },
                _ => None,
            },
        };
        // The same hash means the same plan but for secret literals, which only the file
        // holds (the hash and the stored plan have `***` for them).
        let (plan, secret_not_stored) = match fresh {
            Some(p) if p.hash != run.plan_hash => return Err(changed(p.path, p.hash)),
            Some(p) => (p.plan, None),
            None => {
                let first = stored.secret_literals().into_iter().next();
                (stored, first)
            }
        };
        Ok(Resumable {
            run,
            plan,
            secret_not_stored,
            context,
            engine_started,
        })
    }

    /// Continues a paused run or one whose runner was killed, from its last committed step.
    pub async fn resume(
        &self,
        run_id: &str,
        plan: Option<&LoadedPlan>,
    ) -> Result<RunSummary, PackRunError> {
        let r = self.check_resumable(run_id, plan).await?;
        r.check_runnable()?;
        // Killed between creating the run and the engine's first write: start it now.
        let begin = if r.engine_started {
            Begin::Resume
        } else {
            Begin::Start
        };
        self.drive(r.run, r.plan, r.context, begin).await
    }

    /// Records a decision on gate `gate` of `run_id` (does not resume the run).
    pub async fn decide(
        &self,
        run_id: &str,
        gate: &str,
        request: DecisionRequest,
    ) -> Result<Approval, PackRunError> {
        if self.store.runs().get(run_id).await?.is_none() {
            return Err(PackRunError::RunNotFound(run_id.to_owned()));
        }
        if self.store.approvals().get(run_id, gate).await?.is_none() {
            let known: Vec<String> = self
                .store
                .approvals()
                .list(run_id)
                .await?
                .into_iter()
                .map(|a| a.approval_id)
                .collect();
            return Err(PackRunError::GateNotFound {
                run_id: run_id.to_owned(),
                gate: gate.to_owned(),
                known: if known.is_empty() {
                    "none".into()
                } else {
                    known.join(", ")
                },
            });
        }
        match self.store.approvals().decide(run_id, gate, request).await {
            Ok(a) => Ok(a),
            Err(e) if matches!(e.kind(), ErrorKind::Conflict | ErrorKind::InvalidInput) => {
                Err(PackRunError::Decision(match e {
                    berth_core::Error::Conflict { reason, .. } => reason,
                    other => other.to_string(),
                }))
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn drive(
        &self,
        run: PackRun,
        plan: Plan,
        context: RunContext,
        begin: Begin,
    ) -> Result<RunSummary, PackRunError> {
        let run_id = run.id.clone();
        let claim = match RunClaim::acquire(&self.store, &run_id).await {
            Ok(l) => l,
            Err(LeaseRefusal::Held(l)) => {
                return Err(PackRunError::Busy {
                    run_id,
                    owner: l.owner,
                    expires_at: l.expires_at,
                })
            }
            Err(LeaseRefusal::Store(e)) => return Err(e.into()),
        };
        // What was read before the claim may be stale: a runner that held it meanwhile may
        // have ended the run (concurrent resumes: only one may act on it).
        let run = match self.store.runs().get(&run_id).await {
            Ok(Some(current)) => current,
            Ok(None) => {
                claim.release().await;
                return Err(PackRunError::RunNotFound(run_id));
            }
            Err(e) => {
                claim.release().await;
                return Err(e.into());
            }
        };
        let ended = match run.status {
            RunStatus::Succeeded => Some("succeeded"),
            RunStatus::Failed => Some("failed"),
            RunStatus::Cancelled => Some("been cancelled"),
            _ => None,
        };
        if let Some(status) = ended {
            claim.release().await;
            return Err(PackRunError::NotResumable {
                run_id,
                status: status.to_owned(),
            });
        }
        let owned = OwnedWrites::new(self.store.clone(), claim.clone());
        let result = self.drive_held(run, plan, context, begin, owned).await;
        let result = match result {
            _ if claim.lost().is_cancelled() => Err(PackRunError::ClaimLost { run_id }),
            Err(PackRunError::Engine(PipelineError::ClaimLost(_))) => {
                Err(PackRunError::ClaimLost { run_id })
            }
            Err(PackRunError::Store(e)) if e.kind() == ErrorKind::StaleFence => {
                Err(PackRunError::ClaimLost { run_id })
            }
            other => other,
        };
        if !claim.lost().is_cancelled() {
            claim.release().await;
        }
        result
    }

    async fn drive_held(
        &self,
        run: PackRun,
        plan: Plan,
        context: RunContext,
        begin: Begin,
        owned: OwnedWrites,
    ) -> Result<RunSummary, PackRunError> {
        let run_id = run.id.clone();
        let cancel: CancellationToken = owned.claim().lost();
        let masker = Masker::for_plan(&plan);
        let log = LogWriter::open(owned.clone(), &run_id, self.options.observer.clone())
            .await?
            .with_masker(masker.clone());
        let book = RunBook::new(owned.clone(), run);
        let env = Arc::new(RunEnv {
            store: self.store.clone(),
            owned: owned.clone(),
            run_id: run_id.clone(),
            book: book.clone(),
            log: log.clone(),
            context: context.clone(),
            step_timeout: self.options.step_timeout,
        });
        let mut builder = Engine::builder(self.store.clone(), pipeline(&plan, &env))
            .default_pause_timeout(std::time::Duration::ZERO);
        if owned.claim().is_fenced() {
            builder = builder.claim(owned.claim().clone());
        }
        let engine = builder.build()?;
        book.update(|r| r.status = RunStatus::Running).await?;
        let report = match begin {
            Begin::Start => {
                log.event(
                    LogLevel::Info,
                    "run.started",
                    format!("plan {} ({})", plan.name, book.snapshot().await.plan_hash),
                );
                engine
                    .start_with(StartOptions {
                        run_id: Some(run_id.clone()),
                        state: json!({ "context": context }),
                        entry: None,
                        cancel: Some(cancel.clone()),
                    })
                    .await
            }
            Begin::Resume => {
                log.event(
                    LogLevel::Info,
                    "run.resumed",
                    "resuming from the last committed step",
                );
                engine.resume_with(&run_id, cancel.clone()).await
            }
        };
        let outcome = match report {
            Ok(r) => r.outcome,
            // Killed after the engine's last commit but before the run record caught up:
            // finish the bookkeeping from the engine's record.
            Err(PipelineError::NotResumable { .. }) => match engine.run_record(&run_id).await? {
                Some((record, _)) => ended_outcome(&record),
                None => return Err(PackRunError::NeverStarted(run_id)),
            },
            Err(e) => {
                let _ = log.flush().await;
                return Err(e.into());
            }
        };
        let finish = match outcome {
            Outcome::Completed | Outcome::Terminated => {
                log.event(LogLevel::Info, "run.succeeded", "every step done");
                book.conclude(RunStatus::Succeeded).await?;
                Finish::Succeeded
            }
            Outcome::Paused { .. } => {
                let gates: Vec<Approval> = self
                    .store
                    .approvals()
                    .list(&run_id)
                    .await?
                    .into_iter()
                    .filter(|a| a.status == ApprovalStatus::Pending)
                    .collect();
                let names: Vec<&str> = gates.iter().map(|g| g.approval_id.as_str()).collect();
                log.event(
                    LogLevel::Info,
                    "run.paused",
                    format!("waiting for approval of {}", names.join(", ")),
                );
                book.conclude(RunStatus::Paused).await?;
                Finish::Paused { gates }
            }
            Outcome::Failed(failure) => {
                let reason = failure
                    .causes
                    .iter()
                    .map(|c| match c {
                        Cause::Step { error, .. } => error.clone(),
                        other => format!("{other:?}"),
                    })
                    .collect::<Vec<_>>()
                    .join("; ");
                let reason = masker.masked(reason);
                log.event(LogLevel::Error, "run.failed", reason.clone());
                book.conclude(RunStatus::Failed).await?;
                Finish::Failed { reason }
            }
            // The claim was lost: the new owner carries the run on; write nothing.
            Outcome::Aborted if cancel.is_cancelled() => {
                return Err(PackRunError::ClaimLost { run_id });
            }
            Outcome::Aborted => {
                log.event(LogLevel::Warn, "run.cancelled", "the run was aborted");
                book.conclude(RunStatus::Cancelled).await?;
                Finish::Cancelled
            }
        };
        log.flush()
            .await
            .map_err(|e| berth_core::Error::backend_msg(e, true))?;
        Ok(RunSummary {
            run: book.snapshot().await,
            finish,
        })
    }
}

impl Resumable {
    /// Whether everything the plan's environment needs is at hand: no secret literal
    /// missing (only the stored plan was found) and every `fromEnv` variable set.
    pub fn check_runnable(&self) -> Result<(), PackRunError> {
        if let Some((step, key)) = &self.secret_not_stored {
            return Err(PackRunError::SecretNotStored {
                run_id: self.run.id.clone(),
                step: step.clone(),
                key: key.clone(),
            });
        }
        if let Some((step, source)) = self.plan.missing_variable() {
            return Err(PackRunError::MissingVariable { step, source });
        }
        Ok(())
    }
}

/// The outcome an ended engine record stands for.
fn ended_outcome(record: &RunRecord) -> Outcome {
    match record.status {
        EngineStatus::Failed => Outcome::Failed(record.failure.clone().unwrap_or(Failure {
            stage: String::new(),
            causes: Vec::new(),
        })),
        EngineStatus::Aborted => Outcome::Aborted,
        EngineStatus::Terminated => Outcome::Terminated,
        _ => Outcome::Completed,
    }
}
