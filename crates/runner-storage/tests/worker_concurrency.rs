//! Concurrent `update_unit_registrations` calls, with random delays before every storage call:
//! two callers registering overlapping images (or other versions of the same identities) never
//! create two workers for one image nor two service accounts for one identity, and a worker is never deleted while a registration that
//! was just committed uses it. Run many times, in process and with lease-backed locks (two
//! "processes": handles that share the store but not their in-process locks).

mod trace_support;

use berth_core::{OpenOptions, Store};
use berth_runner_storage::workers::{names, Registrations};
use berth_runner_storage::{LeaseLockConfig, LockMode, UnitWorker, WorkerRegistry};
use std::sync::Arc;
use std::time::Duration;
use trace_support::{check_invariants, FakeManager, Jitter};

const P: &str = "p";
const IMG1: &str = "ghcr.io/org/one:v1";
const IMG2: &str = "ghcr.io/org/two:v1";
const IMG1_V2: &str = "ghcr.io/org/one:v2";
const IMG2_V2: &str = "ghcr.io/org/two:v2";

/// Two handles over one memory store with jittered records; with `leased`, each handle has
/// its own in-process locks, as two processes would.
fn handles(seed: u64, leased: bool) -> (Store, Store) {
    let base = berth_state_memory::open(OpenOptions::default());
    let jitter = Arc::new(Jitter::new(base.records().clone(), seed));
    let build = || {
        Store::builder(
            "memory",
            jitter.clone(),
            base.leases().clone(),
            base.capabilities(),
            base.options().clone(),
        )
        .build()
    };
    let first = build();
    let second = if leased { build() } else { first.clone() };
    (first, second)
}

fn registry(store: &Store, leased: bool, name: &str, manager: Arc<FakeManager>) -> WorkerRegistry {
    let mode = if leased {
        LockMode::Leased(LeaseLockConfig {
            ttl: Duration::from_secs(5),
            refresh_every: Duration::from_secs(1),
            wait_timeout: Duration::from_secs(5),
            backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(5),
            holder: name.to_owned(),
        })
    } else {
        LockMode::InProcess
    };
    WorkerRegistry::new(store.clone(), manager).with_locks(mode.build(store))
}

async fn overlapping_images(leased: bool, iterations: u64) {
    for i in 0..iterations {
        let (s1, s2) = handles(i, leased);
        let manager = Arc::new(FakeManager::default());
        let (r1, r2) = (
            registry(&s1, leased, "one", manager.clone()),
            registry(&s2, leased, "two", manager.clone()),
        );
        // Even iterations: the same images (in another order). Odd ones: other versions of the
        // same identities, so the two calls hold disjoint image locks and meet only on the
        // identity locks (which must give one service account per identity).
        let same = i % 2 == 0;
        let a = [UnitWorker::new("w1", IMG1), UnitWorker::new("w2", IMG2)];
        let b = if same {
            [UnitWorker::new("x", IMG2), UnitWorker::new("y", IMG1)]
        } else {
            [UnitWorker::new("x", IMG2_V2), UnitWorker::new("y", IMG1_V2)]
        };
        let none = Registrations::new();
        let (ra, rb) = tokio::join!(
            tokio::spawn({
                let (r1, none) = (r1.clone(), none.clone());
                async move { r1.update_unit_registrations(P, "a", &none, &a).await }
            }),
            tokio::spawn({
                let r2 = r2.clone();
                async move { r2.update_unit_registrations(P, "b", &none, &b).await }
            }),
        );
        assert_eq!(ra.unwrap().unwrap().len(), 2);
        assert_eq!(rb.unwrap().unwrap().len(), 2);
        check_invariants(&s1, P, &format!("iteration {i}")).await;
        let expected = if same { 2 } else { 4 };
        let workers = s1.records().count(&names::workers(P), "").await.unwrap();
        assert_eq!(workers, expected, "iteration {i}");
        let accounts = s1
            .records()
            .count(&names::service_accounts(P), "")
            .await
            .unwrap();
        assert_eq!(
            accounts, 2,
            "iteration {i}: one service account per identity"
        );
        assert_eq!(
            manager.started.lock().unwrap().len(),
            expected as usize,
            "iteration {i}"
        );
    }
}

async fn removal_racing_reuse(leased: bool, iterations: u64) {
    for i in 0..iterations {
        let (s1, s2) = handles(i.wrapping_mul(7919), leased);
        let manager = Arc::new(FakeManager::default());
        let (r1, r2) = (
            registry(&s1, leased, "one", manager.clone()),
            registry(&s2, leased, "two", manager.clone()),
        );
        let a_regs = r1
            .update_unit_registrations(P, "a", &Registrations::new(), &[UnitWorker::new("w", IMG1)])
            .await
            .unwrap();
        let (ra, rb) = tokio::join!(
            tokio::spawn(async move { r1.update_unit_registrations(P, "a", &a_regs, &[]).await }),
            tokio::spawn(async move {
                r2.update_unit_registrations(
                    P,
                    "b",
                    &Registrations::new(),
                    &[UnitWorker::new("w", IMG1)],
                )
                .await
            }),
        );
        assert!(ra.unwrap().unwrap().is_empty());
        assert_eq!(rb.unwrap().unwrap().len(), 1);
        check_invariants(&s1, P, &format!("iteration {i}")).await;
        assert_eq!(s1.records().count(&names::workers(P), "").await.unwrap(), 1);
    }
}

async fn bounded(f: impl std::future::Future<Output = ()>) {
    tokio::time::timeout(Duration::from_secs(9), f)
        .await
        .expect("the whole run is bounded (a lock never released would hang it)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlapping_images_in_process_never_duplicate_a_worker() {
    bounded(overlapping_images(false, 60)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlapping_images_across_processes_never_duplicate_a_worker() {
    bounded(overlapping_images(true, 30)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removal_racing_a_new_registration_never_deletes_its_worker() {
    bounded(async {
        removal_racing_reuse(false, 40).await;
        removal_racing_reuse(true, 20).await;
    })
    .await;
}
