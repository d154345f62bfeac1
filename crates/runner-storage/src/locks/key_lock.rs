//! [`KeyLock`]: the keyed-lock contract of this crate's services, and the guard it hands out.

use async_trait::async_trait;
use berth_core::{Precondition, Result};
use std::fmt;

/// Locks named by string keys, taken together; the services of this crate run their
/// read-decide-write steps under them.
///
/// Implementations take several keys in sorted order, so callers locking overlapping sets
/// cannot deadlock.
#[async_trait]
pub trait KeyLock: Send + Sync + fmt::Debug {
    /// Waits until every key of `keys` is held by the caller (duplicates are taken once).
    async fn lock(&self, keys: &[String]) -> Result<LockGuard>;
}

/// Keys held by one [`KeyLock::lock`] call.
///
/// Call [`release`](LockGuard::release); dropping the guard also releases in-process locks,
/// while a lease-backed lock dropped without release is released in the background (or lapses
/// after its TTL when no runtime is left).
pub struct LockGuard {
    held: Box<dyn HeldKeys>,
}

impl fmt::Debug for LockGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockGuard").finish_non_exhaustive()
    }
}

/// What a [`KeyLock`] implementation holds for one lock call.
#[async_trait]
pub trait HeldKeys: Send + Sync {
    /// Preconditions that make a batch apply only while the keys are still held: fences on
    /// the leases of a lease-backed lock, none in process.
    fn fences(&self) -> Vec<Precondition> {
        Vec::new()
    }

    /// Whether a key was lost while held (a lease that could not be refreshed in time).
    fn lost(&self) -> bool {
        false
    }

    /// Releases the keys.
    async fn release(self: Box<Self>) -> Result<()>;
}

impl LockGuard {
    /// A guard over what `held` holds.
    pub fn new(held: Box<dyn HeldKeys>) -> Self {
        LockGuard { held }
    }

    /// See [`HeldKeys::fences`].
    pub fn fences(&self) -> Vec<Precondition> {
        self.held.fences()
    }

    /// See [`HeldKeys::lost`].
    pub fn is_lost(&self) -> bool {
        self.held.lost()
    }

    /// Releases the keys.
    pub async fn release(self) -> Result<()> {
        self.held.release().await
    }
}
