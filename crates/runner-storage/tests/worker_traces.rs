//! Golden traces of `update_unit_registrations`: the thirteen scenarios named in seed 000's
//! file list, each run on memory and on SQLite and compared exactly with
//! `tests/traces/update-unit-registrations/<scenario>.md` (re-record with
//! `BERTH_RECORD_TRACES=1`). Each scenario also checks the state it leaves behind.

mod trace_support;

use berth_core::Store;
use berth_runner_storage::workers::{names, ApiKey, Registrations, Worker, WorkerRegistration};
use berth_runner_storage::UnitWorker;
use serde_json::json;
use trace_support::{check_golden, open, Backend, Traced};

const GROUP: &str = "update-unit-registrations";
const P: &str = "test";
const INSTANCE: &str = "test";
const WORKER_V1: &str = "ghcr.io/org/worker:v1";
const WORKER_V2: &str = "ghcr.io/org/worker:v2";
const OTHER_V1: &str = "ghcr.io/org/otherworker:v1";

fn uw(name: &str, image: &str) -> UnitWorker {
    UnitWorker::new(name, image)
}

async fn workers(store: &Store) -> Vec<berth_core::Item<Worker>> {
    store
        .collection::<Worker>(&names::workers(P))
        .unwrap()
        .all()
        .await
        .unwrap()
}

async fn registration(store: &Store, id: &str) -> WorkerRegistration {
    store
        .collection::<WorkerRegistration>(&names::registrations(P))
        .unwrap()
        .get(id)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("registration {id} missing"))
        .value
}

async fn count(store: &Store, collection: &str) -> u64 {
    store.records().count(collection, "").await.unwrap()
}

async fn arrange(t: &Traced, instance: &str, list: &[UnitWorker]) -> Registrations {
    t.setup
        .update_unit_registrations(P, instance, &Registrations::new(), list)
        .await
        .unwrap()
}

async fn act(t: &Traced, current: &Registrations, list: &[UnitWorker]) -> Registrations {
    t.tracer.section("act");
    t.registry
        .update_unit_registrations(P, INSTANCE, current, list)
        .await
        .unwrap()
}

/// Compares with the golden file and checks no API-key token leaked into the trace.
async fn finish(t: &Traced, backend: Backend, name: &str) {
    let rendered = t.tracer.render();
    let keys = t
        .store
        .collection::<ApiKey>(&names::api_keys(P))
        .unwrap()
        .all()
        .await
        .unwrap();
    for key in keys {
        assert!(
            !rendered.contains(&key.value.token),
            "plaintext token in the trace"
        );
    }
    check_golden(GROUP, name, &rendered, backend == Backend::Memory);
}

async fn add_new_unit_registration(b: Backend) {
    let t = open(b).await;
    let regs = act(&t, &Registrations::new(), &[uw("worker", WORKER_V1)]).await;
    let reg = registration(&t.store, &regs["worker"]).await;
    assert_eq!(reg.image, WORKER_V1);
    assert_eq!(workers(&t.store).await.len(), 1);
    assert_eq!(t.manager.started.lock().unwrap().len(), 1);
    finish(&t, b, "add-new-unit-registration").await;
}

async fn add_new_unit_registration_when_other_exists(b: Backend) {
    let t = open(b).await;
    let before = arrange(&t, INSTANCE, &[uw("worker1", WORKER_V1)]).await;
    let regs = act(
        &t,
        &before,
        &[uw("worker1", WORKER_V1), uw("worker2", OTHER_V1)],
    )
    .await;
    assert_eq!(regs["worker1"], before["worker1"], "kept as it was");
    assert_eq!(workers(&t.store).await.len(), 2);
    finish(&t, b, "add-new-unit-registration-when-other-exists").await;
}

async fn create_multiple_workers_with_different_identities(b: Backend) {
    let t = open(b).await;
    let regs = act(
        &t,
        &Registrations::new(),
        &[uw("worker1", WORKER_V1), uw("worker2", OTHER_V1)],
    )
    .await;
    let all = workers(&t.store).await;
    assert_eq!(all.len(), 2);
    assert_ne!(
        all[0].value.service_account_id,
        all[1].value.service_account_id
    );
    assert_eq!(count(&t.store, &names::service_accounts(P)).await, 2);
    for (name, id) in &regs {
        let reg = registration(&t.store, id).await;
        let index = names::registration_index(P, &reg.worker_id);
        assert_eq!(count(&t.store, &index).await, 1, "index entry of {name}");
    }
    finish(&t, b, "create-multiple-workers-with-different-identities").await;
}

