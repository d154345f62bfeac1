//! [`HeldShards`]: the set a keeper publishes.

use super::event::KeeperState;
use crate::sharding::shard::ShardId;
use berth_core::MachineId;
use std::collections::BTreeMap;
use tokio::time::Instant;

/// One shard a keeper holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeldShard {
    /// The grant's fencing token; guard writes with it.
    pub token: u64,
    /// When the keeper started to hold it.
    pub since: Instant,
    /// When the keeper stops believing in it unless a refresh succeeds first: the start of the
    /// last successful acquire or refresh, plus the TTL, minus the safety margin. The lease
    /// cannot lapse in the store before this instant.
    pub valid_until: Instant,
}

impl HeldShard {
    /// Whether the lease is still certainly held at `t`.
    pub fn is_valid_at(&self, t: Instant) -> bool {
        t < self.valid_until
    }
}

/// The shards a keeper holds, as published on its `watch` channel.
///
/// Holding is also bounded by time: [`is_held`](Self::is_held) and [`token`](Self::token)
/// answer `false`/`None` once a shard's `valid_until` has passed, even if the keeper has not
/// yet published its loss (for example because the process was paused).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeldShards {
    pub(crate) shards: BTreeMap<ShardId, HeldShard>,
    pub(crate) state: KeeperState,
    pub(crate) machine_id: Option<MachineId>,
    pub(crate) rounds: u64,
}

impl HeldShards {
    /// Whether `shard` is held right now.
    pub fn is_held(&self, shard: &ShardId) -> bool {
        self.token(shard).is_some()
    }

    /// The fencing token of `shard` if it is held right now.
    pub fn token(&self, shard: &ShardId) -> Option<u64> {
        let now = Instant::now();
        self.shards
            .get(shard)
            .filter(|h| h.is_valid_at(now))
            .map(|h| h.token)
    }

    /// The entry of `shard` as published, without looking at the time.
    pub fn get(&self, shard: &ShardId) -> Option<&HeldShard> {
        self.shards.get(shard)
    }

    /// Every published shard, ordered, without looking at the time.
    pub fn iter(&self) -> impl Iterator<Item = (&ShardId, &HeldShard)> {
        self.shards.iter()
    }

    /// Number of published shards.
    pub fn len(&self) -> usize {
        self.shards.len()
    }

    /// Whether none is published.
    pub fn is_empty(&self) -> bool {
        self.shards.is_empty()
    }

    /// What the keeper is doing.
    pub fn state(&self) -> KeeperState {
        self.state
    }

    /// The runner's machine id once registered.
    pub fn machine_id(&self) -> Option<MachineId> {
        self.machine_id
    }

    /// Completed rounds since the keeper started.
    pub fn rounds(&self) -> u64 {
        self.rounds
    }
}
