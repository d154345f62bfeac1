//! berth-state-sqlite: berth's embedded backend, every contract in one SQLite file.
//!
//! Records live in one `WITHOUT ROWID` table keyed by (collection, key); leases, runners
//! and the pack-run records have tables of their own. One writer thread owns the
//! read-write connection and group-commits queued requests (each in its own savepoint, one
//! transaction and one WAL sync per group); reads run on a pool of read-only connections
//! and never wait for the writer. Several processes can share a file: SQLite's locks
//! serialise their writers, and leases exclude across them.
//!
//! [`Durability::Immediate`](berth_core::Durability) (the default) syncs every commit group
//! (`synchronous=FULL`); `Relaxed` leaves syncing to checkpoints (`synchronous=NORMAL`).
//! Dropping every clone of the [`Store`](berth_core::Store) closes the database.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> berth_core::Result<()> {
//! use berth_core::{Batch, OpenOptions, Precondition};
//! use std::time::Duration;
//!
//! let dir = std::env::temp_dir().join(format!("berth-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&dir).ok();
//! let store = berth_state_sqlite::open(dir.join("state.db"), OpenOptions::default()).await?;
//!
//! let mut batch = Batch::new();
//! batch.put("jobs", "j1", serde_json::json!({"state": "queued"})).when(Precondition::Absent);
//! store.commit(batch).await?;
//! assert_eq!(store.records().get("jobs", "j1").await?.map(|r| r.version), Some(1));
//!
//! let held = store.leases().acquire("10.0.0.1:4000", &["default:1".into()], Duration::from_secs(35)).await?;
//! assert_eq!(held.len(), 1);
//! drop(store);
//! std::fs::remove_dir_all(&dir).ok();
//! # Ok(()) }
//! ```

mod commit;
mod connection;
mod db;
mod leases;
mod open;
mod packruns;
mod readers;
mod records;
mod runners;
mod scan;
mod schema;
mod sessions;
mod sql_error;
mod stats;
mod values;
mod writer;

pub use leases::SqliteLeases;
pub use open::{open, open_in_memory, open_with_stats, CAPABILITIES, MEMORY_CAPABILITIES};
pub use packruns::{SqliteApprovals, SqliteArtifacts, SqliteLogs, SqliteRuns};
pub use records::SqliteRecords;
pub use sessions::SqliteSessions;
pub use stats::WriterStats;