async fn handle_nonexistent_registration_id_gracefully(b: Backend) {
    let t = open(b).await;
    let current = Registrations::from([(
        "worker".to_owned(),
        "nonexistent-registration-id".to_owned(),
    )]);
    let regs = act(&t, &current, &[uw("worker", WORKER_V1)]).await;
    assert_ne!(regs["worker"], "nonexistent-registration-id");
    registration(&t.store, &regs["worker"]).await;
    finish(&t, b, "handle-nonexistent-registration-id-gracefully").await;
}

async fn no_op_when_no_changes(b: Backend) {
    let t = open(b).await;
    let list = [uw("worker", WORKER_V1).with_params(json!({"key": "value"}))];
    let before = arrange(&t, INSTANCE, &list).await;
    let versions = t
        .store
        .records()
        .get_many(&names::registrations(P), &[before["worker"].clone()])
        .await
        .unwrap();
    let regs = act(&t, &before, &list).await;
    assert_eq!(regs, before);
    let after = t
        .store
        .records()
        .get_many(&names::registrations(P), &[before["worker"].clone()])
        .await
        .unwrap();
    assert_eq!(versions, after, "nothing rewritten");
    assert!(!t.tracer.render().contains("write"), "no write at all");
    finish(&t, b, "no-op-when-no-changes").await;
}

async fn recreate_worker_when_image_changes(b: Backend) {
    let t = open(b).await;
    let before = arrange(&t, INSTANCE, &[uw("worker", WORKER_V1)]).await;
    let old = workers(&t.store).await.remove(0);
    let regs = act(&t, &before, &[uw("worker", OTHER_V1)]).await;
    assert_eq!(
        regs["worker"], before["worker"],
        "registration moved, not replaced"
    );
    let all = workers(&t.store).await;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].value.image, OTHER_V1);
    assert_ne!(
        all[0].value.service_account_id,
        old.value.service_account_id
    );
    assert_eq!(
        count(&t.store, &names::service_accounts(P)).await,
        1,
        "old account deleted"
    );
    assert_eq!(
        count(&t.store, &names::api_keys(P)).await,
        1,
        "old key deleted"
    );
    assert_eq!(
        count(&t.store, &names::registration_index(P, &old.id)).await,
        0
    );
    assert_eq!(
        *t.manager.stopped.lock().unwrap(),
        vec![(P.to_owned(), old.id.clone())]
    );
    finish(&t, b, "recreate-worker-when-image-changes").await;
}

async fn recreate_worker_when_image_version_changes(b: Backend) {
    let t = open(b).await;
    let before = arrange(&t, INSTANCE, &[uw("worker", WORKER_V1)]).await;
    let old = workers(&t.store).await.remove(0);
    act(&t, &before, &[uw("worker", WORKER_V2)]).await;
    let all = workers(&t.store).await;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].value.image, WORKER_V2);
    assert_ne!(all[0].id, old.id);
    assert_eq!(
        all[0].value.service_account_id,
        old.value.service_account_id
    );
    assert_eq!(
        count(&t.store, &names::service_accounts(P)).await,
        1,
        "account kept"
    );
    finish(&t, b, "recreate-worker-when-image-version-changes").await;
}

async fn recreate_worker_with_same_identity_reuses_service_account(b: Backend) {
    let t = open(b).await;
    arrange(&t, "other-instance", &[uw("worker", WORKER_V1)]).await;
    let before = arrange(&t, INSTANCE, &[uw("worker", WORKER_V1)]).await;
    let old = workers(&t.store).await.remove(0);
    act(&t, &before, &[uw("worker", WORKER_V2)]).await;
    let all = workers(&t.store).await;
    assert_eq!(
        all.len(),
        2,
        "the v1 worker still serves the other instance"
    );
    assert!(all
        .iter()
        .all(|w| w.value.service_account_id == old.value.service_account_id));
    assert_eq!(count(&t.store, &names::service_accounts(P)).await, 1);
    assert!(t.manager.stopped.lock().unwrap().is_empty());
    finish(
        &t,
        b,
        "recreate-worker-with-same-identity-reuses-service-account",
    )
    .await;
}

async fn remove_one_of_multiple_unit_registrations(b: Backend) {
    let t = open(b).await;
    let before = arrange(
        &t,
        INSTANCE,
        &[uw("worker1", WORKER_V1), uw("worker2", OTHER_V1)],
    )
    .await;
    let regs = act(&t, &before, &[uw("worker1", WORKER_V1)]).await;
    assert_eq!(regs.len(), 1);
    assert_eq!(count(&t.store, &names::registrations(P)).await, 1);
    let all = workers(&t.store).await;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].value.image, WORKER_V1);
    finish(&t, b, "remove-one-of-multiple-unit-registrations").await;
}

