//! One open sled database: its trees and how a write is made durable.

use crate::errors::from_sled;
use berth_core::{Durability, Error, Result};
use std::fs::File;

/// Tree of every record, keyed by collection, NUL, key.
pub(crate) const RECORDS: &str = "berth.records";
/// Tree of shard leases, keyed by shard id.
pub(crate) const LEASES: &str = "berth.leases";
/// Tree of sessions, keyed by the session id's 16 bytes.
pub(crate) const SESSIONS: &str = "berth.sessions";
/// Tree of registered runners, keyed by address.
pub(crate) const RUNNERS: &str = "berth.runners";
/// Tree of format marker and counters.
pub(crate) const META: &str = "berth.meta";
/// Meta key of the format marker.
pub(crate) const FORMAT_KEY: &[u8] = b"format";
/// The format marker of this layout.
pub(crate) const FORMAT: &[u8] = b"berth-sled/1";
/// Meta key of the last machine id handed out.
pub(crate) const LAST_MACHINE_ID: &[u8] = b"last_machine_id";

/// An open database: berth's trees in one sled `Db`.
pub(crate) struct Database {
    pub db: sled::Db,
    pub records: sled::Tree,
    pub leases: sled::Tree,
    pub sessions: sled::Tree,
    pub runners: sled::Tree,
    pub meta: sled::Tree,
    /// A second descriptor on sled's data file, used only to `fsync` it.
    data_file: File,
}

impl Database {
    /// Opens berth's trees in `db`.
    pub fn new(db: sled::Db, data_file: File) -> Result<Self> {
        let tree = |name: &str| db.open_tree(name).map_err(from_sled);
        Ok(Database {
            records: tree(RECORDS)?,
            leases: tree(LEASES)?,
            sessions: tree(SESSIONS)?,
            runners: tree(RUNNERS)?,
            meta: tree(META)?,
            db,
            data_file,
        })
    }

    /// Makes everything written so far durable, as `durability` asks.
    ///
    /// `Immediate`: sled's `flush` writes its log buffers (on Linux it waits with
    /// `sync_file_range`, which neither flushes the drive's cache nor the file's metadata),
    /// then an `fsync` of the data file makes the write survive a power loss too.
    /// `Relaxed`: nothing here; sled's background thread flushes every 500 ms.
    pub fn sync(&self, durability: Durability) -> Result<()> {
        match durability {
            Durability::Relaxed => Ok(()),
            Durability::Immediate => {
                let _span = tracing::trace_span!("sled flush").entered();
                self.db.flush().map_err(from_sled)?;
                self.data_file
                    .sync_all()
                    .map_err(|e| Error::backend("fsync of sled data file failed", true, e))
            }
        }
    }
}
