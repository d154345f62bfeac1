//! The pipeline engine on every backend (grown from `crates/pipeline/examples/throughput.rs`):
//! stage commits of one run looping through a stage, stage commits of 8 concurrent runs, and
//! runs per second of 100 concurrent two-stage runs; and the looping run's stage commit made
//! under an owner's claim (fenced: the lease checked in the same transaction) beside it.

use berth_benches::fixture::open;
use berth_benches::{backends, config, heavy, runtime};
use berth_core::{Claim, Fence, Store};
use berth_pipeline::{Engine, Pipeline, Route, Stage, Step};
use criterion::{criterion_main, BenchmarkId, Criterion, Throughput};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One stage that loops on itself until `state.n` reaches `state.limit`; each pass is one
/// stage commit carrying a ~600-byte state patch.
fn looping() -> Pipeline {
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
fn small() -> Pipeline {
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

/// The looping pipeline under a claim on a lease of `store` held for an hour.
fn fenced_looping(rt: &tokio::runtime::Runtime, store: &Store) -> Engine {
    let lease = rt
        .block_on(store.leases().acquire(
            "bench:1",
            &["packrun:bench".to_owned()],
            Duration::from_secs(3600),
        ))
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
const MIN_STAGES: u64 = 50;

/// Runs `runs` looping runs at once, at least [`MIN_STAGES`] passes each; the time per stage
/// commit (total time / stage commits) scaled to `iters` commits.
async fn stage_commits(engine: &Engine, runs: u64, iters: u64) -> Duration {
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

fn pipeline(c: &mut Criterion) {
    let rt = runtime();
    for backend in backends() {
        let o = open(&rt, &backend);
        let looping = Engine::new(o.store.clone(), looping()).expect("engine");
        let small = Engine::new(o.store.clone(), small()).expect("engine");
        let fenced = fenced_looping(&rt, &o.store);

        let mut group = c.benchmark_group("pipeline_stage_commit");
        group.throughput(Throughput::Elements(1));
        group.bench_function(BenchmarkId::from_parameter(backend.name), |b| {
            b.to_async(&rt)
                .iter_custom(|iters| stage_commits(&looping, 1, iters))
        });
        group.finish();

        let mut group = c.benchmark_group("pipeline_stage_commit_fenced");
        group.throughput(Throughput::Elements(1));
        group.bench_function(BenchmarkId::from_parameter(backend.name), |b| {
            b.to_async(&rt)
                .iter_custom(|iters| stage_commits(&fenced, 1, iters))
        });
        group.finish();

        let mut group = c.benchmark_group("pipeline_8_runs_stage_commit");
        group.throughput(Throughput::Elements(1));
        group.bench_function(BenchmarkId::from_parameter(backend.name), |b| {
            b.to_async(&rt)
                .iter_custom(|iters| stage_commits(&looping, 8, iters))
        });
        group.finish();

        let mut group = c.benchmark_group("pipeline_runs_100");
        group.throughput(Throughput::Elements(100));
        heavy(&mut group);
        group.bench_function(BenchmarkId::from_parameter(backend.name), |b| {
            b.to_async(&rt).iter(|| async {
                let handles: Vec<_> = (0..100)
                    .map(|_| {
                        let engine = small.clone();
                        tokio::spawn(async move { engine.start(json!({})).await })
                    })
                    .collect();
                for h in handles {
                    h.await.expect("run task").expect("run");
                }
            })
        });
        group.finish();
    }
}

mod suite {
    use super::{config, pipeline};
    criterion::criterion_group! {
        name = benches;
        config = config();
        targets = pipeline
    }
}
criterion_main!(suite::benches);
