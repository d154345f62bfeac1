//! berth: durable state for job orchestration, behind one handle.
//!
//! Pick a backend by URL at run time; everything else is the same [`Store`]:
//! collections with atomic batches, the runner registry and fenced shard leases,
//! checkpoints, and pack runs. Backends are cargo features:
//!
//! | URL | feature | backend |
//! |---|---|---|
//! | `memory:` or `memory://` | `memory` (default) | in process, nothing persists |
//! | `sqlite:PATH`, `sqlite::memory:` | `sqlite` (default) | embedded SQLite file (WAL), shared by processes |
//! | `sled:PATH` | `sled` | embedded sled directory, one process at a time |
//! | `mongodb://…` | `mongo` | MongoDB replica set shared by many hosts (run `berth-migrate up` first) |
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> berth::Result<()> {
//! use berth::{Batch, Precondition};
//! let store = berth::open("memory://").await?;
//! let mut batch = Batch::new();
//! batch.put("jobs", "j1", serde_json::json!({"state": "queued"})).when(Precondition::Absent);
//! store.commit(batch).await?;
//! assert_eq!(store.records().count("jobs", "").await?, 1);
//! assert_eq!(berth::open("nosuch://x").await.unwrap_err().kind(), berth::ErrorKind::InvalidInput);
//! # Ok(()) }
//! ```

mod url;

pub use berth_core::*;
pub use url::{Location, BACKENDS};

/// Opens the store named by `url` with default options (system clock, UUID v7 ids,
/// immediate durability).
pub async fn open(url: &str) -> Result<Store> {
    open_with(url, OpenOptions::default()).await
}

/// Opens the store named by `url` with `options`.
///
/// An unknown scheme or a malformed URL is [`ErrorKind::InvalidInput`]; a known backend whose
/// cargo feature is not enabled is [`ErrorKind::Unsupported`].
pub async fn open_with(url: &str, options: OpenOptions) -> Result<Store> {
    let location = Location::parse(url)?;
    tracing::debug!(?location, "opening store");
    match location {
        #[cfg(feature = "memory")]
        Location::Memory => Ok(berth_state_memory::open(options)),
        #[cfg(feature = "sqlite")]
        Location::Sqlite(path) => berth_state_sqlite::open(path, options).await,
        #[cfg(feature = "sqlite")]
        Location::SqliteMemory => berth_state_sqlite::open_in_memory(options).await,
        #[cfg(feature = "sled")]
        Location::Sled(path) => berth_state_sled::open(path, options).await,
        #[cfg(feature = "mongo")]
        Location::Mongo(url) => {
            berth_state_mongo::open(
                berth_state_mongo::MongoConfig::new(url.into_inner()),
                options,
            )
            .await
        }
        #[allow(unreachable_patterns)]
        other => {
            let _ = options;
            Err(Error::Unsupported(format!(
                "berth was built without the `{}` feature; enable it to open {}",
                other.feature(),
                redact_url(url)
            )))
        }
    }
}
