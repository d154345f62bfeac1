//! [`ShardKeeper`]: the background task that keeps a runner's shards.

mod config;
mod event;
mod held;
mod task;

pub use config::KeeperConfig;
pub use event::{KeeperState, LossReason, ShardEvent};
pub use held::{HeldShard, HeldShards};

use crate::sharding::address::RunnerAddress;
use crate::sharding::runner::Runner;
use crate::sharding::service::RunnerStorage;
use berth_core::{Error, Result};
use std::collections::BTreeMap;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;
use tracing::Instrument;

/// A running shard keeper for one runner.
///
/// It registers the runner (and registers it again if it was dropped from the registry),
/// and every `refresh_interval` refreshes the shards it holds, releases those assignment
/// moved to other runners and acquires those assigned to it. It publishes what it holds on a
/// `watch` channel ([`held`](Self::held)) and sends [`ShardEvent`]s ([`events`](Self::events)).
///
/// When storage fails or hangs it acquires nothing, keeps refreshing while the leases allow,
/// and declares every shard lost before any of their leases can lapse; once storage answers
/// again it releases everything and starts over. [`shutdown`](Self::shutdown) (or dropping
/// the handle) releases every shard and unregisters the runner.
///
/// One keeper per address at a time: leases are owned by address, so a keeper that starts
/// where an earlier process at the same address left leases (it crashed, or is frozen) does
/// not adopt or release them; it takes those shards only after they lapse, with new tokens.
///
/// Acting on a shard is safe only while [`HeldShards::token`] returns its token, and writes
/// should carry that token as a [`Fence`](berth_core::Precondition::Fence) so that a write
/// delayed past the lease is rejected by the store.
#[derive(Debug)]
pub struct ShardKeeper {
    address: RunnerAddress,
    shutdown: watch::Sender<bool>,
    held: watch::Receiver<HeldShards>,
    events: broadcast::Sender<ShardEvent>,
    first_events: Option<broadcast::Receiver<ShardEvent>>,
    task: JoinHandle<Result<()>>,
}

impl ShardKeeper {
    /// Starts keeping shards for `runner` on the current Tokio runtime.
    ///
    /// Fails with [`InvalidInput`](berth_core::Error::InvalidInput) if `config` cannot keep
    /// leases of the storage's TTL alive, or if no Tokio runtime is running.
    pub fn spawn(storage: RunnerStorage, runner: Runner, config: KeeperConfig) -> Result<Self> {
        config.validate(storage.ttl())?;
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|e| Error::invalid("runtime", format!("no Tokio runtime: {e}")))?;
        let address = runner.address().clone();
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let (held_tx, held_rx) = watch::channel(HeldShards::default());
        let (events_tx, first_events) = broadcast::channel(config.event_capacity);
        let keeper = task::Keeper {
            storage,
            runner,
            config,
            held_tx,
            events: events_tx.clone(),
            shutdown: shutdown_rx,
            held: BTreeMap::new(),
            state: KeeperState::Registering,
            machine_id: None,
            rounds: 0,
            inherited: Default::default(),
            assigned: Default::default(),
            scanned: false,
        };
        let span = tracing::info_span!("shard_keeper", address = %address);
        let task = runtime.spawn(keeper.run().instrument(span));
        Ok(ShardKeeper {
            address,
            shutdown: shutdown_tx,
            held: held_rx,
            events: events_tx,
            first_events: Some(first_events),
            task,
        })
    }

    /// The runner's address.
    pub fn address(&self) -> &RunnerAddress {
        &self.address
    }

    /// The shards held, updated whenever they change and after every round.
    pub fn held(&self) -> watch::Receiver<HeldShards> {
        self.held.clone()
    }

    /// Gained and lost shards. The first call receives every event since the keeper started;
    /// later calls receive events from then on. A receiver that falls more than
    /// `event_capacity` events behind misses some (and is told so); [`held`](Self::held)
    /// always has the current set.
    pub fn events(&mut self) -> broadcast::Receiver<ShardEvent> {
        self.first_events
            .take()
            .unwrap_or_else(|| self.events.subscribe())
    }

    /// Stops the keeper: withdraws every shard, releases them and unregisters the runner.
    /// Returns the error of the release or unregister call, if one failed.
    pub async fn shutdown(self) -> Result<()> {
        // An error means the task has already ended; joining it tells how.
        let _ = self.shutdown.send(true);
        match self.task.await {
            Ok(result) => result,
            Err(e) => Err(Error::backend_msg(
                format!("shard keeper task ended: {e}"),
                false,
            )),
        }
    }
}
