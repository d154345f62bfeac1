//! Checkpoints on every backend: write one in the batch of a stage's state patch, read the
//! latest of a run, list a run's newest 100 (of 1 000 kept).

use berth_benches::fixture::{open, value};
use berth_benches::{backends, config, runtime};
use berth_core::{Batch, Checkpoint, Store};
use criterion::{criterion_main, BenchmarkId, Criterion, Throughput};
use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering};

const PIPELINE: &str = "orders";
const RUN: &str = "run-1";

fn checkpoint(store: &Store, run: &str, i: u64) -> Checkpoint {
    Checkpoint {
        pipeline_id: PIPELINE.into(),
        run_id: run.into(),
        paused_at_stage_id: "pay".into(),
        paused_at_stage_label: "Payment".into(),
        paused_on: store.clock().now(),
        resume_at: None,
        timeout_at: None,
        data: json!({"cursor": {"stage": "pay", "index": i}}),
        entry_id: String::new(),
        metadata: Default::default(),
        parent_id: None,
    }
}

/// One stage's commit: its state patch and the checkpoint, in one batch.
async fn write(store: &Store, run: &str, i: u64) {
    let mut batch = Batch::new();
    batch.put("order-state", run, value(i));
    store
        .checkpoints()
        .write(&mut batch, &checkpoint(store, run, i))
        .expect("checkpoint");
    store.commit(batch).await.expect("commit");
}

fn checkpoints(c: &mut Criterion) {
    let rt = runtime();
    for backend in backends() {
        let o = open(&rt, &backend);
        let n = AtomicU64::new(0);

        let mut group = c.benchmark_group("checkpoint_write");
        group.throughput(Throughput::Elements(1));
        group.bench_function(BenchmarkId::from_parameter(backend.name), |b| {
            b.to_async(&rt).iter(|| async {
                let i = n.fetch_add(1, Ordering::Relaxed);
                write(&o.store, &format!("w-{}", i % 1_000), i).await
            })
        });
        group.finish();

        rt.block_on(async {
            for i in 0..1_000 {
                write(&o.store, RUN, i).await;
            }
        });

        let mut group = c.benchmark_group("checkpoint_read_latest");
        group.throughput(Throughput::Elements(1));
        group.bench_function(BenchmarkId::from_parameter(backend.name), |b| {
            b.to_async(&rt).iter(|| async {
                let cp = o.store.checkpoints().read(PIPELINE, RUN).await;
                assert!(cp.expect("read").is_some());
            })
        });
        group.finish();

        let mut group = c.benchmark_group("checkpoint_list_100");
        group.throughput(Throughput::Elements(100));
        group.bench_function(BenchmarkId::from_parameter(backend.name), |b| {
            b.to_async(&rt).iter(|| async {
                let recent = o.store.checkpoints().recent(PIPELINE, RUN, 100).await;
                assert_eq!(recent.expect("recent").len(), 100);
            })
        });
        group.finish();
    }
}

mod suite {
    use super::{checkpoints, config};
    criterion::criterion_group! {
        name = benches;
        config = config();
        targets = checkpoints
    }
}
criterion_main!(suite::benches);
