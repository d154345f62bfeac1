//! Atomic batches and every precondition kind.

use super::records::put;
use super::{fresh, Backend};
use berth_core::{Batch, Error, ErrorKind, Precondition, Scan, Store};
use serde_json::json;

async fn nothing_in(store: &Store, collections: &[&str]) {
    for c in collections {
        let left = store.records().scan(c, &Scan::all()).await.unwrap();
        assert!(
            left.is_empty(),
            "collection {c} should be empty, found {left:?}"
        );
    }
}

pub async fn atomic_when_middle_precondition_fails(backend: &dyn Backend) {
    let (_loc, store, _clock) = fresh(backend).await;
    put(&store, "b", "taken", json!("original")).await;
    let mut batch = Batch::new();
    batch.put("a", "1", json!(1));
    batch.delete("b", "taken");
    batch.put("b", "new", json!(2));
    batch
        .put("b", "taken", json!("again"))
        .when(Precondition::Exists);
    batch.put("c", "3", json!(3));
    let err = store
        .commit(batch)
        .await
        .expect_err("op 3 must fail: op 1 deleted the key");
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert_eq!(err.op_index(), Some(3));
    match &err {
        Error::Conflict {
            collection, key, ..
        } => assert_eq!((collection.as_str(), key.as_str()), ("b", "taken")),
        other => panic!("expected a conflict, got {other:?}"),
    }
    nothing_in(&store, &["a", "c"]).await;
    let kept = store
        .records()
        .get("b", "taken")
        .await
        .unwrap()
        .expect("not deleted");
    assert_eq!((kept.value, kept.version), (json!("original"), 1));
    assert!(store.records().get("b", "new").await.unwrap().is_none());
}

pub async fn precondition_absent(backend: &dyn Backend) {
    let (_loc, store, _clock) = fresh(backend).await;
    let mut b = Batch::new();
    b.put("c", "k", json!(1)).when(Precondition::Absent);
    assert_eq!(store.commit(b).await.unwrap().versions, vec![Some(1)]);
    let mut b = Batch::new();
    b.put("c", "k", json!(2)).when(Precondition::Absent);
    let err = store.commit(b).await.unwrap_err();
    assert_eq!((err.kind(), err.op_index()), (ErrorKind::Conflict, Some(0)));
    assert_eq!(
        store.records().get("c", "k").await.unwrap().unwrap().value,
        json!(1)
    );
    // Absent also guards deletes.
    let mut b = Batch::new();
    b.delete("c", "k").when(Precondition::Absent);
    assert_eq!(
        store.commit(b).await.unwrap_err().kind(),
        ErrorKind::Conflict
    );
    assert!(store.records().get("c", "k").await.unwrap().is_some());
}

pub async fn precondition_exists(backend: &dyn Backend) {
    let (_loc, store, _clock) = fresh(backend).await;
    let mut b = Batch::new();
    b.put("c", "k", json!(1)).when(Precondition::Exists);
    assert_eq!(
        store.commit(b).await.unwrap_err().kind(),
        ErrorKind::Conflict
    );
    assert!(store.records().get("c", "k").await.unwrap().is_none());
    put(&store, "c", "k", json!(1)).await;
    let mut b = Batch::new();
    b.put("c", "k", json!(2)).when(Precondition::Exists);
    assert_eq!(store.commit(b).await.unwrap().versions, vec![Some(2)]);
    let mut b = Batch::new();
    b.delete("c", "k").when(Precondition::Exists);
    store.commit(b).await.unwrap();
    let mut b = Batch::new();
    b.delete("c", "k").when(Precondition::Exists);
    assert_eq!(
        store.commit(b).await.unwrap_err().kind(),
        ErrorKind::Conflict
    );
}

