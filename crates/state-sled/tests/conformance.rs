//! The whole conformance suite on the sled backend, each test in its own temporary directory.

use async_trait::async_trait;
use berth_core::{OpenOptions, Result, Store};
use berth_testkit::{Backend, Location};
use tempfile::TempDir;

struct Sled;

/// A temporary directory; the database lives in a subdirectory sled creates on first open.
struct SledLocation {
    dir: TempDir,
}

#[async_trait]
impl Backend for Sled {
    async fn create(&self) -> Box<dyn Location> {
        Box::new(SledLocation {
            dir: tempfile::tempdir().expect("temporary directory"),
        })
    }
}

#[async_trait]
impl Location for SledLocation {
    async fn open(&self, options: OpenOptions) -> Result<Store> {
        berth_state_sled::open(self.dir.path().join("db"), options).await
    }
}

berth_testkit::conformance_tests!(Sled);
