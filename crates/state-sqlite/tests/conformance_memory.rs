//! The whole conformance suite on a private in-memory SQLite database (each open is new).

use async_trait::async_trait;
use berth_core::{Error, OpenOptions, Result, Store};
use berth_testkit::{Backend, Location};

struct SqliteMemory;
struct Fresh;

#[async_trait]
impl Backend for SqliteMemory {
    async fn create(&self) -> Box<dyn Location> {
        Box::new(Fresh)
    }
}

#[async_trait]
impl Location for Fresh {
    async fn open(&self, options: OpenOptions) -> Result<Store> {
        berth_state_sqlite::open_in_memory(options).await
    }

    /// A private in-memory database has no name to reach it by; `conformance.rs` plants the
    /// damage in a file instead.
    async fn damage_run(&self, _store: &Store, _id: &str) -> Result<()> {
        Err(Error::Unsupported(
            "a private in-memory database cannot be written from outside".into(),
        ))
    }
}

berth_testkit::conformance_tests!(SqliteMemory);
