//! The whole berth conformance suite against the MongoDB test server, a database per test.
//!
//! The suite drives lease expiry with a manual clock, so it runs with
//! [`LeaseClock::Injected`]; the server clock (the default) is tested in `leases_server_clock.rs`.

mod common;

use async_trait::async_trait;
use berth_core::{OpenOptions, Result, Store};
use berth_state_mongo::LeaseClock;
use berth_testkit::{Backend, Location};
use common::TestDb;

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
}

berth_testkit::conformance_tests!(Mongo);
