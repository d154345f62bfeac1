//! Handles in one process share one database; dropping every handle closes it.

use berth_core::{Batch, ErrorKind, OpenOptions, Precondition};
use serde_json::json;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_handles_share_one_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let a = berth_state_sled::open(&path, OpenOptions::default())
        .await
        .unwrap();
    // A different spelling of the same directory reaches the same database.
    let b = berth_state_sled::open(dir.path().join(".").join("db"), OpenOptions::default())
        .await
        .unwrap();

    let mut batch = Batch::new();
    batch.put("c", "k", json!(1)).when(Precondition::Absent);
    a.commit(batch).await.unwrap();
    assert_eq!(b.records().get("c", "k").await.unwrap().unwrap().version, 1);

    // Preconditions see the other handle's writes.
    let mut stale = Batch::new();
    stale.put("c", "k", json!(2)).when(Precondition::Absent);
    assert_eq!(
        b.commit(stale).await.unwrap_err().kind(),
        ErrorKind::Conflict
    );

    // Leases and fences too.
    let ttl = Duration::from_secs(30);
    let lease = a
        .leases()
        .acquire("h:1", &["s:1".into()], ttl)
        .await
        .unwrap();
    assert!(b
        .leases()
        .acquire("h:2", &["s:1".into()], ttl)
        .await
        .unwrap()
        .is_empty());
    let mut fenced = Batch::new();
    fenced.put("c", "f", json!(1)).when(Precondition::Fence {
        shard: "s:1".into(),
        token: lease[0].token,
    });
    b.commit(fenced).await.unwrap();
    assert_eq!(
        b.leases().register("h:1", "r", true).await.unwrap(),
        a.leases().register("h:1", "r", true).await.unwrap()
    );

    // Dropping one handle leaves the other working.
    drop(a);
    assert!(b.records().get("c", "f").await.unwrap().is_some());
    drop(b);

    // Every handle dropped: the directory is closed and opens again in this process.
    let c = berth_state_sled::open(&path, OpenOptions::default())
        .await
        .unwrap();
    assert_eq!(c.records().count("c", "").await.unwrap(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_opens_and_drops_never_hit_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    for round in 0..20u64 {
        let tasks: Vec<_> = (0..4u64)
            .map(|i| {
                let path = path.clone();
                tokio::spawn(async move {
                    let store = berth_state_sled::open(&path, OpenOptions::default())
                        .await
                        .expect("open while other tasks open and drop the same path");
                    let mut batch = Batch::new();
                    batch.put("c", &format!("{round}-{i}"), json!(i));
                    store.commit(batch).await.unwrap();
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
    }
    let store = berth_state_sled::open(&path, OpenOptions::default())
        .await
        .unwrap();
    assert_eq!(store.records().count("c", "").await.unwrap(), 80);
}
