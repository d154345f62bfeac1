//! Tenant records: what a host must remember about its children to adopt or stop them after
//! a restart, kept in a berth collection (one record per key).

use crate::backoff::BackoffState;
use berth_core::{Batch, Collection, Item, Scan, Store, Timestamp};
use serde::{Deserialize, Serialize};

/// Where a recorded process was in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProcessState {
    /// Being started (the record is written before the spawn) or not yet ready: a host that
    /// restarts stops every process of it.
    Starting,
    /// Passed readiness: a host that restarts may adopt it.
    Running,
}

/// The recorded process of a tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessRecord {
    /// Its pid; 0 in a write-ahead record (state `starting`, written before the spawn).
    pub pid: u32,
    /// Its process group (equal to the pid: each tenant leads its own group and session).
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
    /// The start's id, written before the spawn and carried by every process of the start
    /// in its environment (`BERTH_TENANT_START_ID`): finds the processes of a start whose
    /// pid was never recorded (the host died right after spawning).
    #[serde(default)]
    pub start_id: String,
    /// The start's cgroup, when cgroups are used.
    #[serde(default)]
    pub cgroup: Option<std::path::PathBuf>,
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
    store: Store,
    collection: Collection<TenantRecord>,
    quarantine: Collection<serde_json::Value>,
}

/// A record that could not be decoded and was moved to the quarantine collection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Quarantined {
    pub(crate) key: String,
    pub(crate) error: String,
}

/// Records are read in pages of this many.
const PAGE: usize = 500;

impl Records {
    /// The collection `name` of `store` (and `<name>-quarantine` for undecodable records).
    pub(crate) fn new(store: &Store, name: &str) -> berth_core::Result<Self> {
        Ok(Records {
            store: store.clone(),
            collection: store.collection(name)?,
            quarantine: store.collection(&format!("{name}-quarantine"))?,
        })
    }

    /// Every record that decodes; each one that does not is moved (in one batch: put in the
    /// quarantine collection, delete here) and reported, so one bad record never keeps the
    /// others from being recovered.
    pub(crate) async fn load(&self) -> berth_core::Result<(Vec<TenantRecord>, Vec<Quarantined>)> {
        let name = self.collection.name().to_owned();
        let mut good = Vec::new();
        let mut bad = Vec::new();
        let mut scan = Scan::all().limit(PAGE);
        loop {
            let page = self.store.records().scan(&name, &scan).await?;
            let done = page.len() < PAGE;
            if let Some(last) = page.last() {
                scan.start_after = Some(last.key.clone());
            }
            for raw in page {
                let (key, value) = (raw.key.clone(), raw.value.clone());
                match Item::<TenantRecord>::from_record(&name, raw) {
                    Ok(item) if item.value.key == item.id => good.push(item.value),
                    decoded => {
                        let error = match decoded {
                            Err(err) => err.to_string(),
                            Ok(_) => "the record names another key".to_owned(),
                        };
                        tracing::error!(collection = %name, key, %error, "undecodable tenant record quarantined");
                        let mut batch = Batch::new();
                        self.quarantine.put_raw_in(&mut batch, &key, value)?;
                        self.collection.delete_in(&mut batch, &key)?;
                        self.store.commit(batch).await?;
                        bad.push(Quarantined { key, error });
                    }
                }
            }
            if done {
                return Ok((good, bad));
            }
        }
    }

    /// Writes `record`.
    pub(crate) async fn put(&self, record: &TenantRecord) -> berth_core::Result<()> {
        tracing::trace!(key = %record.key, collection = self.collection.name(), "put tenant record");
        self.collection.put(&record.key, record).await.map(|_| ())
    }
}
