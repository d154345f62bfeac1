//! The whole conformance suite on the memory backend.

use async_trait::async_trait;
use berth_core::{OpenOptions, Result, Store};
use berth_testkit::{Backend, Location};

struct Memory;
struct MemoryLocation;

#[async_trait]
impl Backend for Memory {
    async fn create(&self) -> Box<dyn Location> {
        Box::new(MemoryLocation)
    }
}

#[async_trait]
impl Location for MemoryLocation {
    async fn open(&self, options: OpenOptions) -> Result<Store> {
        Ok(berth_state_memory::open(options))
    }
}

berth_testkit::conformance_tests!(Memory);
