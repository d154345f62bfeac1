//! Reopening a store, and honest capabilities.

use super::records::put;
use super::{fresh, Backend};
use berth_core::packrun::PackRun;
use berth_core::{Batch, DeterministicIds, OpenOptions, Precondition};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

pub async fn data_survives_reopen(backend: &dyn Backend) {
    let (location, store, clock) = fresh(backend).await;
    let persistent = store.capabilities().persistent;
    put(&store, "c", "k", json!({"kept": true})).await;
    put(&store, "c", "k", json!({"kept": "twice"})).await;
    let lease = store
        .leases()
        .acquire("h:1", &["g:1".into()], Duration::from_secs(35))
        .await
        .unwrap();
    let id = store.leases().register("h:1", "r", true).await.unwrap();
    store
        .runs()
        .create(PackRun::new("run-1", "hash", json!({})))
        .await
        .unwrap();
    store.leases().release("h:1", "g:1").await.unwrap();
    drop(store);

    let options = OpenOptions::default()
        .with_clock(Arc::new(clock.clone()))
        .with_ids(Arc::new(DeterministicIds::new(43)));
    let store = location.open(options).await.expect("reopen");
    let got = store.records().get("c", "k").await.unwrap();
    if !persistent {
        assert!(
            got.is_none(),
            "a backend that says it does not persist must start empty"
        );
        return;
    }
    let got = got.expect("the record survived");
    assert_eq!((got.value, got.version), (json!({"kept": "twice"}), 2));
    assert!(store.runs().get("run-1").await.unwrap().is_some());
    assert_eq!(store.leases().register("h:1", "r", true).await.unwrap(), id);
    let again = store
        .leases()
        .acquire("h:2", &["g:1".into()], Duration::from_secs(35))
        .await
        .unwrap();
    assert!(
        again[0].token > lease[0].token,
        "fencing tokens never go back, even across reopen"
    );
    let mut b = Batch::new();
    b.put("c", "k", json!(3)).when(Precondition::Version(2));
    store.commit(b).await.unwrap();
}

pub async fn capabilities_are_honest(backend: &dyn Backend) {
    let (_loc, store, _clock) = fresh(backend).await;
    let caps = store.capabilities();
    let mut b = Batch::new();
    b.put("c", "1", json!(1));
    b.put("c", "2", json!(2));
    match store.commit(b).await {
        Ok(_) => assert!(
            caps.atomic_batches,
            "multi-op batch committed but atomic_batches is false"
        ),
        Err(e) => {
            assert!(!caps.atomic_batches, "multi-op batch failed: {e}");
            assert_eq!(e.kind(), berth_core::ErrorKind::Unsupported);
        }
    }
}
