//! The runner registry and shard leases with fencing tokens.

use crate::error::Result;
use crate::time::Timestamp;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A runner's machine id: unique per registration, never reused after unregister.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MachineId(pub i64);

/// A registered runner as the registry stores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunnerEntry {
    /// The runner's address (`host:port`).
    pub address: String,
    /// The runner's encoded description (groups, weight, …), opaque to the store.
    pub runner: String,
    /// Whether the runner reported itself healthy.
    pub healthy: bool,
    /// Its machine id.
    pub machine_id: MachineId,
}

/// A shard lease held by an owner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// The shard.
    pub shard: String,
    /// The holder's address.
    pub owner: String,
    /// Fencing token of this grant: greater than every earlier grant's token of this shard.
    pub token: u64,
    /// When the lease lapses unless refreshed.
    pub expires_at: Timestamp,
}

/// Runner registration and shard leases.
///
/// A lease lapses `ttl` after its last acquire or refresh; a lapsed lease may be taken by
/// anyone. Every new grant of a shard carries a fencing token strictly greater than any
/// earlier token of that shard, even after release; a refresh keeps the token. Pass the
/// token to [`Precondition::Fence`](crate::Precondition::Fence) so a batch applies only while
/// the lease is still held.
///
/// ```
/// # async fn demo(leases: &dyn berth_core::LeaseStore) -> berth_core::Result<()> {
/// use std::time::Duration;
/// let ttl = Duration::from_secs(35);
/// let held = leases.acquire("10.0.0.1:34431", &["default:1".into()], ttl).await?;
/// let still = leases.refresh("10.0.0.1:34431", &["default:1".into()], ttl).await?;
/// assert_eq!(held[0].token, still[0].token);
/// # Ok(()) }
/// ```
#[async_trait]
pub trait LeaseStore: Send + Sync {
    /// Registers `runner` at `address`; the same address keeps its machine id.
    async fn register(&self, address: &str, runner: &str, healthy: bool) -> Result<MachineId>;

    /// Removes the runner at `address` (no error if it is not registered).
    async fn unregister(&self, address: &str) -> Result<()>;

    /// Every registered runner, ordered by address.
    async fn runners(&self) -> Result<Vec<RunnerEntry>>;

    /// Sets the health of the runner at `address`; [`NotFound`](crate::Error::NotFound) if absent.
    async fn set_health(&self, address: &str, healthy: bool) -> Result<()>;

    /// Takes every shard of `shards` that is free, lapsed, or already `owner`'s, and returns
    /// exactly those now held by `owner` (partial success is normal).
    async fn acquire(&self, owner: &str, shards: &[String], ttl: Duration) -> Result<Vec<Lease>>;

    /// Extends the shards of `shards` that `owner` still holds unexpired and returns them;
    /// lapsed or lost ones are left out and must be acquired again.
    async fn refresh(&self, owner: &str, shards: &[String], ttl: Duration) -> Result<Vec<Lease>>;

    /// Releases `shard` if `owner` holds it.
    async fn release(&self, owner: &str, shard: &str) -> Result<()>;

    /// Releases every shard `owner` holds.
    async fn release_all(&self, owner: &str) -> Result<()>;

    /// The current unexpired lease of `shard`, if any.
    async fn lease(&self, shard: &str) -> Result<Option<Lease>>;

    /// Every unexpired lease held by `owner`, ordered by shard.
    async fn held_by(&self, owner: &str) -> Result<Vec<Lease>>;
}

/// Checks an address or shard id for the lease store: 1–1024 bytes, no NUL.
pub fn validate_lease_name(what: &'static str, s: &str) -> Result<()> {
    if s.is_empty() || s.len() > crate::limits::MAX_KEY || s.contains('\0') {
        return Err(crate::Error::invalid(
            what,
            "must be 1–1024 bytes without NUL",
        ));
    }
    Ok(())
}

/// Checks the owner and every shard of an acquire or refresh call, before any storage access.
pub fn validate_lease_request(owner: &str, shards: &[String]) -> Result<()> {
    validate_lease_name("runner address", owner)?;
    shards
        .iter()
        .try_for_each(|s| validate_lease_name("shard id", s))
}
