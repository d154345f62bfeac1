use crate::state::State;
use async_trait::async_trait;
use berth_core::{
    expiry_after, validate_lease_name, validate_lease_request, Claimant, Error, Lease, LeaseSlot,
    LeaseStore, MachineId, Result, RunnerEntry, SharedClock, Timestamp,
};
use parking_lot::Mutex;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

/// The memory backend's [`LeaseStore`].
pub struct MemoryLeases {
    state: Arc<Mutex<State>>,
    clock: SharedClock,
}

impl MemoryLeases {
    pub(crate) fn new(state: Arc<Mutex<State>>, clock: SharedClock) -> Self {
        MemoryLeases { state, clock }
    }
}

#[async_trait]
impl LeaseStore for MemoryLeases {
    async fn register(&self, address: &str, runner: &str, healthy: bool) -> Result<MachineId> {
        validate_lease_name("runner address", address)?;
        let mut state = self.state.lock();
        let machine_id = match state.runners.get(address) {
            Some(existing) => existing.machine_id,
            None => state.next_machine_id(),
        };
        state.runners.insert(
            address.to_owned(),
            RunnerEntry {
                address: address.to_owned(),
                runner: runner.to_owned(),
                healthy,
                machine_id,
            },
        );
        Ok(machine_id)
    }

    async fn unregister(&self, address: &str) -> Result<()> {
        validate_lease_name("runner address", address)?;
        self.state.lock().runners.remove(address);
        Ok(())
    }

    async fn runners(&self) -> Result<Vec<RunnerEntry>> {
        Ok(self.state.lock().runners.values().cloned().collect())
    }

    async fn set_health(&self, address: &str, healthy: bool) -> Result<()> {
        validate_lease_name("runner address", address)?;
        match self.state.lock().runners.get_mut(address) {
            Some(r) => {
                r.healthy = healthy;
                Ok(())
            }
            None => Err(Error::NotFound(format!("runner {address}"))),
        }
    }

    async fn acquire(&self, owner: &str, shards: &[String], ttl: Duration) -> Result<Vec<Lease>> {
        validate_lease_request(owner, shards)?;
        tracing::debug!(owner, shards = shards.len(), "memory acquire");
        let now = self.clock.now();
        let claimant = Claimant::Owner {
            owner,
            expires_at: expiry_after(now, ttl)?,
        };
        let mut state = self.state.lock();
        grant(&mut state, &claimant, shards, now)
    }

    async fn refresh(&self, owner: &str, shards: &[String], ttl: Duration) -> Result<Vec<Lease>> {
        validate_lease_request(owner, shards)?;
        let now = self.clock.now();
        let claimant = Claimant::Owner {
            owner,
            expires_at: expiry_after(now, ttl)?,
        };
        let mut state = self.state.lock();
        let mut out = Vec::new();
        let mut seen = HashSet::with_capacity(shards.len());
        for shard in shards {
            if !seen.insert(shard.as_str()) {
                continue;
            }
            if let Some(slot) = state.leases.get_mut(shard) {
                if slot.is_held_by(&claimant) && slot.is_live(now, None) {
                    slot.acquire(&claimant, now, None)?;
                    out.extend(slot.lease(shard, now, None));
                }
            }
        }
        Ok(out)
    }

    async fn release(&self, owner: &str, shard: &str) -> Result<()> {
        validate_lease_name("runner address", owner)?;
        validate_lease_name("shard id", shard)?;
        if let Some(slot) = self.state.lock().leases.get_mut(shard) {
            if owns(slot, owner) {
                slot.release();
            }
        }
        Ok(())
    }

    async fn release_all(&self, owner: &str) -> Result<()> {
        validate_lease_name("runner address", owner)?;
        for slot in self.state.lock().leases.values_mut() {
            if owns(slot, owner) {
                slot.release();
            }
        }
        Ok(())
    }

    async fn lease(&self, shard: &str) -> Result<Option<Lease>> {
        validate_lease_name("shard id", shard)?;
        let now = self.clock.now();
        Ok(self.state.lock().live_lease(shard, now))
    }

    async fn held_by(&self, owner: &str) -> Result<Vec<Lease>> {
        validate_lease_name("runner address", owner)?;
        let now = self.clock.now();
        let state = self.state.lock();
        Ok(state
            .leases
            .iter()
            .filter(|(_, s)| s.owner.as_deref() == Some(owner))
            .filter_map(|(k, s)| s.lease(k, now, state.session_expiry(s)))
            .collect())
    }
}

/// Whether `slot` is `owner`'s own lease (not one of a session).
fn owns(slot: &LeaseSlot, owner: &str) -> bool {
    slot.owner.as_deref() == Some(owner) && slot.session.is_none()
}

/// Applies an acquire of `shards` by `claimant`; returns the leases it now holds, in request
/// order, each shard once.
pub(crate) fn grant(
    state: &mut State,
    claimant: &Claimant<'_>,
    shards: &[String],
    now: Timestamp,
) -> Result<Vec<Lease>> {
    let mut out = Vec::new();
    let mut seen = HashSet::with_capacity(shards.len());
    for shard in shards {
        if !seen.insert(shard.as_str()) {
            continue;
        }
        let mut slot = state.leases.get(shard).cloned().unwrap_or_default();
        let session_expiry = state.session_expiry(&slot);
        if slot.acquire(claimant, now, session_expiry)? {
            let session_expiry = match claimant {
                Claimant::Session { expires_at, .. } => Some(*expires_at),
                Claimant::Owner { .. } => None,
            };
            out.extend(slot.lease(shard, now, session_expiry));
            state.leases.insert(shard.clone(), slot);
        }
    }
    Ok(out)
}
