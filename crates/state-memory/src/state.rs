use berth_core::{LeaseSlot, MachineId, RunnerEntry, SessionId, Timestamp};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

/// One stored record.
#[derive(Debug, Clone)]
pub(crate) struct Stored {
    pub value: Value,
    pub version: u64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A session as the memory backend keeps it.
#[derive(Debug, Clone)]
pub(crate) struct SessionRow {
    pub owner: String,
    pub ttl: Duration,
    pub expires_at: Timestamp,
}

/// Everything the memory backend holds, behind one lock.
#[derive(Debug, Default)]
pub(crate) struct State {
    pub collections: BTreeMap<String, BTreeMap<String, Stored>>,
    pub leases: BTreeMap<String, LeaseSlot>,
    pub sessions: BTreeMap<SessionId, SessionRow>,
    pub runners: BTreeMap<String, RunnerEntry>,
    pub last_machine_id: i64,
}

impl State {
    /// Expiry of `slot`'s session, if it has one that still exists.
    pub fn session_expiry(&self, slot: &LeaseSlot) -> Option<Timestamp> {
        slot.session
            .and_then(|id| self.sessions.get(&id))
            .map(|s| s.expires_at)
    }

    /// The lease of `shard` if it is live at `now`.
    pub fn live_lease(&self, shard: &str, now: Timestamp) -> Option<berth_core::Lease> {
        let slot = self.leases.get(shard)?;
        slot.lease(shard, now, self.session_expiry(slot))
    }

    pub fn next_machine_id(&mut self) -> MachineId {
        self.last_machine_id += 1;
        MachineId(self.last_machine_id)
    }
}
