//! Sessions on every backend side by side: keeping a session that holds 300 shards alive (one
//! write, whatever it holds; the store's clock moves a millisecond before each, so every
//! keepalive changes the stored expiry, as one made every few seconds does) beside refreshing 300 owner leases row by row, and acquiring 300
//! free shards in a session: shards never taken before (a new row each), and a fixed set of
//! shards that exist but were released (what a runner meets after a rebalance or a restart).

use berth_benches::fixture::{open, open_clocked, shards};
use berth_benches::{backends, config, runtime};
use criterion::{criterion_main, BenchmarkId, Criterion, Throughput};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const TTL: Duration = Duration::from_secs(3600);
const SHARDS: usize = 300;

fn keepalive_held(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group(format!("session_keepalive_{SHARDS}_held"));
    group.throughput(Throughput::Elements(1));
    for backend in backends() {
        let (o, clock) = open_clocked(&rt, &backend);
        let sessions = o.store.sessions().clone();
        let session = rt
            .block_on(sessions.open("10.0.0.1:4000", TTL))
            .expect("open session");
        let held = rt
            .block_on(sessions.acquire(session.id, &shards("default", SHARDS)))
            .expect("acquire");
        assert_eq!(held.len(), SHARDS);
        group.bench_function(BenchmarkId::from_parameter(backend.name), |b| {
            b.to_async(&rt).iter(|| async {
                clock.advance(Duration::from_millis(1));
                sessions.keepalive(session.id).await.expect("keepalive");
            })
        });
    }
    group.finish();
}

fn acquire_free(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group(format!("session_acquire_{SHARDS}_free"));
    group.throughput(Throughput::Elements(SHARDS as u64));
    for backend in backends() {
        let o = open(&rt, &backend);
        let sessions = o.store.sessions().clone();
        let session = rt
            .block_on(sessions.open("10.0.0.1:4000", TTL))
            .expect("open session");
        let n = AtomicU64::new(0);
        group.bench_function(BenchmarkId::from_parameter(backend.name), |b| {
            b.to_async(&rt).iter(|| async {
                // Fresh shard names every round, so all of them are free.
                let round = n.fetch_add(1, Ordering::Relaxed);
                let wanted = shards(&format!("g{round}"), SHARDS);
                let held = sessions.acquire(session.id, &wanted).await;
                assert_eq!(held.expect("acquire").len(), SHARDS);
            })
        });
    }
    group.finish();
}

fn acquire_released(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group(format!("session_acquire_{SHARDS}_released"));
    group.throughput(Throughput::Elements(SHARDS as u64));
    for backend in backends() {
        let o = open(&rt, &backend);
        let sessions = o.store.sessions().clone();
        let session = rt
            .block_on(sessions.open("10.0.0.1:4000", TTL))
            .expect("open session");
        let wanted = shards("default", SHARDS);
        group.bench_function(BenchmarkId::from_parameter(backend.name), |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let sessions = sessions.clone();
                let wanted = wanted.clone();
                async move {
                    let mut spent = Duration::ZERO;
                    for _ in 0..iters {
                        // Untimed: free the same shards again, so each round takes free rows.
                        sessions
                            .release(session.id, &wanted)
                            .await
                            .expect("release");
                        let t = Instant::now();
                        let held = sessions.acquire(session.id, &wanted).await;
                        spent += t.elapsed();
                        assert_eq!(held.expect("acquire").len(), SHARDS);
                    }
                    spent
                }
            })
        });
    }
    group.finish();
}

mod suite {
    use super::{acquire_free, acquire_released, config, keepalive_held};
    criterion::criterion_group! {
        name = benches;
        config = config();
        targets = keepalive_held, acquire_free, acquire_released
    }
}
criterion_main!(suite::benches);
