//! Opening, closing and the in-memory database.

use berth_core::{Batch, Durability, OpenOptions, Scan};
use serde_json::json;
use std::path::{Path, PathBuf};

fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(suffix);
    PathBuf::from(p)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_every_handle_closes_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("close.db");
    for round in 0..3 {
        let store = berth_state_sqlite::open(&path, OpenOptions::default())
            .await
            .unwrap();
        let clone = store.clone();
        let mut b = Batch::new();
        b.put("c", &format!("k{round}"), json!(round));
        clone.commit(b).await.unwrap();
        assert_eq!(store.records().count("c", "").await.unwrap(), round + 1);
        assert!(sidecar(&path, "-wal").exists(), "WAL mode is on while open");
        drop(store);
        drop(clone);
        // The writer's connection was the last to close: it checkpointed and removed the WAL.
        assert!(
            !sidecar(&path, "-wal").exists(),
            "round {round}: still open"
        );
        // Nobody holds the file: an exclusive lock is granted at once.
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.busy_timeout(std::time::Duration::ZERO).unwrap();
        conn.execute_batch("BEGIN EXCLUSIVE; COMMIT;").unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relaxed_durability_commits_and_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("relaxed.db");
    let options = OpenOptions::default().with_durability(Durability::Relaxed);
    let store = berth_state_sqlite::open(&path, options).await.unwrap();
    let mut b = Batch::new();
    b.put("c", "k", json!("relaxed"));
    store.commit(b).await.unwrap();
    drop(store);
    let store = berth_state_sqlite::open(&path, OpenOptions::default())
        .await
        .unwrap();
    let got = store.records().get("c", "k").await.unwrap().unwrap();
    assert_eq!(got.value, json!("relaxed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_memory_databases_are_private_and_honest() {
    let a = berth_state_sqlite::open_in_memory(OpenOptions::default())
        .await
        .unwrap();
    let b = berth_state_sqlite::open_in_memory(OpenOptions::default())
        .await
        .unwrap();
    assert_eq!(a.capabilities(), berth_state_sqlite::MEMORY_CAPABILITIES);
    assert!(!a.capabilities().persistent && !a.capabilities().shared);
    let mut batch = Batch::new();
    batch.put("c", "only-in-a", json!(1));
    a.commit(batch).await.unwrap();
    assert!(a.records().get("c", "only-in-a").await.unwrap().is_some());
    assert!(b.records().get("c", "only-in-a").await.unwrap().is_none());

    // Readers and the writer share the database while writes are in flight.
    let mut tasks = Vec::new();
    for t in 0..8 {
        let a = a.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..50 {
                let mut batch = Batch::new();
                batch.put("load", &format!("t{t}-{i:03}"), json!(i));
                a.commit(batch).await.unwrap();
                let seen = a
                    .records()
                    .scan("load", &Scan::prefix(format!("t{t}-")))
                    .await
                    .unwrap();
                assert_eq!(seen.len(), i + 1);
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(a.records().count("load", "").await.unwrap(), 400);
}

#[test]
fn opening_futures_are_send() {
    fn assert_send<T: Send>(_: &T) {}
    let dir = tempfile::tempdir().unwrap();
    let file = berth_state_sqlite::open(dir.path().join("send.db"), OpenOptions::default());
    assert_send(&file);
    let stats =
        berth_state_sqlite::open_with_stats(dir.path().join("send.db"), OpenOptions::default());
    assert_send(&stats);
    let memory = berth_state_sqlite::open_in_memory(OpenOptions::default());
    assert_send(&memory);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_file_is_stamped_as_berth_schema_2_in_wal_mode() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stamp.db");
    let store = berth_state_sqlite::open(&path, OpenOptions::default())
        .await
        .unwrap();
    drop(store);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let pragma = |name: &str| -> i64 {
        conn.query_row(&format!("PRAGMA {name}"), [], |r| r.get(0))
            .unwrap()
    };
    assert_eq!(pragma("user_version"), 2);
    assert_eq!(pragma("application_id"), 0x6265_7274);
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let without_rowid: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND sql LIKE '%WITHOUT ROWID%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(without_rowid, 9, "every table is clustered on its key");
    drop(conn);
    // Reopening a current file changes nothing in its schema.
    let store = berth_state_sqlite::open(&path, OpenOptions::default())
        .await
        .unwrap();
    drop(store);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schema_1_file_gains_sessions_and_keeps_its_leases() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v1.db");
    let ttl = std::time::Duration::from_secs(35);
    let store = berth_state_sqlite::open(&path, OpenOptions::default())
        .await
        .unwrap();
    let first = store
        .leases()
        .acquire("a:1", &["g:1".into()], ttl)
        .await
        .unwrap();
    store.leases().release("a:1", "g:1").await.unwrap();
    drop(store);
    // Turn it back into exactly what schema 1 wrote.
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "DROP TABLE sessions; ALTER TABLE leases DROP COLUMN session; PRAGMA user_version = 1;",
    )
    .unwrap();
    drop(conn);
    let store = berth_state_sqlite::open(&path, OpenOptions::default())
        .await
        .unwrap();
    let s = store.sessions().open("b:1", ttl).await.unwrap();
    let again = store
        .sessions()
        .acquire(s.id, &["g:1".into()])
        .await
        .unwrap();
    assert!(
        again[0].token > first[0].token,
        "tokens continue across the upgrade"
    );
}
