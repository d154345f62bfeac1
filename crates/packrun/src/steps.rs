//! The actions of a pack run's pipeline steps: a command attempt and an approval gate.

use crate::artifacts::capture;
use crate::book::RunBook;
use crate::command::{run_command, CommandEnd, CommandSpec};
use crate::context::RunContext;
use crate::failure::StepFailure;
use crate::logs::LogWriter;
use crate::plan::{ApprovalStep, RunStep};
use berth_core::packrun::{
    Approval, ApprovalStatus, ArtifactStatus, Decision, FailurePolicy, LogLevel, RunStatus,
    StepStatus,
};
use berth_core::{ErrorKind, Store};
use berth_pipeline::StepContext;
use berth_pipeline::StepError;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// What every step action of one run shares.
#[derive(Debug)]
pub(crate) struct RunEnv {
    pub store: Store,
    pub owned: crate::owned::OwnedWrites,
    pub run_id: String,
    pub book: RunBook,
    pub log: LogWriter,
    pub context: RunContext,
    /// A step's limit when its plan sets no `timeoutSeconds`.
    pub step_timeout: Duration,
}

fn store_err(e: berth_core::Error) -> StepError {
    if e.is_retryable() {
        StepError::new(format!("store: {e}"))
    } else {
        StepError::permanent(format!("store: {e}"))
    }
}

/// One command step: its definition, effective policy and concurrency limit.
#[derive(Debug)]
pub(crate) struct Leaf {
    pub step: RunStep,
    pub policy: FailurePolicy,
    /// The block's `continueOnError` (or the step's own).
    pub continue_on_error: bool,
    pub limit: Option<Arc<Semaphore>>,
}

/// One attempt of a command step.
pub(crate) async fn run_leaf(
    ctx: StepContext,
    leaf: Arc<Leaf>,
    env: Arc<RunEnv>,
) -> Result<Value, StepError> {
    let step = &leaf.step;
    let id = step.id.as_str();
    // A child of a `parallel` or `map` commits its success on the run record before its
    // stage commits; a runner resuming the stage must not execute it again.
    if env.book.succeeded(id).await {
        tracing::info!(run = %env.run_id, step = id, "step succeeded before the runner stopped; not run again");
        return Ok(json!({ "steps": { id: "succeeded" } }));
    }
    let _permit = match &leaf.limit {
        Some(s) => Some(
            s.clone()
                .acquire_owned()
                .await
                .map_err(|_| StepError::permanent("concurrency limit closed"))?,
        ),
        None => None,
    };
    let attempt = ctx.attempt();
    let max = leaf.policy.max_attempts.max(1);
    env.book.started(id, attempt).await.map_err(store_err)?;
    let shown: Vec<&str> = std::iter::once(step.program.as_str())
        .chain(step.args.iter().map(String::as_str))
        .collect();
    env.log.step_event(
        LogLevel::Info,
        "step.started",
        id,
        attempt,
        format!("attempt {attempt}/{max}: {}", shown.join(" ")),
    );
    let workdir = env.context.workdir(step.working_dir.as_deref());
    let end = match crate::env::resolve(&step.env) {
        Ok(resolved) => {
            let spec = CommandSpec {
                program: step.program.clone(),
                args: step.args.clone(),
                env: resolved.plain,
                secret_env: resolved.secret,
                dir: workdir.clone(),
                timeout: Some(
                    step.timeout_seconds
                        .map_or(env.step_timeout, Duration::from_secs),
                ),
            };
            run_command(&spec, &env.log, id, attempt, ctx.cancellation_token()).await
        }
        // Checked when the run starts; berth's environment cannot change since, but the
        // step fails with the reason rather than run without the value.
        Err(e) => CommandEnd::Failure(StepFailure::Environment(e.to_string())),
    };
    let message = match end {
        CommandEnd::Cancelled => {
            let _ = env.log.flush().await;
            return Err(StepError::permanent("cancelled"));
        }
        CommandEnd::Success => {
            let artifacts_dir = env.context.artifacts_dir.clone();
            let records = capture(
                &env.owned,
                &env.run_id,
                &step.outputs,
                &workdir,
                &artifacts_dir,
            )
            .await
            .map_err(store_err)?;
            for a in records {
                let (level, kind) = match a.status {
                    ArtifactStatus::Copied => (LogLevel::Info, "artifact.copied"),
                    _ => (LogLevel::Warn, "artifact.skipped"),
                };
                let text = format!(
                    "{}: {}",
                    a.name,
                    a.stored_path
                        .as_deref()
                        .or(a.notes.as_deref())
                        .unwrap_or("")
                );
                env.log.step_event(level, kind, id, attempt, text);
            }
            env.log
                .step_event(LogLevel::Info, "step.succeeded", id, attempt, "succeeded");
            env.log.flush().await.map_err(StepError::new)?;
            env.book
                .finished(id, StepStatus::Succeeded, None)
                .await
                .map_err(store_err)?;
            return Ok(json!({ "steps": { id: "succeeded" } }));
        }
        // Stored on the run and in the engine's record: masked like the logs.
        CommandEnd::Failure(failure) => env.log.masker().masked(failure.to_string()),
    };
    if attempt < max {
        let wait = Duration::from_secs(leaf.policy.backoff_seconds);
        let next = env.store.clock().now().plus(wait);
        // Recorded on the run before it is logged, so a reader of the log finds it there.
        env.book
            .retrying(id, &message, next)
            .await
            .map_err(store_err)?;
        env.log.step_event(
            LogLevel::Warn,
            "step.retry",
            id,
            attempt,
            format!("{message}; attempt {} in {} s", attempt + 1, wait.as_secs()),
        );
        env.log.flush().await.map_err(StepError::new)?;
        return Err(StepError::new(message));
    }
    env.log.step_event(
        LogLevel::Error,
        "step.failed",
        id,
        attempt,
        format!("failed after {attempt} attempt(s): {message}"),
    );
    for o in &step.outputs {
        let a = berth_core::packrun::Artifact {
            run_id: env.run_id.clone(),
            name: o.name.clone(),
            kind: "file".into(),
            source_path: Some(workdir.join(&o.path).display().to_string()),
            stored_path: None,
            status: ArtifactStatus::Skipped,
            notes: Some(format!("step {id} failed")),
            captured_at: env.store.clock().now(),
        };
        env.owned.record_artifact(a).await.map_err(store_err)?;
    }
    env.log.flush().await.map_err(StepError::new)?;
    env.book
        .finished(id, StepStatus::Failed, Some(&message))
        .await
        .map_err(store_err)?;
    if leaf.continue_on_error {
        Ok(json!({ "steps": { id: "failed" } }))
    } else {
        Err(StepError::permanent(format!("{id}: {message}")))
    }
}

