//! Cluster sharding: runner addresses and entries, shard ids, the runner registry and shard
//! leases ([`RunnerStorage`]), weighted rendezvous [`assignment`], and the [`ShardKeeper`] that
//! keeps a runner's shards.

mod address;
pub mod assignment;
mod hash;
mod keeper;
mod lease;
mod runner;
mod service;
mod shard;

pub use address::{AddressError, RunnerAddress};
pub use hash::stable_hash;
pub use keeper::{
    HeldShard, HeldShards, KeeperConfig, KeeperState, LossReason, ShardEvent, ShardKeeper,
};
pub use lease::ShardLease;
pub use runner::{RegisteredRunner, Runner};
pub use service::{RunnerStorage, DEFAULT_TTL};
pub use shard::{ShardId, ShardIdError, DEFAULT_GROUP, DEFAULT_SHARDS_PER_GROUP};
