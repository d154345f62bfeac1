//! A shard keeper's refresh round on every backend, through `berth-runner-storage`'s public
//! API: refresh the 300 shards held, read the registry, compute the assignment, acquire what
//! is missing (nothing, in steady state). `ShardKeeper` has no hook to run one round on
//! demand, so this replays the round's storage calls in the order `keeper/task.rs` makes them.

use berth_benches::fixture::open;
use berth_benches::{backends, config, runtime};
use berth_runner_storage::{assignment, Runner, RunnerStorage, DEFAULT_SHARDS_PER_GROUP};
use criterion::{criterion_main, BenchmarkId, Criterion, Throughput};

fn keeper_round(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("keeper_round_300");
    group.throughput(Throughput::Elements(u64::from(DEFAULT_SHARDS_PER_GROUP)));
    for backend in backends() {
        let o = open(&rt, &backend);
        let storage = RunnerStorage::from_store(&o.store);
        let me = Runner::new("10.0.0.1:4000".parse().expect("address"));
        let held = rt.block_on(async {
            storage.register(&me, true).await.expect("register");
            let registered = storage.runners().await.expect("runners");
            let mine = assignment::shards_for(
                me.address(),
                &assignment::healthy(&registered),
                DEFAULT_SHARDS_PER_GROUP,
            )
            .expect("assignment");
            let leases = storage.acquire(me.address(), &mine).await.expect("acquire");
            assert_eq!(leases.len(), mine.len());
            mine
        });
        group.bench_function(BenchmarkId::from_parameter(backend.name), |b| {
            b.to_async(&rt).iter(|| async {
                let still = storage.refresh(me.address(), &held).await.expect("refresh");
                assert_eq!(still.len(), held.len());
                let registered = storage.runners().await.expect("runners");
                let assigned = assignment::shards_for(
                    me.address(),
                    &assignment::healthy(&registered),
                    DEFAULT_SHARDS_PER_GROUP,
                )
                .expect("assignment");
                let missing: Vec<_> = assigned.difference(&held).collect();
                if !missing.is_empty() {
                    storage
                        .acquire(me.address(), missing)
                        .await
                        .expect("acquire");
                }
            })
        });
    }
    group.finish();
}

mod suite {
    use super::{config, keeper_round};
    criterion::criterion_group! {
        name = benches;
        config = config();
        targets = keeper_round
    }
}
criterion_main!(suite::benches);
