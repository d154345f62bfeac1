//! Pack-run logs on every backend: append 1 000 lines of a run in one call, and read the 100
//! lines after a sequence in a run of 5 000.

use berth_benches::fixture::open;
use berth_benches::{backends, config, heavy, runtime};
use berth_core::packrun::{LogEntry, LogLevel};
use berth_core::Store;
use criterion::{criterion_main, BenchmarkId, Criterion, Throughput};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

fn lines(store: &Store, run: &str, from: u64, n: u64) -> Vec<LogEntry> {
    let now = store.clock().now();
    (from..from + n)
        .map(|sequence| LogEntry {
            run_id: run.into(),
            sequence,
            timestamp: now,
            level: LogLevel::Info,
            event_type: "step.output".into(),
            message: format!("line {sequence} of the build step's output"),
            step_id: Some("build".into()),
            metadata: BTreeMap::from([("stream".into(), "stdout".into())]),
        })
        .collect()
}

fn logs(c: &mut Criterion) {
    let rt = runtime();
    for backend in backends() {
        let o = open(&rt, &backend);
        let n = AtomicU64::new(0);

        let mut group = c.benchmark_group("log_append_1000");
        group.throughput(Throughput::Elements(1_000));
        heavy(&mut group);
        group.bench_function(BenchmarkId::from_parameter(backend.name), |b| {
            b.to_async(&rt).iter(|| async {
                let run = format!("append-{}", n.fetch_add(1, Ordering::Relaxed));
                let entries = lines(&o.store, &run, 1, 1_000);
                let new = o.store.logs().append(&entries).await.expect("append");
                assert_eq!(new, 1_000);
            })
        });
        group.finish();

        rt.block_on(async {
            for from in (1..5_000).step_by(1_000) {
                let entries = lines(&o.store, "read", from, 1_000);
                o.store.logs().append(&entries).await.expect("append");
            }
        });
        let mut group = c.benchmark_group("log_read_100_after");
        group.throughput(Throughput::Elements(100));
        group.bench_function(BenchmarkId::from_parameter(backend.name), |b| {
            b.to_async(&rt).iter(|| async {
                let after = n.fetch_add(7919, Ordering::Relaxed) % 4_800;
                let read = o.store.logs().read("read", Some(after), 100).await;
                assert_eq!(read.expect("read").len(), 100);
            })
        });
        group.finish();
    }
}

mod suite {
    use super::{config, logs};
    criterion::criterion_group! {
        name = benches;
        config = config();
        targets = logs
    }
}
criterion_main!(suite::benches);
