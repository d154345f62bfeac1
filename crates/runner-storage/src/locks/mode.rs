//! [`LockMode`]: which keyed lock a service uses, chosen when it is built.

use super::in_process::InProcessLock;
use super::key_lock::KeyLock;
use super::lease::{LeaseKeyLock, LeaseLockConfig};
use berth_core::Store;
use std::sync::Arc;

/// How a service's keyed locks work, chosen when it is built.
#[derive(Debug, Clone, Default)]
pub enum LockMode {
    /// The store handle's in-process locks: exclusion between tasks of one process.
    #[default]
    InProcess,
    /// Leases in the store (with TTL and refresh): exclusion between processes and hosts that
    /// share the store.
    Leased(LeaseLockConfig),
}

impl LockMode {
    /// The lock of this mode over `store`.
    pub fn build(&self, store: &Store) -> Arc<dyn KeyLock> {
        match self {
            LockMode::InProcess => Arc::new(InProcessLock::new(store.locks().clone())),
            LockMode::Leased(config) => Arc::new(LeaseKeyLock::new(store, config.clone())),
        }
    }
}
