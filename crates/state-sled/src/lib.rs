//! berth-state-sled: every berth contract on one embedded, persistent [sled] database.
//!
//! One directory holds one database. Records of every collection share one tree keyed by
//! collection, NUL, key, so scans by prefix, cursor and direction are ordered sled ranges.
//! Leases, runners and counters have trees of their own, and a batch (fences included) is
//! one sled transaction over the records and leases trees. With
//! [`Durability::Immediate`](berth_core::Durability) (the default) a write is flushed and
//! `fsync`ed before it is acknowledged; `Relaxed` leaves it to sled's flush every 500 ms.
//!
//! sled locks its directory: one process at a time. Within a process, every [`open`] of the
//! same directory shares one database; the directory is closed (and can be opened by another
//! process) once every [`Store`] clone is dropped. Pack runs use berth-core's generic stores.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> berth_core::Result<()> {
//! use berth_core::{Batch, OpenOptions, Precondition};
//! let dir = tempfile::tempdir().map_err(|e| berth_core::Error::backend("tempdir", false, e))?;
//! let store = berth_state_sled::open(dir.path().join("state"), OpenOptions::default()).await?;
//! let mut batch = Batch::new();
//! batch.put("jobs", "j1", serde_json::json!({"state": "queued"})).when(Precondition::Absent);
//! store.commit(batch).await?;
//! drop(store);
//!
//! let reopened = berth_state_sled::open(dir.path().join("state"), OpenOptions::default()).await?;
//! assert_eq!(reopened.records().get("jobs", "j1").await?.map(|r| r.version), Some(1));
//! # Ok(()) }
//! ```
//!
//! [sled]: https://docs.rs/sled/0.34

mod blocking;
mod commit;
mod database;
mod encoding;
mod errors;
mod layout;
mod leases;
mod open;
mod records;
mod registry;
mod runners;
mod sessions;

pub use leases::SledLeases;
pub use records::SledRecords;
pub use sessions::SledSessions;

use berth_core::{Capabilities, OpenOptions, Result, Store};
use std::path::Path;
use std::sync::Arc;

/// What the sled backend declares: persistent and atomic, but one process at a time, and
/// pack runs over generic records.
pub const CAPABILITIES: Capabilities = Capabilities::new(true, true, false, false);

/// Opens the sled database in directory `path`, creating it if the path is missing or an
/// empty directory.
///
/// Errors, all before anything at `path` is modified:
/// - [`Error::Corrupt`](berth_core::Error::Corrupt): `path` is a file, a non-empty directory
///   that is not a sled database, a sled database not written by berth, or one whose
///   configuration or data fails sled's checks.
/// - [`Error::Backend`](berth_core::Error::Backend) with `is_retryable() == false`: another
///   process holds the directory (sled's exclusive lock); returned at once, never waited on.
///
/// A second `open` of the same directory in the same process shares the first one's database
/// (each handle keeps its own clock and durability).
///
/// [`OpenOptions::read_only`]: a missing or empty directory is
/// [`Error::NotFound`](berth_core::Error::NotFound) and nothing is created; otherwise the
/// directory is opened as usual (sled has no read-only mode, takes its exclusive lock, and does
/// not refuse writes).
pub async fn open(path: impl AsRef<Path>, options: OpenOptions) -> Result<Store> {
    // sled has no read-only mode (it locks its directory for one process), so a read-only
    // open only refuses to create a database; see docs/backends.md.
    let db = open::open_database(path.as_ref().to_path_buf(), options.is_read_only()).await?;
    let records = Arc::new(SledRecords::new(
        db.clone(),
        options.clock.clone(),
        options.durability,
    ));
    let leases = Arc::new(SledLeases::new(
        db.clone(),
        options.clock.clone(),
        options.durability,
    ));
    let sessions = Arc::new(SledSessions::new(db, &options));
    Ok(
        Store::builder("sled", records, leases, CAPABILITIES, options)
            .sessions(sessions)
            .build(),
    )
}
