//! Concurrent `update_unit_registrations` calls, with random delays before every storage call:
//! two callers registering overlapping images (or other versions of the same identities) never
//! create two workers for one image nor two service accounts for one identity, and a worker is never deleted while a registration that
//! was just committed uses it. Run many times, in process and with lease-backed locks (two
//! "processes": handles that share the store but not their in-process locks).

mod trace_support;

use async_trait::async_trait;
use berth_core::{Batch, Committed, OpenOptions, Record, RecordStore, Result, Scan, Store};
use berth_runner_storage::workers::{names, Registrations, Worker, WorkerRegistration};
use berth_runner_storage::{LeaseLockConfig, LockMode, UnitWorker, WorkerRegistry};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use trace_support::FakeManager;

const P: &str = "p";
const IMG1: &str = "ghcr.io/org/one:v1";
const IMG2: &str = "ghcr.io/org/two:v1";
const IMG1_V2: &str = "ghcr.io/org/one:v2";
const IMG2_V2: &str = "ghcr.io/org/two:v2";

/// Sleeps 0–2 ms (drawn from a seeded sequence) before each call of the store it wraps.
struct Jitter {
    inner: Arc<dyn RecordStore>,
    state: AtomicU64,
}

impl Jitter {
    async fn pause(&self) {
        let mut x = self
            .state
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::SeqCst);
        x ^= x >> 31;
        x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x ^= x >> 29;
        let micros = x % 2_000;
        if micros > 200 {
            tokio::time::sleep(Duration::from_micros(micros)).await;
        } else {
            tokio::task::yield_now().await;
        }
    }
}

#[async_trait]
impl RecordStore for Jitter {
    async fn get_many(&self, c: &str, keys: &[String]) -> Result<Vec<Option<Record>>> {
        self.pause().await;
        self.inner.get_many(c, keys).await
    }
    async fn scan(&self, c: &str, scan: &Scan) -> Result<Vec<Record>> {
        self.pause().await;
        self.inner.scan(c, scan).await
    }
    async fn count(&self, c: &str, prefix: &str) -> Result<u64> {
        self.pause().await;
        self.inner.count(c, prefix).await
    }
    async fn commit(&self, batch: Batch) -> Result<Committed> {
        self.pause().await;
        self.inner.commit(batch).await
    }
}

/// Two handles over one memory store with jittered records; with `leased`, each handle has
/// its own in-process locks, as two processes would.
fn handles(seed: u64, leased: bool) -> (Store, Store) {
    let base = berth_state_memory::open(OpenOptions::default());
    let jitter = Arc::new(Jitter {
        inner: base.records().clone(),
        state: AtomicU64::new(seed),
    });
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

async fn check_invariants(store: &Store, iteration: u64) {
    let workers = store
        .collection::<Worker>(&names::workers(P))
        .unwrap()
        .all()
        .await
        .unwrap();
    let mut per_image: BTreeMap<&str, usize> = BTreeMap::new();
    for w in &workers {
        *per_image.entry(w.value.image.as_str()).or_default() += 1;
    }
    assert!(
        per_image.values().all(|&n| n == 1),
        "iteration {iteration}: workers per image {per_image:?}"
    );
    let mut accounts: BTreeMap<&str, &str> = BTreeMap::new();
    for w in &workers {
        let previous = accounts.insert(&w.value.identity, &w.value.service_account_id);
        assert!(
            previous.map_or(true, |p| p == w.value.service_account_id),
            "iteration {iteration}: two service accounts for {}",
            w.value.identity
        );
    }
    let count = |c: String| async move { store.records().count(&c, "").await.unwrap() };
    assert_eq!(
        count(names::service_accounts(P)).await,
        accounts.len() as u64
    );
    assert_eq!(count(names::api_keys(P)).await, workers.len() as u64);
    let registrations = store
        .collection::<WorkerRegistration>(&names::registrations(P))
        .unwrap()
        .all()
        .await
        .unwrap();
    for r in &registrations {
        assert!(
            workers.iter().any(|w| w.id == r.value.worker_id),
            "iteration {iteration}: registration {} names a deleted worker",
            r.id
        );
    }
    for w in &workers {
        let index = count(names::registration_index(P, &w.id)).await;
        let used = registrations
            .iter()
            .filter(|r| r.value.worker_id == w.id)
            .count() as u64;
        assert_eq!(index, used, "iteration {iteration}: index of {}", w.id);
    }
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
        check_invariants(&s1, i).await;
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
        check_invariants(&s1, i).await;
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
