use crate::state::{LeaseSlot, State};
use async_trait::async_trait;
use berth_core::{
    validate_lease_name, validate_lease_request, Error, Lease, LeaseStore, MachineId, Result,
    RunnerEntry, SharedClock,
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

fn lease(shard: &str, slot: &LeaseSlot) -> Option<Lease> {
    slot.owner.as_ref().map(|owner| Lease {
        shard: shard.to_owned(),
        owner: owner.clone(),
        token: slot.token,
        expires_at: slot.expires_at,
    })
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
        let expires_at = now.plus(ttl);
        let mut state = self.state.lock();
        let mut out = Vec::new();
        let mut seen = HashSet::with_capacity(shards.len());
        for shard in shards {
            if !seen.insert(shard.as_str()) {
                continue;
            }
            let slot = state.leases.entry(shard.clone()).or_default();
            if slot.held_by(owner, now) {
                slot.expires_at = expires_at;
            } else if !slot.is_live(now) {
                slot.owner = Some(owner.to_owned());
                slot.token += 1;
                slot.expires_at = expires_at;
            } else {
                continue;
            }
            out.extend(lease(shard, slot));
        }
        Ok(out)
    }

    async fn refresh(&self, owner: &str, shards: &[String], ttl: Duration) -> Result<Vec<Lease>> {
        validate_lease_request(owner, shards)?;
        let now = self.clock.now();
        let mut state = self.state.lock();
        let mut out = Vec::new();
        let mut seen = HashSet::with_capacity(shards.len());
        for shard in shards {
            if !seen.insert(shard.as_str()) {
                continue;
            }
            if let Some(slot) = state.leases.get_mut(shard) {
                if slot.held_by(owner, now) {
                    slot.expires_at = now.plus(ttl);
                    out.extend(lease(shard, slot));
                }
            }
        }
        Ok(out)
    }

    async fn release(&self, owner: &str, shard: &str) -> Result<()> {
        validate_lease_name("runner address", owner)?;
        validate_lease_name("shard id", shard)?;
        if let Some(slot) = self.state.lock().leases.get_mut(shard) {
            if slot.owner.as_deref() == Some(owner) {
                slot.owner = None;
            }
        }
        Ok(())
    }

    async fn release_all(&self, owner: &str) -> Result<()> {
        validate_lease_name("runner address", owner)?;
        for slot in self.state.lock().leases.values_mut() {
            if slot.owner.as_deref() == Some(owner) {
                slot.owner = None;
            }
        }
        Ok(())
    }

    async fn lease(&self, shard: &str) -> Result<Option<Lease>> {
        validate_lease_name("shard id", shard)?;
        let now = self.clock.now();
        let state = self.state.lock();
        Ok(state
            .leases
            .get(shard)
            .filter(|s| s.is_live(now))
            .and_then(|s| lease(shard, s)))
    }

    async fn held_by(&self, owner: &str) -> Result<Vec<Lease>> {
        validate_lease_name("runner address", owner)?;
        let now = self.clock.now();
        let state = self.state.lock();
        Ok(state
            .leases
            .iter()
            .filter(|(_, s)| s.held_by(owner, now))
            .filter_map(|(k, s)| lease(k, s))
            .collect())
    }
}
