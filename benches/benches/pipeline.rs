//! The pipeline engine on every backend (grown from `crates/pipeline/examples/throughput.rs`):
//! stage commits of one run looping through a stage, stage commits of 8 concurrent runs, and
//! runs per second of 100 concurrent two-stage runs; and the looping run's stage commit made
//! under an owner's claim (fenced: the lease checked in the same transaction) beside it.

use berth_benches::fixture::open;
use berth_benches::pipelines::{fenced_looping, looping, small, stage_commits};
use berth_benches::{backends, config, heavy, runtime};
use berth_pipeline::Engine;
use criterion::{criterion_main, BenchmarkId, Criterion, Throughput};
use serde_json::json;

fn pipeline(c: &mut Criterion) {
    let rt = runtime();
    for backend in backends() {
        let o = open(&rt, &backend);
        let looping = Engine::new(o.store.clone(), looping()).expect("engine");
        let small = Engine::new(o.store.clone(), small()).expect("engine");
        // The fenced runs get a store of their own, so that they do not run on one the
        // unfenced runs have already filled (a fuller store is slower on every backend).
        let own = open(&rt, &backend);
        let fenced = rt.block_on(fenced_looping(&own.store));

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
