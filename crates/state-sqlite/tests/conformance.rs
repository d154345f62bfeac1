//! The whole conformance suite on SQLite, each test on a fresh file in a temporary directory.

use async_trait::async_trait;
use berth_core::{OpenOptions, Result, Store};
use berth_testkit::{Backend, Location};

struct Sqlite;

/// A database file in its own temporary directory, removed when dropped.
struct SqliteFile {
    dir: tempfile::TempDir,
}

#[async_trait]
impl Backend for Sqlite {
    async fn create(&self) -> Box<dyn Location> {
        let dir = tempfile::tempdir().expect("a temporary directory");
        Box::new(SqliteFile { dir })
    }
}

#[async_trait]
impl Location for SqliteFile {
    async fn open(&self, options: OpenOptions) -> Result<Store> {
        berth_state_sqlite::open(self.dir.path().join("berth.db"), options).await
    }
}

berth_testkit::conformance_tests!(Sqlite);
