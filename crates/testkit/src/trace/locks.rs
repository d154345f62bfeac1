//! [`TracedLocks`]: the keyed lock decorator.

use super::recorder::LockTicket;
use super::Tracer;
use berth_core::{KeyedGuard, KeyedLocks};

/// [`KeyedLocks`] whose every lock and release is recorded.
#[derive(Debug, Clone)]
pub struct TracedLocks {
    locks: KeyedLocks,
    tracer: Tracer,
}

/// Holds the keys of one [`TracedLocks::lock`]; the release is recorded when dropped.
#[derive(Debug)]
pub struct TracedGuard {
    guard: Option<KeyedGuard>,
    ticket: LockTicket,
    tracer: Tracer,
}

impl TracedLocks {
    /// `locks`, recorded into `tracer`.
    pub fn new(locks: KeyedLocks, tracer: Tracer) -> Self {
        TracedLocks { locks, tracer }
    }

    /// Takes `keys` (see [`KeyedLocks::lock`]) and records it once held.
    pub async fn lock(&self, keys: &[String]) -> TracedGuard {
        let guard = self.locks.lock(keys.iter().cloned()).await;
        TracedGuard {
            guard: Some(guard),
            ticket: self.tracer.locked(keys),
            tracer: self.tracer.clone(),
        }
    }
}

impl Drop for TracedGuard {
    fn drop(&mut self) {
        self.tracer.released(self.ticket);
        drop(self.guard.take());
    }
}
