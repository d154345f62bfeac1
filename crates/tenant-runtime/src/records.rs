//! Tenant records: what a host must remember about its children to adopt or stop them after
//! a restart, kept in a berth collection (one record per key).

use crate::backoff::BackoffState;
use berth_core::{Collection, Store, Timestamp};
use serde::{Deserialize, Serialize};

/// Where a recorded process was in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProcessState {
    /// Started, not yet ready: a host that restarts finds an orphan and stops it.
    Starting,
    /// Passed readiness: a host that restarts may adopt it.
    Running,
}

/// The recorded process of a tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessRecord {
    /// Its pid.
    pub pid: u32,
    /// Its process group (equal to the pid: each tenant leads its own group).
    pub pgid: u32,
    /// Its port.
    pub port: u16,
    /// When it was started (store clock).
    pub started_at: Timestamp,
    /// Its start time after boot in clock ticks (`/proc/<pid>/stat`): tells the recorded
    /// process from a later one that reuses the pid.
    pub start_ticks: Option<u64>,
    /// Where it was in its life.
    pub state: ProcessState,
}

/// Cumulative figures of a tenant, kept across processes and host restarts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantTotals {
    /// Processes started.
    pub spawns: u64,
    /// Processes that ended.
    pub exits: u64,
    /// Of those, crashes.
    pub crashes: u64,
    /// CPU time of ended processes' groups, as last observed.
    pub cpu_ms: u64,
    /// Largest group RSS observed.
    pub peak_rss_bytes: u64,
}

/// One tenant's record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantRecord {
    /// The key.
    pub key: String,
    /// Its live (or starting) process, if any.
    pub process: Option<ProcessRecord>,
    /// Its consecutive-failure state, if any.
    pub backoff: Option<BackoffState>,
    /// Its cumulative figures.
    pub totals: TenantTotals,
}

/// The records collection of one runtime.
#[derive(Debug, Clone)]
pub(crate) struct Records {
    collection: Collection<TenantRecord>,
}

impl Records {
    /// The collection `name` of `store`.
    pub(crate) fn new(store: &Store, name: &str) -> berth_core::Result<Self> {
        Ok(Records {
            collection: store.collection(name)?,
        })
    }

    /// Every record.
    pub(crate) async fn all(&self) -> berth_core::Result<Vec<TenantRecord>> {
        Ok(self
            .collection
            .all()
            .await?
            .into_iter()
            .map(|item| item.value)
            .collect())
    }

    /// Writes `record`.
    pub(crate) async fn put(&self, record: &TenantRecord) -> berth_core::Result<()> {
        tracing::trace!(key = %record.key, collection = self.collection.name(), "put tenant record");
        self.collection.put(&record.key, record).await.map(|_| ())
    }
}
