//! [`InProcessLock`]: keyed locks between the tasks of one process.

use super::key_lock::{HeldKeys, KeyLock, LockGuard};
use async_trait::async_trait;
use berth_core::{KeyedGuard, KeyedLocks, Result};

/// In-process keyed locks: the store handle's [`KeyedLocks`].
#[derive(Debug, Clone, Default)]
pub struct InProcessLock {
    locks: KeyedLocks,
}

impl InProcessLock {
    /// Locks over `locks` (share one [`KeyedLocks`] between every user of the same state).
    pub fn new(locks: KeyedLocks) -> Self {
        InProcessLock { locks }
    }
}

struct InProcessHeld(KeyedGuard);

#[async_trait]
impl HeldKeys for InProcessHeld {
    async fn release(self: Box<Self>) -> Result<()> {
        drop(self.0);
        Ok(())
    }
}

#[async_trait]
impl KeyLock for InProcessLock {
    async fn lock(&self, keys: &[String]) -> Result<LockGuard> {
        let guard = self.locks.lock(keys.iter().cloned()).await;
        Ok(LockGuard::new(Box::new(InProcessHeld(guard))))
    }
}
