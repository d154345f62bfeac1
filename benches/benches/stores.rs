//! Every backend of [`berth_benches::backends`] through the same workloads (issue 3's list).

use berth_benches::{backends, config, runtime, Backend};
use berth_core::{Batch, Scan, Store};
use criterion::{criterion_main, BenchmarkId, Criterion, Throughput};
use serde_json::json;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

const TTL: Duration = Duration::from_secs(3600);

struct Open {
    store: Store,
    _dir: tempfile::TempDir,
}

fn open(rt: &tokio::runtime::Runtime, backend: &Backend) -> Open {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = rt
        .block_on(backend.open(dir.path()))
        .expect("open the store");
    Open { store, _dir: dir }
}

fn value(i: u64) -> serde_json::Value {
    json!({"id": i, "status": "running", "owner": "10.0.0.1:4000", "attempts": 1})
}

fn preload(rt: &tokio::runtime::Runtime, store: &Store, n: u64) {
    rt.block_on(async {
        let mut batch = Batch::new();
        for i in 0..n {
            batch.put("bench", &format!("k{i:06}"), value(i));
        }
        store.commit(batch).await.expect("preload");
    });
}

fn shards(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}:{i}")).collect()
}

fn commits(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("commit_sequential");
    group.throughput(Throughput::Elements(1));
    for backend in backends() {
        let o = open(&rt, &backend);
        let n = AtomicU64::new(0);
        group.bench_function(BenchmarkId::from_parameter(backend.name), |b| {
            b.to_async(&rt).iter(|| async {
                let i = n.fetch_add(1, Ordering::Relaxed);
                let mut batch = Batch::new();
                batch.put("bench", &format!("k{i:09}"), value(i));
                o.store.commit(batch).await.expect("commit")
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("commit_32_writers");
    group.throughput(Throughput::Elements(32));
    for backend in backends() {
        let o = open(&rt, &backend);
        let n = Arc::new(AtomicU64::new(0));
        group.bench_function(BenchmarkId::from_parameter(backend.name), |b| {
            b.to_async(&rt).iter(|| async {
                let mut tasks = Vec::with_capacity(32);
                for _ in 0..32 {
                    let store = o.store.clone();
                    let n = n.clone();
                    tasks.push(tokio::spawn(async move {
                        let i = n.fetch_add(1, Ordering::Relaxed);
                        let mut batch = Batch::new();
                        batch.put("bench", &format!("k{i:09}"), value(i));
                        store.commit(batch).await.expect("commit")
                    }));
                }
                for t in tasks {
                    t.await.expect("writer task");
                }
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("batch_10000_puts");
    group.throughput(Throughput::Elements(10_000));
    group.sample_size(10);
    for backend in backends() {
        let o = open(&rt, &backend);
        let n = AtomicU64::new(0);
        group.bench_function(BenchmarkId::from_parameter(backend.name), |b| {
            b.to_async(&rt).iter(|| async {
                let round = n.fetch_add(1, Ordering::Relaxed);
                let mut batch = Batch::new();
                for i in 0..10_000u64 {
                    batch.put("bench", &format!("r{round:05}-{i:05}"), value(i));
                }
                o.store.commit(batch).await.expect("commit")
            })
        });
    }
    group.finish();
}

fn reads(c: &mut Criterion) {
    let rt = runtime();
    for backend in backends() {
        let o = open(&rt, &backend);
        preload(&rt, &o.store, 10_000);
        let records = o.store.records().clone();
        let n = AtomicU64::new(0);

        let mut group = c.benchmark_group("get");
        group.throughput(Throughput::Elements(1));
        group.bench_function(BenchmarkId::from_parameter(backend.name), |b| {
            b.to_async(&rt).iter(|| async {
                let i = n.fetch_add(7919, Ordering::Relaxed) % 10_000;
                records
                    .get("bench", &format!("k{i:06}"))
                    .await
                    .expect("get")
            })
        });
        group.finish();

        let mut group = c.benchmark_group("get_many_100");
        group.throughput(Throughput::Elements(100));
        group.bench_function(BenchmarkId::from_parameter(backend.name), |b| {
            b.to_async(&rt).iter(|| async {
                let start = n.fetch_add(7919, Ordering::Relaxed) % 9_000;
                let keys: Vec<String> = (start..start + 100).map(|i| format!("k{i:06}")).collect();
                records.get_many("bench", &keys).await.expect("get_many")
            })
        });
        group.finish();

        let mut group = c.benchmark_group("scan_1000");
        group.throughput(Throughput::Elements(1000));
        group.bench_function(BenchmarkId::from_parameter(backend.name), |b| {
            b.to_async(&rt).iter(|| async {
                let start = n.fetch_add(7919, Ordering::Relaxed) % 9_000;
                let scan = Scan::prefix("k").after(format!("k{start:06}")).limit(1000);
                records.scan("bench", &scan).await.expect("scan")
            })
        });
        group.finish();
    }
}

fn leases(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("acquire_300_free");
    group.throughput(Throughput::Elements(300));
    for backend in backends() {
        let o = open(&rt, &backend);
        let n = AtomicU64::new(0);
        group.bench_function(BenchmarkId::from_parameter(backend.name), |b| {
            b.to_async(&rt).iter(|| async {
                // Fresh shard names every round, so all 300 are free.
                let round = n.fetch_add(1, Ordering::Relaxed);
                let wanted = shards(&format!("g{round}"), 300);
                let held = o
                    .store
                    .leases()
                    .acquire("10.0.0.1:4000", &wanted, TTL)
                    .await;
                assert_eq!(held.expect("acquire").len(), 300);
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("refresh_300_held");
    group.throughput(Throughput::Elements(300));
    for backend in backends() {
        let o = open(&rt, &backend);
        let held = shards("default", 300);
        rt.block_on(o.store.leases().acquire("10.0.0.1:4000", &held, TTL))
            .expect("acquire");
        group.bench_function(BenchmarkId::from_parameter(backend.name), |b| {
            b.to_async(&rt).iter(|| async {
                let still = o.store.leases().refresh("10.0.0.1:4000", &held, TTL).await;
                assert_eq!(still.expect("refresh").len(), 300);
            })
        });
    }
    group.finish();
}

/// The floor under every `Immediate` commit: one 4 KiB append and `fdatasync` on the same disk.
fn fsync(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut file = std::fs::File::create(dir.path().join("fsync.bin")).expect("file");
    let page = vec![0x5au8; 4096];
    let mut group = c.benchmark_group("fsync");
    group.throughput(Throughput::Elements(1));
    group.bench_function("write_4k_fdatasync", |b| {
        b.iter(|| {
            file.write_all(&page).expect("write");
            file.sync_data().expect("fdatasync");
        })
    });
    group.finish();
}

mod suite {
    use super::{commits, config, fsync, leases, reads};
    criterion::criterion_group! {
        name = benches;
        config = config();
        targets = fsync, commits, reads, leases
    }
}
criterion_main!(suite::benches);
