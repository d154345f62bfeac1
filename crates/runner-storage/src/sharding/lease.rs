//! [`ShardLease`]: a shard lease in typed form.

use crate::sharding::address::RunnerAddress;
use crate::sharding::shard::ShardId;
use berth_core::{Error, Lease, Precondition, Timestamp};

/// A lease on one shard, held by one runner, with the fencing token of its grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardLease {
    /// The shard.
    pub shard: ShardId,
    /// The runner holding it.
    pub owner: RunnerAddress,
    /// The grant's fencing token: greater than every earlier grant's token of this shard.
    pub token: u64,
    /// When the store lets the lease lapse unless it is refreshed (the store's clock).
    pub expires_at: Timestamp,
}

impl ShardLease {
    /// The batch precondition that holds only while this grant is still held.
    pub fn fence(&self) -> Precondition {
        Precondition::Fence {
            shard: self.shard.to_string(),
            token: self.token,
        }
    }
}

impl TryFrom<Lease> for ShardLease {
    type Error = Error;

    fn try_from(l: Lease) -> Result<Self, Error> {
        let corrupt = |what: &str, e: &dyn std::fmt::Display| {
            Error::Corrupt(format!("lease store returned {what}: {e}"))
        };
        Ok(ShardLease {
            shard: l.shard.parse().map_err(|e| corrupt("a bad shard id", &e))?,
            owner: l.owner.parse().map_err(|e| corrupt("a bad owner", &e))?,
            token: l.token,
            expires_at: l.expires_at,
        })
    }
}
