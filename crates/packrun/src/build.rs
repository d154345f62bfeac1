//! Mapping a plan onto the pipeline engine: one stage per top-level step.
//!
//! - `run`: a stage with one step (retries = the failure policy);
//! - `parallel` / `map`: a stage with one step per child or item, run concurrently by the
//!   engine and held to `maxParallel` by a semaphore;
//! - `approval`: a stage whose step opens the gate and whose router pauses the run at the
//!   same stage while the gate is pending, so resuming re-checks the gate.
//!
//! Each stage commit is the durable "this step is done" of the run: a killed runner resumes
//! at the first uncommitted stage. A `parallel`/`map` child commits its own success on the run
//! record before the stage does; the resumed stage skips such children.

use crate::plan::{Plan, PlanStep, RunStep};
use crate::steps::{run_gate, run_leaf, Leaf, RunEnv};
use berth_core::packrun::FailurePolicy;
use berth_pipeline::RetryPolicy;
use berth_pipeline::Route;
use berth_pipeline::{Pipeline, Stage, Step};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// The pipeline id of every pack run.
pub const PIPELINE_ID: &str = "packrun";

fn leaf_step(
    step: RunStep,
    plan_policy: &FailurePolicy,
    block_continue: bool,
    limit: Option<Arc<Semaphore>>,
    env: &Arc<RunEnv>,
) -> Step {
    let policy = step
        .failure_policy
        .clone()
        .unwrap_or_else(|| plan_policy.clone());
    let backoff = Duration::from_secs(policy.backoff_seconds);
    let retry = RetryPolicy::attempts(policy.max_attempts).backoff(backoff, 1, backoff);
    let leaf = Arc::new(Leaf {
        continue_on_error: block_continue || policy.continue_on_error,
        policy,
        limit,
        step,
    });
    let id = leaf.step.id.clone();
    let env = env.clone();
    Step::new(id, move |ctx| run_leaf(ctx, leaf.clone(), env.clone())).retry(retry)
}

fn limit(max: Option<u32>, n: usize) -> Option<Arc<Semaphore>> {
    let max = max.map_or(n, |m| m as usize).max(1);
    (max < n).then(|| Arc::new(Semaphore::new(max)))
}

/// The pipeline that executes `plan` with `env`.
pub(crate) fn pipeline(plan: &Plan, env: &Arc<RunEnv>) -> Pipeline {
    let mut p = Pipeline::new(PIPELINE_ID).label(plan.name.clone());
    let policy = &plan.failure_policy;
    for step in &plan.steps {
        let stage = match step {
            PlanStep::Run(r) => {
                Stage::new(&r.id).step(leaf_step(r.clone(), policy, false, None, env))
            }
            PlanStep::Parallel(b) => {
                let sem = limit(b.max_parallel, b.steps.len());
                b.steps
                    .iter()
                    .fold(Stage::new(&b.id), |stage, child| match child {
                        PlanStep::Run(r) => stage.step(leaf_step(
                            r.clone(),
                            policy,
                            b.continue_on_error,
                            sem.clone(),
                            env,
                        )),
                        // Plan::validate allows only run steps as children.
                        _ => stage,
                    })
            }
            PlanStep::Map(m) => {
                let sem = limit(m.max_parallel, m.items.len());
                m.expand().into_iter().fold(Stage::new(&m.id), |stage, r| {
                    stage.step(leaf_step(r, policy, m.continue_on_error, sem.clone(), env))
                })
            }
            PlanStep::Approval(a) => {
                let gate = Arc::new(a.clone());
                let gate_id = a.gate_id().to_owned();
                let stage_id = a.id.clone();
                let env = env.clone();
                Stage::new(&a.id)
                    .step(Step::new(a.id.clone(), move |_| {
                        run_gate(gate.clone(), env.clone())
                    }))
                    .router(move |input| {
                        if input.state["gates"][&gate_id] == "pending" {
                            Route::pause_for(stage_id.clone(), Duration::ZERO)
                        } else {
                            Route::Advance
                        }
                    })
            }
        };
        p = p.stage(stage);
    }
    p
}
