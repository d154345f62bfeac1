//! Running the steps of a stage: concurrently, each with retries, back-off and timeouts.

use crate::context::StepContext;
use crate::definition::{Stage, Step};
use crate::error::StepError;
use crate::events::EventKind;
use crate::outcome::Cause;
use crate::run::panic_message;
use crate::scope::Scope;
use futures::FutureExt;
use serde_json::Value;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// How the steps of a stage ended.
pub(crate) enum StepsEnd {
    /// Every step returned a patch; in declaration order.
    Done(Vec<(String, Value)>),
    /// At least one step failed (or the stage timed out); every cause.
    Failed(Vec<Cause>),
    /// The run was aborted while they ran.
    Aborted,
}

/// Runs `stage.steps[from..]` concurrently from `template`; waits for all of them so that
/// every cause is known, unless the run is aborted or the stage times out.
pub(crate) async fn run_steps(
    scope: &Scope,
    stage: &Stage,
    from: usize,
    template: StepContext,
    run_cancel: &CancellationToken,
) -> StepsEnd {
    let stage_token = run_cancel.child_token();
    let steps = stage.steps.get(from..).unwrap_or_default();
    let all = futures::future::join_all(steps.iter().map(|step| {
        let mut ctx = template.clone();
        ctx.step_id = Arc::from(step.id.as_str());
        ctx.cancel = stage_token.clone();
        let span = tracing::debug_span!("step", step = %step.id);
        run_step(scope, step, ctx).instrument(span)
    }));
    let bounded = async {
        match stage.timeout {
            Some(limit) => tokio::time::timeout(limit, all).await.ok(),
            None => Some(all.await),
        }
    };
    let finished = tokio::select! {
        biased;
        _ = run_cancel.cancelled() => {
            stage_token.cancel();
            return StepsEnd::Aborted;
        }
        r = bounded => r,
    };
    let Some(results) = finished else {
        stage_token.cancel();
        let after_ms = stage
            .timeout
            .map_or(0, |t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX));
        return StepsEnd::Failed(vec![Cause::StageTimeout { after_ms }]);
    };
    let mut patches = Vec::with_capacity(results.len());
    let mut causes = Vec::new();
    for (step, result) in steps.iter().zip(results) {
        match result {
            Ok(patch) => patches.push((step.id.clone(), patch)),
            Err(cause) => causes.push(cause),
        }
    }
    if causes.is_empty() {
        StepsEnd::Done(patches)
    } else {
        StepsEnd::Failed(causes)
    }
}

async fn attempt_once(step: &Step, ctx: StepContext) -> Result<Value, StepError> {
    let action = step.action.clone();
    let call = AssertUnwindSafe(async move { action(ctx).await }).catch_unwind();
    let outcome = match step.timeout {
        Some(limit) => match tokio::time::timeout(limit, call).await {
            Ok(r) => r,
            Err(_) => {
                return Err(StepError::new(format!(
                    "attempt timed out after {} ms",
                    limit.as_millis()
                )))
            }
        },
        None => call.await,
    };
    match outcome {
        Ok(result) => result,
        Err(panic) => Err(StepError::permanent(format!(
            "step panicked: {}",
            panic_message(panic.as_ref())
        ))),
    }
}

async fn run_step(scope: &Scope, step: &Step, mut ctx: StepContext) -> Result<Value, Cause> {
    let max = step.retry.max_attempts.max(1);
    let mut attempt = 1;
    loop {
        ctx.attempt = attempt;
        scope.emit(|| EventKind::StepStart {
            step: step.id.clone(),
            attempt,
        });
        match attempt_once(step, ctx.clone()).await {
            Ok(patch) => {
                scope.emit(|| EventKind::StepSuccess {
                    step: step.id.clone(),
                    attempt,
                });
                return Ok(patch);
            }
            Err(error) if error.retryable && attempt < max => {
                let delay = step.retry.delay_after(attempt);
                tracing::debug!(attempt, ?delay, %error, "step attempt failed; retrying");
                scope.emit(|| EventKind::StepRetry {
                    step: step.id.clone(),
                    attempt,
                    delay,
                    error: error.message.clone(),
                });
                tokio::time::sleep(delay).await;
                attempt += 1;
            }
            Err(error) => {
                tracing::debug!(attempt, %error, "step failed");
                scope.emit(|| EventKind::StepFailure {
                    step: step.id.clone(),
                    attempts: attempt,
                    error: error.message.clone(),
                });
                return Err(Cause::Step {
                    step: step.id.clone(),
                    attempts: attempt,
                    error: error.message,
                });
            }
        }
    }
}
