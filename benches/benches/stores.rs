//! Every backend of [`berth_benches::backends`] through the same workloads: collection ops,
//! commits, shard leases, and the fsync floor under every `Immediate` commit.

use berth_benches::fixture::{key, open, preload, shards, value};
use berth_benches::{backends, config, heavy, runtime, BACKENDS_VAR};
use berth_core::{Batch, Scan};
use criterion::{criterion_main, BenchmarkId, Criterion, Throughput};
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

const TTL: Duration = Duration::from_secs(3600);

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
    heavy(&mut group);
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

/// `put` through the typed layer (`Collection<T>`): one record, its own batch.
fn typed_put(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("put");
    group.throughput(Throughput::Elements(1));
    for backend in backends() {
        let o = open(&rt, &backend);
        let items = o
            .store
            .collection::<serde_json::Value>("bench")
            .expect("collection");
        let n = AtomicU64::new(0);
        group.bench_function(BenchmarkId::from_parameter(backend.name), |b| {
            b.to_async(&rt).iter(|| async {
                let i = n.fetch_add(1, Ordering::Relaxed);
                items
                    .put(&format!("p{i:09}"), &value(i))
                    .await
                    .expect("put")
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
                records.get("bench", &key(i)).await.expect("get")
            })
        });
        group.finish();

        let mut group = c.benchmark_group("get_many_100");
        group.throughput(Throughput::Elements(100));
        group.bench_function(BenchmarkId::from_parameter(backend.name), |b| {
            b.to_async(&rt).iter(|| async {
                let start = n.fetch_add(7919, Ordering::Relaxed) % 9_000;
                let keys: Vec<String> = (start..start + 100).map(key).collect();
                records.get_many("bench", &keys).await.expect("get_many")
            })
        });
        group.finish();

        let mut group = c.benchmark_group("scan_1000");
        group.throughput(Throughput::Elements(1000));
        group.bench_function(BenchmarkId::from_parameter(backend.name), |b| {
            b.to_async(&rt).iter(|| async {
                let start = n.fetch_add(7919, Ordering::Relaxed) % 9_000;
                let scan = Scan::prefix("k").after(key(start)).limit(1000);
                records.scan("bench", &scan).await.expect("scan")
            })
        });
        group.finish();
    }
}

fn acquire_free(c: &mut Criterion, count: usize) {
    let rt = runtime();
    let mut group = c.benchmark_group(format!("acquire_{count}_free"));
    group.throughput(Throughput::Elements(count as u64));
    if count > 300 {
        heavy(&mut group);
    }
    for backend in backends() {
        let o = open(&rt, &backend);
        let n = AtomicU64::new(0);
        group.bench_function(BenchmarkId::from_parameter(backend.name), |b| {
            b.to_async(&rt).iter(|| async {
                // Fresh shard names every round, so all of them are free.
                let round = n.fetch_add(1, Ordering::Relaxed);
                let wanted = shards(&format!("g{round}"), count);
                let held = o
                    .store
                    .leases()
                    .acquire("10.0.0.1:4000", &wanted, TTL)
                    .await;
                assert_eq!(held.expect("acquire").len(), count);
            })
        });
    }
    group.finish();
}

fn refresh_held(c: &mut Criterion, count: usize) {
    let rt = runtime();
    let mut group = c.benchmark_group(format!("refresh_{count}_held"));
    group.throughput(Throughput::Elements(count as u64));
    if count > 300 {
        heavy(&mut group);
    }
    for backend in backends() {
        let o = open(&rt, &backend);
        let held = shards("default", count);
        rt.block_on(o.store.leases().acquire("10.0.0.1:4000", &held, TTL))
            .expect("acquire");
        group.bench_function(BenchmarkId::from_parameter(backend.name), |b| {
            b.to_async(&rt).iter(|| async {
                let still = o.store.leases().refresh("10.0.0.1:4000", &held, TTL).await;
                assert_eq!(still.expect("refresh").len(), count);
            })
        });
    }
    group.finish();
}

fn leases(c: &mut Criterion) {
    for count in [300, 3_000] {
        acquire_free(c, count);
        refresh_held(c, count);
    }
}

/// The floor under every `Immediate` commit: one 4 KiB append and `fdatasync` on the same disk.
/// Skipped when `BERTH_BENCH_BACKENDS` narrows the run: a pass over some backends must not
/// replace the fsync figure taken beside the others' commits.
fn fsync(c: &mut Criterion) {
    if std::env::var(BACKENDS_VAR).is_ok_and(|v| !v.trim().is_empty()) {
        return;
    }
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
    use super::{commits, config, fsync, leases, reads, typed_put};
    criterion::criterion_group! {
        name = benches;
        config = config();
        targets = fsync, commits, typed_put, reads, leases
    }
}
criterion_main!(suite::benches);
