//! [`Store`]: one handle to every contract of a backend.

use crate::batch::{Batch, Committed};
use crate::checkpoint::Checkpoints;
use crate::collection::Collection;
use crate::error::Result;
use crate::ids::{IdGenerator, UuidV7};
use crate::lease::LeaseStore;
use crate::locks::KeyedLocks;
use crate::packrun::generic::{GenericApprovals, GenericArtifacts, GenericLogs, GenericRuns};
use crate::packrun::{ApprovalStore, ArtifactStore, LogStore, RunStore};
use crate::records::RecordStore;
use crate::session::{NoSessions, SessionStore};
use crate::time::{SharedClock, SystemClock};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt;
use std::sync::Arc;

/// How hard a backend works to keep an acknowledged write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// Synced to stable storage before the commit returns (fsync per commit or commit group).
    #[default]
    Immediate,
    /// Written, but synced later; a power loss may drop the newest commits.
    Relaxed,
}

/// What a backend can do; the conformance suite holds it to what it declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Capabilities {
    /// Data survives closing and reopening.
    pub persistent: bool,
    /// Batches of several ops are atomic (otherwise they fail with `Unsupported`).
    pub atomic_batches: bool,
    /// Several processes (or hosts) can share the store, leases included.
    pub shared: bool,
    /// Pack runs are stored natively rather than over generic records.
    pub native_pack_runs: bool,
}

impl Capabilities {
    /// Capabilities with every flag given.
    pub const fn new(
        persistent: bool,
        atomic_batches: bool,
        shared: bool,
        native_pack_runs: bool,
    ) -> Self {
        Capabilities {
            persistent,
            atomic_batches,
            shared,
            native_pack_runs,
        }
    }
}

/// What every backend is opened with: the clock, the id generator and the durability.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// The clock that stamps records and judges lease expiry (where the backend has no
    /// server clock of its own).
    pub clock: SharedClock,
    /// The id generator.
    pub ids: Arc<dyn IdGenerator>,
    /// Durability of commits.
    pub durability: Durability,
    /// Whether the store may be written (and so created or migrated) or only read.
    pub access: Access,
}

/// Whether a store is opened to write or only to read.
///
/// [`Access::ReadOnly`] never creates, migrates or locks a store for writing: a missing store
/// is [`Error::NotFound`](crate::Error::NotFound), and every write through it fails with
/// [`Error::ReadOnly`](crate::Error::ReadOnly). What each backend makes of it is in
/// docs/backends.md (SQLite uses reader connections only; sled has no read-only mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Access {
    /// Read and write; a missing store is created, an older schema upgraded.
    #[default]
    ReadWrite,
    /// Read an existing store only.
    ReadOnly,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            clock: Arc::new(SystemClock),
            ids: Arc::new(UuidV7),
            durability: Durability::Immediate,
            access: Access::ReadWrite,
        }
    }
}

impl OpenOptions {
    /// These options with `clock`.
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// These options with `ids`.
    pub fn with_ids(mut self, ids: Arc<dyn IdGenerator>) -> Self {
        self.ids = ids;
        self
    }

    /// These options with `durability`.
    pub fn with_durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// These options for reading an existing store only (see [`Access::ReadOnly`]).
    pub fn read_only(mut self) -> Self {
        self.access = Access::ReadOnly;
        self
    }

    /// Whether these options open a store for reading only.
    pub fn is_read_only(&self) -> bool {
        self.access == Access::ReadOnly
    }
}

/// One handle to every contract of one backend; cheap to clone.
///
/// ```
/// # async fn demo(store: berth_core::Store) -> berth_core::Result<()> {
/// use std::time::Duration;
/// let mut batch = berth_core::Batch::new();
/// batch.put("jobs", "j1", serde_json::json!({"state": "queued"}));
/// store.commit(batch).await?;
/// let leases = store.leases().acquire("host:1", &["default:1".into()], Duration::from_secs(35)).await?;
/// println!("{} records, {} leases", store.records().count("jobs", "").await?, leases.len());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    backend: String,
    records: Arc<dyn RecordStore>,
    leases: Arc<dyn LeaseStore>,
    sessions: Arc<dyn SessionStore>,
    runs: Arc<dyn RunStore>,
    logs: Arc<dyn LogStore>,
    artifacts: Arc<dyn ArtifactStore>,
    approvals: Arc<dyn ApprovalStore>,
    capabilities: Capabilities,
    options: OpenOptions,
    locks: KeyedLocks,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.inner.backend)
            .field("capabilities", &self.inner.capabilities)
            .finish()
    }
}

/// Assembles a [`Store`] from a backend's parts.
pub struct StoreBuilder {
    backend: String,
    records: Arc<dyn RecordStore>,
    leases: Arc<dyn LeaseStore>,
    sessions: Option<Arc<dyn SessionStore>>,
    pack_runs: Option<PackRunParts>,
    capabilities: Capabilities,
    options: OpenOptions,
}

