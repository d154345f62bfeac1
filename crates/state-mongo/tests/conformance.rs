//! The whole berth conformance suite against the MongoDB test server, a database per test.
//!
//! The suite drives lease expiry with a manual clock, so it runs with
//! [`LeaseClock::Injected`]; the server clock (the default) is tested in `leases_server_clock.rs`.

mod common;

use async_trait::async_trait;
use berth_core::{Error, OpenOptions, Result, Store};
use berth_state_mongo::LeaseClock;
use berth_testkit::{Backend, Location};
use common::TestDb;
use mongodb::bson::{doc, Document};

struct Mongo;

#[async_trait]
impl Backend for Mongo {
    async fn create(&self) -> Box<dyn Location> {
        Box::new(TestDb::new("conf"))
    }
}

#[async_trait]
impl Location for TestDb {
    async fn open(&self, options: OpenOptions) -> Result<Store> {
        TestDb::open(self, LeaseClock::Injected, options).await
    }

    /// Sets a field to a type the run cannot have, through a driver handle of its own.
    async fn damage_run(&self, _store: &Store, id: &str) -> Result<()> {
        let done = self
            .driver()
            .await
            .collection::<Document>("pack_runs")
            .update_one(doc! {"_id": id}, doc! {"$set": {"status": 42}})
            .await
            .map_err(|e| Error::backend_msg(e.to_string(), false))?;
        assert_eq!(done.matched_count, 1, "run {id} to damage");
        Ok(())
    }
}

berth_testkit::conformance_tests!(Mongo);