pub async fn precondition_version(backend: &dyn Backend) {
    let (_loc, store, _clock) = fresh(backend).await;
    let mut b = Batch::new();
    b.put("c", "k", json!(0)).when(Precondition::Version(1));
    assert_eq!(
        store.commit(b).await.unwrap_err().kind(),
        ErrorKind::Conflict,
        "missing key has no version"
    );
    put(&store, "c", "k", json!(1)).await;
    put(&store, "c", "k", json!(2)).await;
    for stale in [1, 3] {
        let mut b = Batch::new();
        b.put("c", "k", json!("stale"))
            .when(Precondition::Version(stale));
        let err = store.commit(b).await.unwrap_err();
        assert_eq!(
            err.kind(),
            ErrorKind::Conflict,
            "version {stale} is not current"
        );
    }
    let mut b = Batch::new();
    b.put("c", "k", json!(3)).when(Precondition::Version(2));
    assert_eq!(store.commit(b).await.unwrap().versions, vec![Some(3)]);
    let mut b = Batch::new();
    b.delete("c", "k").when(Precondition::Version(2));
    assert_eq!(
        store.commit(b).await.unwrap_err().kind(),
        ErrorKind::Conflict
    );
    let mut b = Batch::new();
    b.delete("c", "k").when(Precondition::Version(3));
    store.commit(b).await.unwrap();
    assert!(store.records().get("c", "k").await.unwrap().is_none());
}

pub async fn ops_see_earlier_ops_of_the_batch(backend: &dyn Backend) {
    let (_loc, store, _clock) = fresh(backend).await;
    let mut b = Batch::new();
    b.put("c", "k", json!(1)).when(Precondition::Absent);
    b.put("c", "k", json!(2)).when(Precondition::Version(1));
    b.put("c", "k", json!(3)).when(Precondition::Version(2));
    b.put("d", "x", json!("x")).when(Precondition::Absent);
    let done = store.commit(b).await.unwrap();
    assert_eq!(done.versions, vec![Some(1), Some(2), Some(3), Some(1)]);
    let got = store.records().get("c", "k").await.unwrap().unwrap();
    assert_eq!((got.value, got.version), (json!(3), 3));
}

pub async fn check_op_writes_nothing(backend: &dyn Backend) {
    let (_loc, store, _clock) = fresh(backend).await;
    put(&store, "c", "guard", json!(1)).await;
    let mut b = Batch::new();
    b.check("c", "guard", Precondition::Version(1));
    b.put("c", "k", json!("v"));
    let done = store.commit(b).await.unwrap();
    assert_eq!(done.versions, vec![None, Some(1)]);
    assert_eq!(
        store
            .records()
            .get("c", "guard")
            .await
            .unwrap()
            .unwrap()
            .version,
        1
    );
    let mut b = Batch::new();
    b.check("c", "guard", Precondition::Version(7));
    b.put("c", "k2", json!("v"));
    assert_eq!(store.commit(b).await.unwrap_err().op_index(), Some(0));
    assert!(store.records().get("c", "k2").await.unwrap().is_none());
}

pub async fn delete_then_recreate_restarts_version(backend: &dyn Backend) {
    let (_loc, store, _clock) = fresh(backend).await;
    put(&store, "c", "k", json!(1)).await;
    put(&store, "c", "k", json!(2)).await;
    let mut b = Batch::new();
    b.delete("c", "k");
    b.put("c", "k", json!("fresh")).when(Precondition::Absent);
    assert_eq!(store.commit(b).await.unwrap().versions, vec![None, Some(1)]);
    assert_eq!(
        store
            .records()
            .get("c", "k")
            .await
            .unwrap()
            .unwrap()
            .version,
        1
    );
}

pub async fn concurrent_compare_and_set_loses_no_update(backend: &dyn Backend) {
    let (_loc, store, _clock) = fresh(backend).await;
    put(&store, "c", "counter", json!(0)).await;
    let tasks = 8;
    let increments = 25;
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let store = store.clone();
        handles.push(tokio::spawn(async move {
            let mut conflicts = 0u32;
            for _ in 0..increments {
                loop {
                    let cur = store.records().get("c", "counter").await.unwrap().unwrap();
                    let n = cur.value.as_i64().unwrap();
                    let mut b = Batch::new();
                    b.put("c", "counter", json!(n + 1))
                        .when(Precondition::Version(cur.version));
                    match store.commit(b).await {
                        Ok(_) => break,
                        Err(e) if e.kind() == ErrorKind::Conflict => conflicts += 1,
                        Err(e) if e.is_retryable() => {}
                        Err(e) => panic!("unexpected error: {e}"),
                    }
                }
            }
            conflicts
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    let total = (tasks * increments) as i64;
    let last = store.records().get("c", "counter").await.unwrap().unwrap();
    assert_eq!(last.value, json!(total), "every increment survived");
    assert_eq!(last.version, total as u64 + 1);
}
