//! What one Relaxed commit costs in SQLite itself, next to `Store::commit` on the SQLite
//! backend: the same single-record transaction (`BEGIN IMMEDIATE`, insert, `COMMIT`, WAL,
//! `synchronous=NORMAL`) on a bare rusqlite connection on this thread, then through the
//! backend's writer thread, in alternating rounds.
//!
//! `cargo run --release -p berth-benches --example commit_floor`

use berth_core::{Batch, Durability, Error, OpenOptions};
use std::time::Instant;

const ROUNDS: usize = 4;
const PER_ROUND: u32 = 5_000;

fn sql(e: rusqlite::Error) -> Error {
    Error::backend("bare SQLite", false, e)
}

fn main() -> berth_core::Result<()> {
    let dir = tempfile::tempdir().map_err(|e| Error::backend("temp dir", false, e))?;
    let conn = rusqlite::Connection::open(dir.path().join("bare.db")).map_err(sql)?;
    conn.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;
         CREATE TABLE records (collection TEXT NOT NULL, key BLOB NOT NULL, value TEXT NOT NULL,
           version INTEGER NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
           PRIMARY KEY (collection, key)) WITHOUT ROWID;",
    )
    .map_err(sql)?;
    let rt = berth_benches::runtime();
    let options = OpenOptions::default().with_durability(Durability::Relaxed);
    let store = rt.block_on(berth_state_sqlite::open(
        dir.path().join("store.db"),
        options,
    ))?;
    for round in 0..ROUNDS {
        let t = Instant::now();
        for i in 0..PER_ROUND {
            let value = serde_json::json!({"i": i}).to_string();
            let key = format!("k{round}-{i}");
            conn.prepare_cached("BEGIN IMMEDIATE")
                .and_then(|mut s| s.execute([]))
                .map_err(sql)?;
            conn.prepare_cached("INSERT OR IGNORE INTO records VALUES (?1, ?2, ?3, 1, ?4, ?4)")
                .and_then(|mut s| s.execute(rusqlite::params!["c", key.as_bytes(), value, 5i64]))
                .map_err(sql)?;
            conn.prepare_cached("COMMIT")
                .and_then(|mut s| s.execute([]))
                .map_err(sql)?;
        }
        let bare = t.elapsed() / PER_ROUND;
        let t = Instant::now();
        rt.block_on(async {
            for i in 0..PER_ROUND {
                let mut batch = Batch::new();
                batch.put("c", &format!("k{round}-{i}"), serde_json::json!({"i": i}));
                store.commit(batch).await?;
            }
            Ok::<_, Error>(())
        })?;
        let backend = t.elapsed() / PER_ROUND;
        println!("round {round}: bare SQLite transaction {bare:?}, Store::commit {backend:?}");
    }
    Ok(())
}
