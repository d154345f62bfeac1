//! `Runtime::ensure` of a tenant already running (the warm path: reuse, no spawn) on every
//! backend that keeps the tenant records. The tenant is `sleep`, judged ready at once by a
//! readiness check of the bench's own, so only the runtime's bookkeeping is measured.

use async_trait::async_trait;
use berth_benches::fixture::open;
use berth_benches::{backends, config, runtime};
use berth_tenant_runtime::{ReadinessCheck, ReadyTarget, Runtime, RuntimeOptions};
use criterion::{criterion_main, BenchmarkId, Criterion, Throughput};
use std::sync::Arc;

/// Ready as soon as the process exists.
struct Immediately;

#[async_trait]
impl ReadinessCheck for Immediately {
    async fn wait_ready(&self, _: &ReadyTarget) -> Result<(), String> {
        Ok(())
    }
}

fn ensure_warm(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("tenant_ensure_warm");
    group.throughput(Throughput::Elements(1));
    for backend in backends() {
        let o = open(&rt, &backend);
        let root = tempfile::tempdir().expect("tenant root");
        std::fs::create_dir(root.path().join("t-1")).expect("tenant dir");
        let mut options =
            RuntimeOptions::new(o.store.clone(), root.path()).command(["/bin/sleep", "600"]);
        options.readiness = Arc::new(Immediately);
        options.observe_interval = std::time::Duration::ZERO;
        let tenants = rt.block_on(Runtime::new(options)).expect("runtime");
        let first = rt.block_on(tenants.ensure("t-1")).expect("first ensure");
        group.bench_function(BenchmarkId::from_parameter(backend.name), |b| {
            b.to_async(&rt).iter(|| async {
                let t = tenants.ensure("t-1").await.expect("ensure");
                assert_eq!(t.pid, first.pid);
            })
        });
        rt.block_on(tenants.dispose());
    }
    group.finish();
}

mod suite {
    use super::{config, ensure_warm};
    criterion::criterion_group! {
        name = benches;
        config = config();
        targets = ensure_warm
    }
}
criterion_main!(suite::benches);
