//! The typed layer over collections.

use super::records::put;
use super::{fresh, Backend, T0};
use berth_core::{Batch, ErrorKind, Precondition};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Worker {
    identity: String,
    status: String,
}

pub async fn typed_collection_round_trip(backend: &dyn Backend) {
    let (_loc, store, clock) = fresh(backend).await;
    let workers = store.collection::<Worker>("workers:test").unwrap();
    let w1 = Worker {
        identity: "ghcr.io/org/worker".into(),
        status: "starting".into(),
    };
    let meta = workers.put("w1", &w1).await.unwrap();
    assert_eq!(
        (meta.version, meta.created_at, meta.updated_at),
        (1, T0, T0)
    );
    clock.advance(Duration::from_secs(5));
    let mut batch = Batch::new();
    let w2 = Worker {
        identity: "ghcr.io/org/other".into(),
        status: "starting".into(),
    };
    workers
        .put_in(&mut batch, "w2", &w2)
        .unwrap()
        .when(Precondition::Absent);
    let w1b = Worker {
        status: "running".into(),
        ..w1.clone()
    };
    workers
        .put_in(&mut batch, "w1", &w1b)
        .unwrap()
        .when(Precondition::Version(1));
    store.commit(batch).await.unwrap();

    let got = workers.get("w1").await.unwrap().unwrap();
    assert_eq!(got.id, "w1");
    assert_eq!(got.value, w1b);
    assert_eq!(got.meta.version, 2);
    assert_eq!(got.meta.created_at, T0);
    assert_eq!(got.meta.updated_at, T0.plus(Duration::from_secs(5)));

    let many = workers
        .get_many(&["w2".into(), "nope".into(), "w1".into()])
        .await
        .unwrap();
    assert_eq!(many.len(), 2);
    assert_eq!(many["w2"].value, w2);
    let all = workers.all().await.unwrap();
    assert_eq!(
        all.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(),
        vec!["w1", "w2"]
    );
    assert_eq!(workers.count().await.unwrap(), 2);

    let mut batch = Batch::new();
    workers.delete_in(&mut batch, "w2").unwrap();
    store.commit(batch).await.unwrap();
    workers.delete("w1").await.unwrap();
    assert!(workers.all().await.unwrap().is_empty());
    assert_eq!(
        store.collection::<Worker>("").unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
}

pub async fn typed_decode_mismatch_is_corrupt(backend: &dyn Backend) {
    let (_loc, store, _clock) = fresh(backend).await;
    put(&store, "workers:test", "odd", json!({"unexpected": true})).await;
    let workers = store.collection::<Worker>("workers:test").unwrap();
    assert_eq!(
        workers.get("odd").await.unwrap_err().kind(),
        ErrorKind::Corrupt
    );
    assert_eq!(workers.all().await.unwrap_err().kind(), ErrorKind::Corrupt);
}

pub async fn raw_index_puts(backend: &dyn Backend) {
    let (_loc, store, _clock) = fresh(backend).await;
    // Seed 000: an empty value put into `worker-registration-index:<project>:<worker>`.
    let index = store
        .collection::<Value>("worker-registration-index:test:w1")
        .unwrap();
    let mut batch = Batch::new();
    for reg in ["reg-a", "reg-b", "reg-c"] {
        index.put_raw_in(&mut batch, reg, Value::Null).unwrap();
    }
    store.commit(batch).await.unwrap();
    let regs: Vec<String> = index
        .all()
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(regs, vec!["reg-a", "reg-b", "reg-c"]);
    assert_eq!(
        index.get("reg-b").await.unwrap().unwrap().value,
        Value::Null
    );
    // Many items in pages: `all` must walk past its page size.
    let bulk = store.collection::<u32>("bulk").unwrap();
    let mut batch = Batch::new();
    for i in 0..2500u32 {
        bulk.put_in(&mut batch, &format!("{i:05}"), &i).unwrap();
    }
    store.commit(batch).await.unwrap();
    let all = bulk.all().await.unwrap();
    assert_eq!(all.len(), 2500);
    assert!(all
        .iter()
        .enumerate()
        .all(|(i, item)| item.value == i as u32));
}