struct PackRunParts {
    runs: Arc<dyn RunStore>,
    logs: Arc<dyn LogStore>,
    artifacts: Arc<dyn ArtifactStore>,
    approvals: Arc<dyn ApprovalStore>,
}

impl StoreBuilder {
    /// The backend's sessions (without them, every session call is `Unsupported`).
    pub fn sessions(mut self, sessions: Arc<dyn SessionStore>) -> Self {
        self.sessions = Some(sessions);
        self
    }

    /// Native pack-run stores instead of the generic ones.
    pub fn pack_runs(
        mut self,
        runs: Arc<dyn RunStore>,
        logs: Arc<dyn LogStore>,
        artifacts: Arc<dyn ArtifactStore>,
        approvals: Arc<dyn ApprovalStore>,
    ) -> Self {
        self.pack_runs = Some(PackRunParts {
            runs,
            logs,
            artifacts,
            approvals,
        });
        self
    }

    /// The finished handle.
    pub fn build(self) -> Store {
        let clock = self.options.clock.clone();
        let parts = self.pack_runs.unwrap_or_else(|| PackRunParts {
            runs: Arc::new(GenericRuns::new(self.records.clone(), clock.clone())),
            logs: Arc::new(GenericLogs::new(self.records.clone())),
            artifacts: Arc::new(GenericArtifacts::new(self.records.clone())),
            approvals: Arc::new(GenericApprovals::new(self.records.clone(), clock)),
        });
        Store {
            inner: Arc::new(Inner {
                backend: self.backend,
                records: self.records,
                leases: self.leases,
                sessions: self.sessions.unwrap_or_else(|| Arc::new(NoSessions)),
                runs: parts.runs,
                logs: parts.logs,
                artifacts: parts.artifacts,
                approvals: parts.approvals,
                capabilities: self.capabilities,
                options: self.options,
                locks: KeyedLocks::default(),
            }),
        }
    }
}

impl Store {
    /// Starts a handle for backend `backend` (a short name such as `memory`).
    pub fn builder(
        backend: impl Into<String>,
        records: Arc<dyn RecordStore>,
        leases: Arc<dyn LeaseStore>,
        capabilities: Capabilities,
        options: OpenOptions,
    ) -> StoreBuilder {
        StoreBuilder {
            backend: backend.into(),
            records,
            leases,
            sessions: None,
            pack_runs: None,
            capabilities,
            options,
        }
    }

    /// The backend's short name.
    pub fn backend(&self) -> &str {
        &self.inner.backend
    }

    /// What the backend can do.
    pub fn capabilities(&self) -> Capabilities {
        self.inner.capabilities
    }

    /// The collections contract.
    pub fn records(&self) -> &Arc<dyn RecordStore> {
        &self.inner.records
    }

    /// Commits a batch (shorthand for `records().commit`).
    pub async fn commit(&self, batch: Batch) -> Result<Committed> {
        self.inner.records.commit(batch).await
    }

    /// A typed collection.
    pub fn collection<T: Serialize + DeserializeOwned>(&self, name: &str) -> Result<Collection<T>> {
        Collection::new(self.inner.records.clone(), name)
    }

    /// The runner registry and shard leases.
    pub fn leases(&self) -> &Arc<dyn LeaseStore> {
        &self.inner.leases
    }

    /// Sessions and the leases attached to them.
    pub fn sessions(&self) -> &Arc<dyn SessionStore> {
        &self.inner.sessions
    }

    /// Pipeline checkpoints.
    pub fn checkpoints(&self) -> Checkpoints {
        Checkpoints::new(
            self.inner.records.clone(),
            self.inner.options.ids.clone(),
            self.inner.options.clock.clone(),
        )
    }

    /// Pack runs.
    pub fn runs(&self) -> &Arc<dyn RunStore> {
        &self.inner.runs
    }

    /// Pack-run logs.
    pub fn logs(&self) -> &Arc<dyn LogStore> {
        &self.inner.logs
    }

    /// Pack-run artifacts.
    pub fn artifacts(&self) -> &Arc<dyn ArtifactStore> {
        &self.inner.artifacts
    }

    /// Pack-run approvals.
    pub fn approvals(&self) -> &Arc<dyn ApprovalStore> {
        &self.inner.approvals
    }

    /// In-process keyed locks shared by every clone of this handle.
    pub fn locks(&self) -> &KeyedLocks {
        &self.inner.locks
    }

    /// The clock the store stamps with.
    pub fn clock(&self) -> &SharedClock {
        &self.inner.options.clock
    }

    /// The id generator.
    pub fn ids(&self) -> &Arc<dyn IdGenerator> {
        &self.inner.options.ids
    }

    /// The options the store was opened with.
    pub fn options(&self) -> &OpenOptions {
        &self.inner.options
    }
}
