//! What a keeper reports: [`ShardEvent`]s, [`LossReason`]s and its [`KeeperState`].

use crate::sharding::shard::ShardId;
use tokio::time::Instant;

/// A change in the shards a keeper holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShardEvent {
    /// The keeper now holds `shard` under `token`.
    Gained {
        /// The shard.
        shard: ShardId,
        /// The grant's fencing token.
        token: u64,
        /// When the keeper started to hold it (taken just before publishing it).
        at: Instant,
    },
    /// The keeper no longer holds `shard`; it was withdrawn from the held set before this
    /// event was sent (and, when released, before the release reached storage).
    Lost {
        /// The shard.
        shard: ShardId,
        /// The token of the grant that ended.
        token: u64,
        /// Why.
        reason: LossReason,
        /// When the keeper stopped holding it: the time it published the loss, or the lease's
        /// `valid_until` if that came first (holding is bounded by it in any case).
        at: Instant,
    },
}

impl ShardEvent {
    /// The shard concerned.
    pub fn shard(&self) -> &ShardId {
        match self {
            ShardEvent::Gained { shard, .. } | ShardEvent::Lost { shard, .. } => shard,
        }
    }
}

/// Why a keeper stopped holding a shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LossReason {
    /// Assignment moved it to another runner; the keeper released it.
    Rebalanced,
    /// A refresh did not return it: it lapsed or another runner holds it now.
    Taken,
    /// Storage calls failed or timed out until its lease could lapse.
    StorageFailure,
    /// The keeper is shutting down.
    Shutdown,
}

/// What a keeper is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum KeeperState {
    /// Registering the runner (at start and after recovering).
    #[default]
    Registering,
    /// Keeping, rebalancing and acquiring shards every round.
    Running,
    /// Storage failed: refreshing what it holds while the leases allow, acquiring nothing.
    Degraded,
    /// Every shard was declared lost; waiting for storage to answer to release all and
    /// start over.
    Probing,
    /// Shut down.
    Stopped,
}
