use berth_core::{MachineId, RunnerEntry, Timestamp};
use serde_json::Value;
use std::collections::BTreeMap;

/// One stored record.
#[derive(Debug, Clone)]
pub(crate) struct Stored {
    pub value: Value,
    pub version: u64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A shard's lease; kept after release so its token never goes back.
#[derive(Debug, Clone, Default)]
pub(crate) struct LeaseSlot {
    pub owner: Option<String>,
    pub token: u64,
    pub expires_at: Timestamp,
}

impl LeaseSlot {
    pub fn held_by(&self, owner: &str, now: Timestamp) -> bool {
        self.owner.as_deref() == Some(owner) && self.expires_at > now
    }

    pub fn is_live(&self, now: Timestamp) -> bool {
        self.owner.is_some() && self.expires_at > now
    }
}

/// Everything the memory backend holds, behind one lock.
#[derive(Debug, Default)]
pub(crate) struct State {
    pub collections: BTreeMap<String, BTreeMap<String, Stored>>,
    pub leases: BTreeMap<String, LeaseSlot>,
    pub runners: BTreeMap<String, RunnerEntry>,
    pub last_machine_id: i64,
}

impl State {
    pub fn next_machine_id(&mut self) -> MachineId {
        self.last_machine_id += 1;
        MachineId(self.last_machine_id)
    }
}
