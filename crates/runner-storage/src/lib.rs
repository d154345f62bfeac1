//! berth-runner-storage: runners, shard leases kept alive, and shard assignment, with no
//! split brain.
//!
//! Cluster sharding needs every entity to run on exactly one runner. This crate gives:
//!
//! - typed values: [`RunnerAddress`] (`host:port`), [`Runner`] (address, shard groups,
//!   weight), [`ShardId`] (`group:n`) with [`ShardId::for_entity`], and [`MachineId`];
//! - [`RunnerStorage`]: the registry (register, unregister, runners with health, set health)
//!   and shard leases with fencing tokens (acquire, refresh, release, release all) over any
//!   backend's [`LeaseStore`](berth_core::LeaseStore);
//! - [`assignment`]: weighted rendezvous hashing of each group's shards onto healthy runners;
//! - [`ShardKeeper`]: a task per runner that keeps its assigned shards, and that stops
//!   believing in a shard before its lease can lapse when storage fails or hangs;
//! - [`workers`]: the worker registry of seed 000 ([`WorkerRegistry`]:
//!   `update_unit_registrations` over workers, service accounts, API keys and registrations);
//! - [`InstanceSecrets`]: an instance's secrets changed in one batch under its lock;
//! - [`KeyLock`]: keyed locks for those services, in process or lease-backed across processes
//!   ([`LockMode`], [`LeaseKeyLock`]), and a [`StateObserver`] that sees their batches and log
//!   lines (for audit and replayable traces).
//!
//! A shard keeper narrows the window in which two runners act on one shard to nothing on its
//! side; the fencing token closes it on the storage side: put the token of the lease in a
//! [`Fence`](berth_core::Precondition::Fence) precondition and the store rejects the write once
//! another runner has taken the shard.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use berth_core::{Batch, ErrorKind, OpenOptions};
//! use berth_runner_storage::{Runner, RunnerStorage, ShardId};
//!
//! let store = berth_state_memory::open(OpenOptions::default());
//! let storage = RunnerStorage::from_store(&store);
//! let runner = Runner::new("10.0.0.1:34431".parse()?);
//! storage.register(&runner, true).await?;
//!
//! // The entity's shard, and its lease.
//! let shard = ShardId::for_entity("default", "order-1017", 300)?;
//! let lease = storage.acquire(runner.address(), [&shard]).await?.remove(0);
//!
//! // A write that applies only while this grant of the shard is held.
//! let mut batch = Batch::new();
//! batch.put("orders", "order-1017", serde_json::json!({"state": "paid"})).when(lease.fence());
//! store.commit(batch.clone()).await?;
//!
//! // Once released (or taken over), the same fenced write is refused.
//! storage.release(runner.address(), &shard).await?;
//! let refused = store.commit(batch).await.unwrap_err();
//! assert_eq!(refused.kind(), ErrorKind::StaleFence);
//! # Ok(()) }
//! ```

mod locks;
mod observer;
mod secrets;
mod sharding;
mod staging;
pub mod workers;

pub use berth_core::MachineId;
pub use locks::{
    lease_name, HeldKeys, InProcessLock, KeyLock, LeaseKeyLock, LeaseLockConfig, LockGuard,
    LockMode,
};
pub use observer::{NoObserver, StagedKind, StateObserver};
pub use secrets::{instance_lock, secrets_collection, InstanceSecrets, Secret, SecretChanges};
pub use sharding::{
    assignment, stable_hash, AddressError, HeldShard, HeldShards, KeeperConfig, KeeperState,
    LossReason, RegisteredRunner, Runner, RunnerAddress, RunnerStorage, ShardEvent, ShardId,
    ShardIdError, ShardKeeper, ShardLease, DEFAULT_GROUP, DEFAULT_SHARDS_PER_GROUP, DEFAULT_TTL,
};
pub use workers::{UnitWorker, WorkerManager, WorkerRegistry};