/// The gate: opens the approval (once), then reports it pending, approved or rejected.
pub(crate) async fn run_gate(
    gate: Arc<ApprovalStep>,
    env: Arc<RunEnv>,
) -> Result<Value, StepError> {
    let id = gate.id.as_str();
    let gate_id = gate.gate_id();
    let mut open = Approval::pending(&env.run_id, gate_id, gate.required);
    open.step_id = Some(id.to_owned());
    open.message = gate.message.clone();
    match env.owned.open_gate(open).await {
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::Conflict => {}
        Err(e) => return Err(store_err(e)),
    }
    let current = env
        .store
        .approvals()
        .get(&env.run_id, gate_id)
        .await
        .map_err(store_err)?
        .ok_or_else(|| StepError::new(format!("approval {gate_id} vanished")))?;
    match current.status {
        ApprovalStatus::Pending => {
            env.book
                .update(|run| {
                    run.status = RunStatus::Running;
                    if let Some(s) = run.steps.iter_mut().find(|s| s.step_id == id) {
                        s.status = StepStatus::WaitingApproval;
                        s.attempts = s.attempts.max(1);
                    }
                })
                .await
                .map_err(store_err)?;
            let approvals = current
                .decisions
                .iter()
                .filter(|d| d.decision == Decision::Approve)
                .count();
            let mut meta = BTreeMap::new();
            meta.insert("gate".into(), gate_id.to_owned());
            env.log.emit(
                LogLevel::Info,
                "approval.requested",
                format!(
                    "gate {gate_id} waits for approval ({approvals}/{} so far){}",
                    current.required_count,
                    gate.message
                        .as_deref()
                        .map(|m| format!(": {m}"))
                        .unwrap_or_default()
                ),
                Some(id),
                Some(format!("evt/{id}/{gate_id}/requested/{approvals}")),
                meta,
            );
            env.log.flush().await.map_err(StepError::new)?;
            Ok(json!({ "gates": { gate_id: "pending" } }))
        }
        ApprovalStatus::Approved => {
            let who: Vec<&str> = current.decisions.iter().map(|d| d.actor.as_str()).collect();
            env.log.step_event(
                LogLevel::Info,
                "approval.approved",
                id,
                1,
                format!("gate {gate_id} approved by {}", who.join(", ")),
            );
            env.log.flush().await.map_err(StepError::new)?;
            env.book
                .finished(id, StepStatus::Succeeded, None)
                .await
                .map_err(store_err)?;
            Ok(json!({ "gates": { gate_id: "approved" } }))
        }
        ApprovalStatus::Rejected => {
            let reason = current
                .decisions
                .iter()
                .rev()
                .find(|d| d.decision == Decision::Reject)
                .map(|d| {
                    format!(
                        "gate {gate_id} rejected by {}: {}",
                        d.actor,
                        d.reason.as_deref().unwrap_or("no reason given")
                    )
                })
                .unwrap_or_else(|| format!("gate {gate_id} rejected"));
            env.log
                .step_event(LogLevel::Error, "approval.rejected", id, 1, reason.clone());
            env.log.flush().await.map_err(StepError::new)?;
            env.book
                .finished(id, StepStatus::Failed, Some(&reason))
                .await
                .map_err(store_err)?;
            Err(StepError::permanent(reason))
        }
    }
}
