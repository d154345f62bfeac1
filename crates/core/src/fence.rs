//! Fences: the claim a write is made under, and the owner that renews it.
//!
//! An owner that holds a shard lease puts its [`Fence`] (shard + token of its grant) on every
//! write it makes for that shard's work. The backend checks it in the same transaction as the
//! write: once another owner has taken the lease, the write fails with
//! [`Error::StaleFence`](crate::Error::StaleFence) and nothing of it is stored.
//!
//! ```
//! use berth_core::{Batch, Fence, OpKind};
//! let fence = Fence::new("packrun:r1", 7);
//! let mut batch = Batch::new();
//! batch.put("jobs", "j1", serde_json::json!({"state": "done"}));
//! batch.fence(&fence);
//! assert_eq!(batch.ops()[1].kind, OpKind::Check);
//! ```

use crate::batch::{Batch, Precondition};
use crate::error::{Error, Result};
use crate::lease::Lease;
use async_trait::async_trait;
use std::future::Future;

/// Collection named by the check op [`Batch::fence`] adds (it writes nothing there).
pub const FENCE_COLLECTION: &str = "leases";

/// A shard lease held with the token of one grant.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Fence {
    /// The shard of the lease.
    pub shard: String,
    /// The token of the grant.
    pub token: u64,
}

impl Fence {
    /// The fence of `shard` held with `token`.
    pub fn new(shard: impl Into<String>, token: u64) -> Self {
        Fence {
            shard: shard.into(),
            token,
        }
    }

    /// The precondition that holds while this grant is current.
    pub fn precondition(&self) -> Precondition {
        Precondition::Fence {
            shard: self.shard.clone(),
            token: self.token,
        }
    }

    /// The error of a write refused because this grant is no longer current.
    pub fn stale(&self) -> Error {
        Error::StaleFence {
            op: 0,
            shard: self.shard.clone(),
            token: self.token,
        }
    }
}

impl From<&Lease> for Fence {
    fn from(lease: &Lease) -> Self {
        Fence::new(lease.shard.clone(), lease.token)
    }
}

impl Batch {
    /// Makes the whole batch conditional on `fence` (a check op that writes nothing).
    pub fn fence(&mut self, fence: &Fence) {
        self.check(FENCE_COLLECTION, &fence.shard, fence.precondition());
    }
}

/// An owner's claim on a shard: the fence its writes carry, renewed after a lapse.
#[async_trait]
pub trait Claim: Send + Sync + std::fmt::Debug {
    /// The fence to put on the next write.
    fn fence(&self) -> Fence;

    /// Called after a write under `stale` came back [`StaleFence`](crate::ErrorKind::StaleFence).
    /// Re-takes the lease if it lapsed and nobody else took it meanwhile, and returns the new
    /// fence; a [`StaleFence`](crate::Error::StaleFence) error if the claim is lost for good.
    async fn renew(&self, stale: &Fence) -> Result<Fence>;
}

/// Runs `write` under `claim`'s fence; when it comes back stale, renews the claim once and
/// tries again (a lapse nobody used is not a loss). Any other error is returned as it is.
pub async fn write_fenced<T, F, Fut>(claim: &dyn Claim, mut write: F) -> Result<T>
where
    F: FnMut(Fence) -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let fence = claim.fence();
    match write(fence.clone()).await {
        Err(Error::StaleFence { .. }) => {
            let renewed = claim.renew(&fence).await?;
            write(renewed).await
        }
        other => other,
    }
}
