//! Failures between the steps of `update_unit_registrations` leave at worst a worker nobody
//! uses, and `sweep_unused_workers` deletes exactly those.

mod trace_support;

use async_trait::async_trait;
use berth_core::{Batch, Committed, Error, OpenOptions, Record, RecordStore, Result, Scan, Store};
use berth_runner_storage::workers::{names, Registrations, WorkerRegistration};
use berth_runner_storage::{UnitWorker, WorkerRegistry};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use trace_support::FakeManager;

const P: &str = "p";
const IMG: &str = "ghcr.io/org/worker:v1";

/// Fails the next commit that writes a registration, once armed.
struct FailRegistrationCommit {
    inner: Arc<dyn RecordStore>,
    armed: AtomicBool,
}

#[async_trait]
impl RecordStore for FailRegistrationCommit {
    async fn get_many(&self, c: &str, keys: &[String]) -> Result<Vec<Option<Record>>> {
        self.inner.get_many(c, keys).await
    }
    async fn scan(&self, c: &str, scan: &Scan) -> Result<Vec<Record>> {
        self.inner.scan(c, scan).await
    }
    async fn count(&self, c: &str, prefix: &str) -> Result<u64> {
        self.inner.count(c, prefix).await
    }
    async fn commit(&self, batch: Batch) -> Result<Committed> {
        let registers = batch
            .ops()
            .iter()
            .any(|op| op.collection == names::registrations(P));
        if registers && self.armed.swap(false, Ordering::SeqCst) {
            return Err(Error::backend_msg("injected: connection lost", true));
        }
        self.inner.commit(batch).await
    }
}

async fn count(store: &Store, c: String) -> u64 {
    store.records().count(&c, "").await.unwrap()
}

#[tokio::test]
async fn a_worker_created_for_a_failed_update_is_swept() {
    let base = berth_state_memory::open(OpenOptions::default());
    let failing = Arc::new(FailRegistrationCommit {
        inner: base.records().clone(),
        armed: AtomicBool::new(true),
    });
    let store = Store::builder(
        "memory",
        failing,
        base.leases().clone(),
        base.capabilities(),
        base.options().clone(),
    )
    .build();
    let manager = Arc::new(FakeManager::default());
    let registry = WorkerRegistry::new(store.clone(), manager.clone());
    let units = [UnitWorker::new("w", IMG)];
    let err = registry
        .update_unit_registrations(P, "i", &Registrations::new(), &units)
        .await
        .unwrap_err();
    assert!(err.is_retryable());
    assert_eq!(
        count(&store, names::workers(P)).await,
        1,
        "the worker was created"
    );
    assert_eq!(count(&store, names::registrations(P)).await, 0);

    assert_eq!(registry.sweep_unused_workers(P).await.unwrap(), 1);
    assert_eq!(count(&store, names::workers(P)).await, 0);
    assert_eq!(count(&store, names::api_keys(P)).await, 0);
    assert_eq!(count(&store, names::service_accounts(P)).await, 0);
    assert_eq!(manager.stopped.lock().unwrap().len(), 1);

    // The retried call works, and a sweep leaves a used worker alone.
    let regs = registry
        .update_unit_registrations(P, "i", &Registrations::new(), &units)
        .await
        .unwrap();
    assert_eq!(regs.len(), 1);
    assert_eq!(registry.sweep_unused_workers(P).await.unwrap(), 0);
    assert_eq!(count(&store, names::workers(P)).await, 1);
}

#[tokio::test]
async fn a_worker_left_by_a_removal_that_stopped_early_is_swept() {
    let store = berth_state_memory::open(OpenOptions::default());
    let registry = WorkerRegistry::new(store.clone(), Arc::new(FakeManager::default()));
    let regs = registry
        .update_unit_registrations(P, "i", &Registrations::new(), &[UnitWorker::new("w", IMG)])
        .await
        .unwrap();
    // What the removal's outer batch commits, without the retirement that follows it.
    let id = &regs["w"];
    let reg = store
        .collection::<WorkerRegistration>(&names::registrations(P))
        .unwrap()
        .get(id)
        .await
        .unwrap()
        .unwrap();
    let mut batch = Batch::new();
    batch.delete(&names::registrations(P), id);
    batch.delete(&names::registration_index(P, &reg.value.worker_id), id);
    store.commit(batch).await.unwrap();

    assert_eq!(registry.sweep_unused_workers(P).await.unwrap(), 1);
    assert_eq!(count(&store, names::workers(P)).await, 0);
}
