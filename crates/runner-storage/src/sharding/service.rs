//! [`RunnerStorage`]: the typed runner registry and shard leases over [`LeaseStore`].

use crate::sharding::address::RunnerAddress;
use crate::sharding::lease::ShardLease;
use crate::sharding::runner::{RegisteredRunner, Runner};
use crate::sharding::shard::ShardId;
use berth_core::{LeaseStore, MachineId, Result, Store};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;

/// Lease time-to-live unless configured otherwise.
pub const DEFAULT_TTL: Duration = Duration::from_secs(35);

/// The typed runner storage: registry, health, and shard leases with fencing tokens.
///
/// A thin, stateless layer over any backend's [`LeaseStore`]: it converts typed values to the
/// store's strings and back, and passes the configured TTL to every acquire and refresh. Cheap
/// to clone. It does not keep leases alive; that is the [`ShardKeeper`](crate::ShardKeeper)'s
/// job.
#[derive(Clone)]
pub struct RunnerStorage {
    leases: Arc<dyn LeaseStore>,
    ttl: Duration,
}

impl fmt::Debug for RunnerStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunnerStorage")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

fn shard_names<'a>(shards: impl IntoIterator<Item = &'a ShardId>) -> Vec<String> {
    shards.into_iter().map(ToString::to_string).collect()
}

fn typed(leases: Vec<berth_core::Lease>) -> Result<Vec<ShardLease>> {
    leases.into_iter().map(ShardLease::try_from).collect()
}

impl RunnerStorage {
    /// Runner storage over `leases` with the default TTL (35 s).
    pub fn new(leases: Arc<dyn LeaseStore>) -> Self {
        RunnerStorage {
            leases,
            ttl: DEFAULT_TTL,
        }
    }

    /// Runner storage over the leases of `store`.
    pub fn from_store(store: &Store) -> Self {
        RunnerStorage::new(store.leases().clone())
    }

    /// This storage with leases lasting `ttl` after each acquire or refresh.
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// The lease time-to-live.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The underlying lease store.
    pub fn lease_store(&self) -> &Arc<dyn LeaseStore> {
        &self.leases
    }

    /// Registers `runner`; registering the same address again keeps its machine id and
    /// replaces its description and health.
    pub async fn register(&self, runner: &Runner, healthy: bool) -> Result<MachineId> {
        let address = runner.address().to_string();
        let span = tracing::debug_span!("runner_storage.register", %address, healthy);
        self.leases
            .register(&address, &runner.encode(), healthy)
            .instrument(span)
            .await
    }

    /// Removes the runner at `address` (nothing happens if it is not registered).
    pub async fn unregister(&self, address: &RunnerAddress) -> Result<()> {
        let address = address.to_string();
        let span = tracing::debug_span!("runner_storage.unregister", %address);
        self.leases.unregister(&address).instrument(span).await
    }

    /// Every registered runner with its health and machine id, ordered by address.
    ///
    /// An entry that does not decode as a [`Runner`] (written by something else, or whose
    /// address disagrees with its key) is skipped with a warning rather than failing the
    /// whole list, so one bad entry cannot stop every keeper from assigning shards.
    pub async fn runners(&self) -> Result<Vec<RegisteredRunner>> {
        let span = tracing::debug_span!("runner_storage.runners");
        let entries = self.leases.runners().instrument(span).await?;
        let mut out = Vec::with_capacity(entries.len());
        for entry in entries {
            match Runner::decode(&entry.runner) {
                Ok(runner) if runner.address().to_string() == entry.address => {
                    out.push(RegisteredRunner {
                        runner,
                        healthy: entry.healthy,
                        machine_id: entry.machine_id,
                    })
                }
                Ok(_) => {
                    tracing::warn!(address = %entry.address, "registry entry names another address; skipped")
                }
                Err(e) => {
                    tracing::warn!(address = %entry.address, error = %e, "undecodable registry entry; skipped")
                }
            }
        }
        Ok(out)
    }

    /// Marks the runner at `address` healthy or not; [`NotFound`](berth_core::Error::NotFound) if not registered.
    pub async fn set_runner_health(&self, address: &RunnerAddress, healthy: bool) -> Result<()> {
        let address = address.to_string();
        let span = tracing::debug_span!("runner_storage.set_health", %address, healthy);
        self.leases
            .set_health(&address, healthy)
            .instrument(span)
            .await
    }

    /// Takes every shard of `shards` that is free, lapsed or already held by `address`, and
    /// returns exactly those it now holds (partial success is normal). A new grant carries a
    /// new, greater fencing token; a shard already held keeps its token and is extended.
    pub async fn acquire<'a>(
        &self,
        address: &RunnerAddress,
        shards: impl IntoIterator<Item = &'a ShardId>,
    ) -> Result<Vec<ShardLease>> {
        let owner = address.to_string();
        let shards = shard_names(shards);
        if shards.is_empty() {
            return Ok(Vec::new());
        }
        let span = tracing::debug_span!("runner_storage.acquire", %owner, shards = shards.len());
        typed(
            self.leases
                .acquire(&owner, &shards, self.ttl)
                .instrument(span)
                .await?,
        )
    }

    /// Extends the shards of `shards` that `address` still holds and returns them; the others
    /// are no longer held and must not be acted on.
    pub async fn refresh<'a>(
        &self,
        address: &RunnerAddress,
        shards: impl IntoIterator<Item = &'a ShardId>,
    ) -> Result<Vec<ShardLease>> {
        let owner = address.to_string();
        let shards = shard_names(shards);
        if shards.is_empty() {
            return Ok(Vec::new());
        }
        let span = tracing::debug_span!("runner_storage.refresh", %owner, shards = shards.len());
        typed(
            self.leases
                .refresh(&owner, &shards, self.ttl)
                .instrument(span)
                .await?,
        )
    }

    /// Releases `shard` if `address` holds it.
    pub async fn release(&self, address: &RunnerAddress, shard: &ShardId) -> Result<()> {
        let (owner, shard) = (address.to_string(), shard.to_string());
        let span = tracing::debug_span!("runner_storage.release", %owner, %shard);
        self.leases.release(&owner, &shard).instrument(span).await
    }

    /// Releases every shard `address` holds.
    pub async fn release_all(&self, address: &RunnerAddress) -> Result<()> {
        let owner = address.to_string();
        let span = tracing::debug_span!("runner_storage.release_all", %owner);
        self.leases.release_all(&owner).instrument(span).await
    }

    /// The current lease of `shard`, if it is held.
    pub async fn lease(&self, shard: &ShardId) -> Result<Option<ShardLease>> {
        let name = shard.to_string();
        let span = tracing::trace_span!("runner_storage.lease", shard = %name);
        self.leases
            .lease(&name)
            .instrument(span)
            .await?
            .map(ShardLease::try_from)
            .transpose()
    }

    /// Every lease `address` holds, ordered by shard id string.
    pub async fn held_by(&self, address: &RunnerAddress) -> Result<Vec<ShardLease>> {
        let owner = address.to_string();
        let span = tracing::trace_span!("runner_storage.held_by", %owner);
        typed(self.leases.held_by(&owner).instrument(span).await?)
    }
}
