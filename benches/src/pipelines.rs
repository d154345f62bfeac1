//! The pipelines the engine benches run: one that loops through a stage (a stage commit per
//! pass), a small two-stage one, and the looping one under an owner's claim.

use berth_core::{Claim, Fence, Store};
use berth_pipeline::{Engine, Pipeline, Route, Stage, Step};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One stage that loops on itself until `state.n` reaches `state.limit`; each pass is one
/// stage commit carrying a ~600-byte state patch.
pub fn looping() -> Pipeline {
    Pipeline::new("loop").stage(
        Stage::new("tick")
            .step(Step::new("inc", |ctx| async move {
                let n = ctx.state()["n"].as_u64().unwrap_or(0);
                Ok(json!({ "n": n + 1, "payload": "x".repeat(600) }))
            }))
            .router(|i| {
                if i.state["n"].as_u64() < i.state["limit"].as_u64() {
                    Route::jump("tick")
                } else {
                    Route::Advance
                }
            }),
    )
}

/// Two stages of one trivial step each.
pub fn small() -> Pipeline {
    Pipeline::new("small")
        .stage(Stage::new("a").step(Step::new("s", |_| async { Ok(json!({"a": 1})) })))
        .stage(Stage::new("b").step(Step::new("s", |_| async { Ok(json!({"b": 2})) })))
}

/// A claim on a lease held for the whole bench (it never lapses, so it never renews).
#[derive(Debug)]
struct Held(Fence);

#[async_trait::async_trait]
impl Claim for Held {
    fn fence(&self) -> Fence {
        self.0.clone()
    }

    async fn renew(&self, stale: &Fence) -> berth_core::Result<Fence> {
        Err(stale.stale())
    }
}

/// The looping pipeline under a claim on a lease of `store` held for an hour: every stage
/// commit carries the lease's fence, checked by the store in the same transaction.
pub async fn fenced_looping(store: &Store) -> Engine {
    let lease = store
        .leases()
        .acquire(
            "bench:1",
            &["packrun:bench".to_owned()],
            Duration::from_secs(3600),
        )
        .await
        .expect("acquire the bench lease")
        .into_iter()
        .next()
        .expect("the bench lease");
    Engine::builder(store.clone(), looping())
        .claim(Arc::new(Held(Fence::from(&lease))))
        .build()
        .expect("engine")
}

/// Stages each run loops through at least, so a run's own record writes (start, end) weigh
/// little next to its stage commits even when criterion asks for a handful of iterations.
pub const MIN_STAGES: u64 = 50;

/// Runs `runs` looping runs of `engine` at once, at least [`MIN_STAGES`] passes each; the
/// time per stage commit (total time / stage commits) scaled to `iters` commits.
pub async fn stage_commits(engine: &Engine, runs: u64, iters: u64) -> Duration {
    let stages = iters.div_ceil(runs).max(MIN_STAGES);
    let t = Instant::now();
    let handles: Vec<_> = (0..runs)
        .map(|_| {
            let engine = engine.clone();
            tokio::spawn(async move { engine.start(json!({"n": 0, "limit": stages})).await })
        })
        .collect();
    let mut commits = 0;
    for h in handles {
        commits += h.await.expect("run task").expect("run").stage_commits;
    }
    t.elapsed().mul_f64(iters as f64 / commits.max(1) as f64)
}
