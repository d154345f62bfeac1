//! berth-state-mongo: the MongoDB backend of berth, for state shared by many hosts.
//!
//! When one machine is outgrown, runners on many hosts share leases, checkpoints and pack runs
//! through one MongoDB replica set. This crate implements every berth contract on it with the
//! official `mongodb` driver:
//!
//! - records of every berth collection in one MongoDB collection keyed by `(c, k)` with a
//!   unique index, so dynamic names like `workers:<project>` cost nothing; ordered scans by key
//!   bytes served by that index; values over 4 MiB split into chunk documents (see
//!   `records/layout.rs`) so 16 MiB JSON values fit under BSON's 16 MiB document limit;
//! - batches of more than one op in a transaction (a standalone server gets
//!   [`Unsupported`](berth_core::Error::Unsupported) saying a replica set is required; single
//!   ops still work there);
//! - shard leases judged by the server's clock (`$$NOW`), fencing tokens that never go back,
//!   machine ids from an atomic counter;
//! - native pack-run collections `pack_runs`, `pack_run_logs`, `pack_artifacts`,
//!   `pack_run_approvals` (seed 002), names configurable;
//! - [`schema`]: the one definition of every collection and index, shared with `berth-migrate`.
//!
//! Opening checks that the baseline migration is applied and otherwise fails with an error
//! naming `berth-migrate up`; [`MongoConfig::auto_migrate`] applies it instead.
//!
//! ```no_run
//! # async fn demo() -> berth_core::Result<()> {
//! use berth_core::{Batch, OpenOptions, Precondition};
//! use berth_state_mongo::MongoConfig;
//!
//! let config = MongoConfig::new("mongodb://127.0.0.1:27017/berth").auto_migrate(true);
//! let store = berth_state_mongo::open(config, OpenOptions::default()).await?;
//! let mut batch = Batch::new();
//! batch.put("jobs", "j1", serde_json::json!({"state": "queued"})).when(Precondition::Absent);
//! batch.put("jobs:index", "queued:j1", serde_json::Value::Null);
//! store.commit(batch).await?; // two ops: one transaction
//! assert!(store.capabilities().shared);
//! # Ok(()) }
//! ```

mod bson_json;
mod config;
mod errors;
mod lease_store;
mod leases;
pub mod migrate;
mod packrun;
mod records;
mod runners;
pub mod schema;
mod server;
mod session_docs;
mod sessions;
mod shared;

pub use config::{LeaseClock, MongoConfig, Transactions, DEFAULT_DATABASE};
pub use lease_store::MongoLeases;
pub use packrun::{MongoApprovals, MongoArtifacts, MongoLogs, MongoRuns};
pub use records::MongoRecords;
pub use server::ServerInfo;
pub use sessions::MongoSessions;

use crate::errors::ctx;
use berth_core::{Capabilities, Durability, Error, OpenOptions, Result, Store};
use mongodb::options::{Acknowledgment, ClientOptions, WriteConcern};
use mongodb::Client;
use shared::Shared;
use std::sync::Arc;
use tracing::Instrument;

/// Maps an error of the `mongodb` driver met while doing `what` to berth's [`Error`]: a
/// duplicate key (code 11000, in every form the driver reports it) is a
/// [`Conflict`](Error::Conflict); network, election, write-conflict and transient transaction
/// errors are retryable [`Backend`](Error::Backend) errors; anything else is a non-retryable one.
pub fn map_driver_error(what: &str, e: mongodb::error::Error) -> Error {
    errors::map(what, e)
}

/// What the backend declares, given what the server can do.
pub fn capabilities(server: ServerInfo) -> Capabilities {
    Capabilities::new(true, server.transactions, true, true)
}

/// Opens the store described by `config`.
pub async fn open(config: MongoConfig, options: OpenOptions) -> Result<Store> {
    let span = tracing::debug_span!("mongo.open", database = ?config.database);
    open_inner(config, options).instrument(span).await
}

async fn open_inner(config: MongoConfig, options: OpenOptions) -> Result<Store> {
    let url = config.connection_string.expose();
    let mut client_options = ClientOptions::parse(url).await.map_err(|e| {
        Error::invalid(
            "mongodb connection string",
            berth_core::scrub_secret(&e.to_string(), url),
        )
    })?;
    if client_options.app_name.is_none() {
        client_options.app_name = Some("berth".into());
    }
    if client_options.write_concern.is_none() {
        client_options.write_concern = Some(write_concern(options.durability));
    }
    if client_options.server_selection_timeout.is_none() {
        client_options.server_selection_timeout = Some(config.op_timeout);
    }
    let database = config
        .database
        .clone()
        .or_else(|| client_options.default_database.clone())
        .unwrap_or_else(|| DEFAULT_DATABASE.to_owned());
    let client = Client::with_options(client_options).map_err(ctx("connect"))?;
    let server = ServerInfo::detect(&client, config.transactions).await?;
    let db = client.database(&database);
    // A read-only open never migrates (a missing or older schema is refused as usual).
    if config.auto_migrate && !options.is_read_only() {
        if !migrate::is_applied(&db, &config.collections, schema::BASELINE).await? {
            migrate::apply_baseline(&db, &config.collections, schema::BASELINE).await?;
        }
    } else {
        migrate::require(&db, &config.collections, schema::BASELINE).await?;
    }
    tracing::debug!(
        database,
        transactions = server.transactions,
        "opened mongodb store"
    );
    let shared = Shared {
        client,
        db,
        names: config.collections.clone(),
        server,
        clock: options.clock.clone(),
        lease_clock: config.lease_clock,
        op_timeout: config.op_timeout,
    };
    let records = Arc::new(MongoRecords::new(shared.clone()));
    let leases = Arc::new(MongoLeases::new(shared.clone()));
    let sessions = Arc::new(MongoSessions::new(shared.clone(), options.ids.clone()));
    Ok(
        Store::builder("mongo", records, leases, capabilities(server), options)
            .sessions(sessions)
            .pack_runs(
                Arc::new(MongoRuns::new(shared.clone())),
                Arc::new(MongoLogs::new(shared.clone())),
                Arc::new(MongoArtifacts::new(shared.clone())),
                Arc::new(MongoApprovals::new(shared)),
            )
            .build(),
    )
}

/// The write concern of a durability setting (when the connection string names none):
/// `Immediate` waits for a journaled majority, `Relaxed` for the primary's memory.
fn write_concern(durability: Durability) -> WriteConcern {
    match durability {
        Durability::Immediate => WriteConcern::builder()
            .w(Acknowledgment::Majority)
            .journal(true)
            .build(),
        Durability::Relaxed => WriteConcern::builder()
            .w(Acknowledgment::Nodes(1))
            .journal(false)
            .build(),
    }
}

/// Opens `url` (`mongodb://…`) with every default: server lease clock, no auto-migration.
pub async fn open_url(url: &str, options: OpenOptions) -> Result<Store> {
    open(MongoConfig::new(url), options).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durability_maps_to_write_concern() {
        let immediate = write_concern(Durability::Immediate);
        assert_eq!(immediate.w, Some(Acknowledgment::Majority));
        assert_eq!(immediate.journal, Some(true));
        let relaxed = write_concern(Durability::Relaxed);
        assert_eq!(relaxed.w, Some(Acknowledgment::Nodes(1)));
        assert_eq!(relaxed.journal, Some(false));
        assert!(
            capabilities(ServerInfo {
                transactions: false
            })
            .persistent
        );
        assert!(
            !capabilities(ServerInfo {
                transactions: false
            })
            .atomic_batches
        );
    }
}
