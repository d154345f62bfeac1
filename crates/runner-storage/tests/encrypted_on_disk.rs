//! The worker registry on SQLite with `api-keys:*` encrypted: the API-key token is readable
//! through the decorator, and the bytes of the database files never contain it — while an
//! unencrypted value of the same commit is found there (so the search itself works).

mod trace_support;

use berth_core::OpenOptions;
use berth_encryption::{Collections, EncryptedRecords};
use berth_runner_storage::workers::{names, ApiKey, Registrations, Worker};
use berth_runner_storage::{UnitWorker, WorkerRegistry};
use std::sync::Arc;
use trace_support::{keyring, FakeManager};

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn database_bytes(dir: &std::path::Path) -> Vec<u8> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        all.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    all
}

#[tokio::test]
async fn the_token_never_reaches_the_database_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let raw = berth_state_sqlite::open(&path, OpenOptions::default())
        .await
        .unwrap();
    let store =
        EncryptedRecords::wrap_store(&raw, keyring(), Collections::matching(["api-keys:*"]));
    let image = "ghcr.io/org/disk-check-worker:v1";
    let registry = WorkerRegistry::new(store.clone(), Arc::new(FakeManager::default()));
    registry
        .update_unit_registrations(
            "p",
            "i",
            &Registrations::new(),
            &[UnitWorker::new("w", image)],
        )
        .await
        .unwrap();

    let worker = store
        .collection::<Worker>(&names::workers("p"))
        .unwrap()
        .all()
        .await
        .unwrap()
        .remove(0);
    let key = store
        .collection::<ApiKey>(&names::api_keys("p"))
        .unwrap()
        .get(&worker.value.api_key_id)
        .await
        .unwrap()
        .unwrap();
    let token = key.value.token.clone();
    assert_eq!(token.len(), 64);
    assert!(token.bytes().all(|b| b.is_ascii_hexdigit()));

    // Close every handle so the WAL is checkpointed into the file, then look at the bytes.
    drop((registry, store, raw));
    let reopened = berth_state_sqlite::open(&path, OpenOptions::default())
        .await
        .unwrap();
    drop(reopened);
    let bytes = database_bytes(dir.path());
    assert!(
        contains(&bytes, image.as_bytes()),
        "control: plain values are visible on disk"
    );
    assert!(
        !contains(&bytes, token.as_bytes()),
        "the token is on disk in plain text"
    );
    assert!(
        !contains(&bytes, &token.as_bytes()[..16]),
        "a token prefix is on disk"
    );

    // Reopened with the key, the token is still there.
    let raw = berth_state_sqlite::open(&path, OpenOptions::default())
        .await
        .unwrap();
    let store =
        EncryptedRecords::wrap_store(&raw, keyring(), Collections::matching(["api-keys:*"]));
    let again = store
        .collection::<ApiKey>(&names::api_keys("p"))
        .unwrap()
        .get(&worker.value.api_key_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.value.token, token);
}
