//! A database opened read-only: never created or migrated, every write refused with a typed
//! error, and readable while another connection holds the write lock.

use berth_core::packrun::PackRun;
use berth_core::{Batch, ErrorKind, OpenOptions};
use serde_json::json;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_or_empty_file_is_not_found_and_stays_missing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("none.db");
    let e = berth_state_sqlite::open(&path, OpenOptions::default().read_only())
        .await
        .expect_err("no database there");
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    assert!(
        e.to_string()
            .contains(&format!("no database at {}", path.display())),
        "{e}"
    );
    assert!(!path.exists(), "nothing was created");

    std::fs::write(&path, b"").unwrap();
    let e = berth_state_sqlite::open(&path, OpenOptions::default().read_only())
        .await
        .expect_err("an empty file is no database");
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 0, "still empty");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_write_is_refused_and_nothing_changes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ro.db");
    {
        let store = berth_state_sqlite::open(&path, OpenOptions::default())
            .await
            .unwrap();
        let mut b = Batch::new();
        b.put("c", "k", json!("kept"));
        store.commit(b).await.unwrap();
    }
    let before = std::fs::read(&path).unwrap();
    let store = berth_state_sqlite::open(&path, OpenOptions::default().read_only())
        .await
        .unwrap();
    assert_eq!(
        store.records().get("c", "k").await.unwrap().unwrap().value,
        json!("kept")
    );

    let mut b = Batch::new();
    b.put("c", "k2", json!("new"));
    let refused = [
        store.commit(b).await.map(|_| ()),
        store
            .runs()
            .create(PackRun::new("r1", "hash", json!({"name": "p"})))
            .await
            .map(|_| ()),
        store
            .leases()
            .acquire("me:1", &["s".to_owned()], Duration::from_secs(5))
            .await
            .map(|_| ()),
    ];
    for (i, r) in refused.into_iter().enumerate() {
        let e = r.err().unwrap_or_else(|| panic!("write {i} went through"));
        assert_eq!(e.kind(), ErrorKind::ReadOnly, "write {i}: {e}");
    }
    assert!(store.records().get("c", "k2").await.unwrap().is_none());
    drop(store);
    assert_eq!(
        std::fs::read(&path).unwrap(),
        before,
        "the file is unchanged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_while_another_connection_holds_the_write_lock() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("locked.db");
    {
        let store = berth_state_sqlite::open(&path, OpenOptions::default())
            .await
            .unwrap();
        let mut b = Batch::new();
        b.put("c", "k", json!(1));
        store.commit(b).await.unwrap();
    }
    let writer = rusqlite::Connection::open(&path).unwrap();
    writer
        .execute_batch(
            "BEGIN IMMEDIATE;
             INSERT INTO records (collection, key, value, version, created_at, updated_at)
             VALUES ('c', X'6c', '2', 1, 0, 0);",
        )
        .unwrap();
    let started = Instant::now();
    let store = berth_state_sqlite::open(&path, OpenOptions::default().read_only())
        .await
        .unwrap();
    assert_eq!(
        store.records().count("c", "").await.unwrap(),
        1,
        "the uncommitted row is not seen"
    );
    // The busy timeout is 5 s: an open that took the write lock would have waited for it.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    writer.execute_batch("COMMIT").unwrap();
    assert_eq!(
        store.records().count("c", "").await.unwrap(),
        2,
        "and later commits are"
    );
}