async fn remove_unit_registration(b: Backend) {
    let t = open(b).await;
    let before = arrange(&t, INSTANCE, &[uw("worker", WORKER_V1)]).await;
    let regs = act(&t, &before, &[]).await;
    assert!(regs.is_empty());
    for c in [
        names::registrations(P),
        names::workers(P),
        names::api_keys(P),
        names::service_accounts(P),
    ] {
        assert_eq!(count(&t.store, &c).await, 0, "{c} emptied");
    }
    assert_eq!(t.manager.stopped.lock().unwrap().len(), 1);
    finish(&t, b, "remove-unit-registration").await;
}

async fn update_existing_unit_registration_when_params_change(b: Backend) {
    let t = open(b).await;
    let before = arrange(
        &t,
        INSTANCE,
        &[uw("worker", WORKER_V1).with_params(json!({"key": "old"}))],
    )
    .await;
    let regs = act(
        &t,
        &before,
        &[uw("worker", WORKER_V1).with_params(json!({"key": "new"}))],
    )
    .await;
    assert_eq!(regs, before);
    assert_eq!(
        registration(&t.store, &regs["worker"]).await.params,
        json!({"key": "new"})
    );
    assert_eq!(workers(&t.store).await.len(), 1);
    finish(
        &t,
        b,
        "update-existing-unit-registration-when-params-change",
    )
    .await;
}

async fn update_params_and_image_simultaneously(b: Backend) {
    let t = open(b).await;
    let before = arrange(
        &t,
        INSTANCE,
        &[uw("worker", WORKER_V1).with_params(json!({"key": "old"}))],
    )
    .await;
    let regs = act(
        &t,
        &before,
        &[uw("worker", WORKER_V2).with_params(json!({"key": "new"}))],
    )
    .await;
    let reg = registration(&t.store, &regs["worker"]).await;
    assert_eq!(
        (reg.image.as_str(), reg.params),
        (WORKER_V2, json!({"key": "new"}))
    );
    let all = workers(&t.store).await;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].id, reg.worker_id);
    finish(&t, b, "update-params-and-image-simultaneously").await;
}

async fn worker_with_multiple_registrations_not_deleted_when_one_removed(b: Backend) {
    let t = open(b).await;
    let before = arrange(
        &t,
        INSTANCE,
        &[uw("worker1", WORKER_V1), uw("worker2", WORKER_V1)],
    )
    .await;
    let regs = act(&t, &before, &[uw("worker1", WORKER_V1)]).await;
    assert_eq!(regs.len(), 1);
    let all = workers(&t.store).await;
    assert_eq!(all.len(), 1, "still used by worker1");
    assert_eq!(
        count(&t.store, &names::registration_index(P, &all[0].id)).await,
        1
    );
    assert!(t.manager.stopped.lock().unwrap().is_empty());
    finish(
        &t,
        b,
        "worker-with-multiple-registrations-not-deleted-when-one-removed",
    )
    .await;
}

/// With lease-backed locks, every batch committed under a lock carries the fences of its
/// leases, and the trace shows them as checks of the batch they belong to.
#[tokio::test]
async fn lease_backed_locks_fence_every_batch_in_the_trace() {
    let t = trace_support::open_with(
        Backend::Memory,
        berth_runner_storage::LockMode::Leased(Default::default()),
    )
    .await;
    act(&t, &Registrations::new(), &[uw("worker", WORKER_V1)]).await;
    let rendered = t.tracer.render();
    let writes = rendered.matches("💾 write").count();
    assert_eq!(writes, 2);
    // The worker's batch: one fence (identity lock); the registration's: one (image lock).
    assert_eq!(rendered.matches("🔎 check").count(), 2);
    assert!(rendered.contains("`\"lock:worker-image:test:ghcr.io/org/worker\"`"));
    assert!(rendered.contains("`\"lock:worker-image:test:ghcr.io/org/worker:v1\"`"));
    // Staged ops kept their kinds: every commit matched the batch that staged it.
    assert_eq!(rendered.matches("💾 putItem").count(), 4);
}

macro_rules! on_backends {
    ($($name:ident),+ $(,)?) => {
        mod memory {
            $(#[tokio::test] async fn $name() { super::$name(super::Backend::Memory).await })+
        }
        mod sqlite {
            $(#[tokio::test] async fn $name() { super::$name(super::Backend::Sqlite).await })+
        }
    };
}

on_backends!(
    add_new_unit_registration,
    add_new_unit_registration_when_other_exists,
    create_multiple_workers_with_different_identities,
    handle_nonexistent_registration_id_gracefully,
    no_op_when_no_changes,
    recreate_worker_when_image_changes,
    recreate_worker_when_image_version_changes,
    recreate_worker_with_same_identity_reuses_service_account,
    remove_one_of_multiple_unit_registrations,
    remove_unit_registration,
    update_existing_unit_registration_when_params_change,
    update_params_and_image_simultaneously,
    worker_with_multiple_registrations_not_deleted_when_one_removed,
);
