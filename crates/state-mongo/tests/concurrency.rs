//! Several clients (as several hosts would) racing multi-op transactional batches on one key.

mod common;

use berth_core::{Batch, ErrorKind, OpenOptions, Precondition, Scan};
use berth_state_mongo::LeaseClock;
use common::TestDb;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_clients_lose_no_update_and_write_nothing_twice() {
    let db = TestDb::new("race");
    let first = db
        .open(LeaseClock::Server, OpenOptions::default())
        .await
        .unwrap();
    let mut b = Batch::new();
    b.put("c", "counter", json!(0));
    first.commit(b).await.unwrap();
    let clients = 4;
    let increments = 10;
    let mut handles = Vec::new();
    for c in 0..clients {
        // A store of its own: its own driver client and connection pool.
        let store = db
            .open(LeaseClock::Server, OpenOptions::default())
            .await
            .unwrap();
        handles.push(tokio::spawn(async move {
            for i in 0..increments {
                loop {
                    let cur = store.records().get("c", "counter").await.unwrap().unwrap();
                    let n = cur.value.as_i64().unwrap();
                    let mut b = Batch::new();
                    b.put("c", "counter", json!(n + 1))
                        .when(Precondition::Version(cur.version));
                    b.put("log", &format!("{n:04}"), json!({"client": c, "i": i}))
                        .when(Precondition::Absent);
                    match store.commit(b).await {
                        Ok(_) => break,
                        Err(e) if e.kind() == ErrorKind::Conflict || e.is_retryable() => {}
                        Err(e) => panic!("unexpected error: {e}"),
                    }
                }
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    let total = clients * increments;
    let counter = first.records().get("c", "counter").await.unwrap().unwrap();
    assert_eq!(counter.value, json!(total));
    assert_eq!(counter.version, total as u64 + 1);
    let log = first.records().scan("log", &Scan::all()).await.unwrap();
    assert_eq!(
        log.len(),
        total as usize,
        "one log record per increment, none lost or doubled"
    );
    assert!(log
        .iter()
        .enumerate()
        .all(|(i, r)| r.key == format!("{i:04}")));
}
