//! The whole conformance suite on SQLite, each test on a fresh file in a temporary directory.

use async_trait::async_trait;
use berth_core::{Error, OpenOptions, Result, Store};
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

    /// Truncates the run's JSON on the file, through a connection of its own.
    async fn damage_run(&self, _store: &Store, id: &str) -> Result<()> {
        let conn = rusqlite::Connection::open(self.dir.path().join("berth.db"))
            .map_err(|e| Error::backend_msg(e.to_string(), false))?;
        let changed = conn
            .busy_timeout(std::time::Duration::from_secs(10))
            .and_then(|()| {
                conn.execute(
                    "UPDATE pack_runs SET doc = '{\"id\": \"' || id || '\", \"planHa' WHERE id = ?1",
                    [id],
                )
            })
            .map_err(|e| Error::backend_msg(e.to_string(), false))?;
        assert_eq!(changed, 1, "run {id} to damage");
        Ok(())
    }
}

berth_testkit::conformance_tests!(Sqlite);
