//! The worker registry's invariants, checked after concurrent runs.

use berth_core::Store;
use berth_runner_storage::workers::{names, Worker, WorkerRegistration};
use std::collections::BTreeMap;

/// Checks the registry's invariants in `project`: one worker per image, one service account
/// per identity, an API key per worker, every registration's worker exists, and each
/// worker's index lists exactly its registrations. `what` names the run in failures.
pub async fn check_invariants(store: &Store, project: &str, what: &str) {
    let workers = store
        .collection::<Worker>(&names::workers(project))
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
        "{what}: workers per image {per_image:?}"
    );
    let mut accounts: BTreeMap<&str, &str> = BTreeMap::new();
    for w in &workers {
        let previous = accounts.insert(&w.value.identity, &w.value.service_account_id);
        assert!(
            previous.map_or(true, |p| p == w.value.service_account_id),
            "{what}: two service accounts for {}",
            w.value.identity
        );
    }
    let count = |c: String| async move { store.records().count(&c, "").await.unwrap() };
    assert_eq!(
        count(names::service_accounts(project)).await,
        accounts.len() as u64
    );
    assert_eq!(count(names::api_keys(project)).await, workers.len() as u64);
    let registrations = store
        .collection::<WorkerRegistration>(&names::registrations(project))
        .unwrap()
        .all()
        .await
        .unwrap();
    for r in &registrations {
        assert!(
            workers.iter().any(|w| w.id == r.value.worker_id),
            "{what}: registration {} names a deleted worker",
            r.id
        );
    }
    for w in &workers {
        let index = count(names::registration_index(project, &w.id)).await;
        let used = registrations
            .iter()
            .filter(|r| r.value.worker_id == w.id)
            .count() as u64;
        assert_eq!(index, used, "{what}: index of {}", w.id);
    }
}
