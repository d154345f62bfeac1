use super::{Restored, RunBundle, RunPage};
use crate::error::Result;
use crate::fence::Fence;
use crate::time::Timestamp;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Retry and back-off directives resolved at plan time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct FailurePolicy {
    /// Attempts per step, at least 1.
    pub max_attempts: u32,
    /// Seconds to wait between attempts.
    pub backoff_seconds: u64,
    /// Whether the run goes on after a step finally fails.
    pub continue_on_error: bool,
}

impl Default for FailurePolicy {
    fn default() -> Self {
        FailurePolicy {
            max_attempts: 1,
            backoff_seconds: 0,
            continue_on_error: false,
        }
    }
}

/// Where a step stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// Not started.
    Pending,
    /// Running now.
    Running,
    /// Waiting for an approval gate.
    WaitingApproval,
    /// Finished successfully.
    Succeeded,
    /// Failed after its attempts.
    Failed,
    /// Not run (rejected gate, earlier failure).
    Skipped,
}

/// One flattened step record of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StepState {
    /// The plan's step id.
    pub step_id: String,
    /// Its status.
    pub status: StepStatus,
    /// Attempts made so far.
    pub attempts: u32,
    /// When the next attempt is due, after a failure with back-off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<Timestamp>,
    /// The last failure, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Created, not started.
    Pending,
    /// Executing.
    Running,
    /// Stopped at an approval gate.
    Paused,
    /// Every step done.
    Succeeded,
    /// A step failed or a gate was rejected.
    Failed,
    /// Cancelled by an operator.
    Cancelled,
}

/// A pack run (seed 002's `pack_runs`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PackRun {
    /// Run identifier.
    pub id: String,
    /// Deterministic hash of the plan.
    pub plan_hash: String,
    /// The full plan payload.
    pub plan: Value,
    /// Retry and back-off directives.
    pub failure_policy: FailurePolicy,
    /// When the client requested the run.
    pub requested_at: Timestamp,
    /// When the run was persisted; set by the store.
    pub created_at: Timestamp,
    /// When the run last changed; set by the store.
    pub updated_at: Timestamp,
    /// Step records.
    pub steps: Vec<StepState>,
    /// Optional tenant scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
    /// Overall status.
    pub status: RunStatus,
    /// Store-managed version for compare-and-set updates (1 after create).
    #[serde(default)]
    pub version: u64,
}

impl PackRun {
    /// A new pending run; timestamps and version are set by the store on create.
    pub fn new(id: impl Into<String>, plan_hash: impl Into<String>, plan: Value) -> Self {
        PackRun {
            id: id.into(),
            plan_hash: plan_hash.into(),
            plan,
            failure_policy: FailurePolicy::default(),
            requested_at: Timestamp::default(),
            created_at: Timestamp::default(),
            updated_at: Timestamp::default(),
            steps: Vec::new(),
            tenant_id: None,
            status: RunStatus::Pending,
            version: 0,
        }
    }
}

/// Position after which a listing continues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunCursor {
    /// `updated_at` of the last run seen.
    pub updated_at: Timestamp,
    /// Id of the last run seen.
    pub id: String,
}

impl From<&PackRun> for RunCursor {
    fn from(run: &PackRun) -> Self {
        RunCursor {
            updated_at: run.updated_at,
            id: run.id.clone(),
        }
    }
}

/// Which runs to list: newest `updated_at` first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunQuery {
    /// Only runs of this tenant.
    pub tenant: Option<String>,
    /// Continue after this run.
    pub after: Option<RunCursor>,
    /// At most this many.
    pub limit: usize,
}

impl Default for RunQuery {
    fn default() -> Self {
        RunQuery {
            tenant: None,
            after: None,
            limit: 100,
        }
    }
}

/// Storage of pack runs.
#[async_trait]
pub trait RunStore: Send + Sync {
    /// Stores a new run; [`Conflict`](crate::Error::Conflict) if the id exists.
    async fn create(&self, run: PackRun) -> Result<PackRun>;
    /// Reads a run.
    async fn get(&self, id: &str) -> Result<Option<PackRun>>;
    /// Replaces a run if its `version` is still current; returns it with the new version.
    async fn update(&self, run: PackRun) -> Result<PackRun>;
    /// [`update`](RunStore::update) made on behalf of the run's owner: applies only while
    /// `fence` is current, checked in the same transaction
    /// ([`StaleFence`](crate::Error::StaleFence) and nothing written otherwise).
    async fn update_fenced(&self, run: PackRun, fence: &Fence) -> Result<PackRun>;
    /// Lists runs by `updated_at` descending (ties by id descending), failing closed: one
    /// document that cannot be read fails the call with [`Corrupt`](crate::Error::Corrupt)
    /// naming it. Use [`list_page`](RunStore::list_page) to list around damage.
    async fn list(&self, query: &RunQuery) -> Result<Vec<PackRun>> {
        self.list_page(query).await?.into_runs()
    }
    /// Lists runs as [`list`](RunStore::list) does, but a document that cannot be read is
    /// skipped and named in [`RunPage::damaged`]; page on with [`RunPage::next`]
    /// (implementations build the page with [`RunPage::collect`]).
    async fn list_page(&self, query: &RunQuery) -> Result<RunPage>;
    /// Stores `run` exactly as given, timestamps included, replacing any run with its id
    /// (for import and restore); returns it with its store version, chosen by
    /// [`restored_version`](super::restored_version).
    async fn restore(&self, run: PackRun) -> Result<PackRun> {
        Ok(self.restore_bundle(&RunBundle::of_run(run)).await?.run)
    }
    /// Stores a run with its logs, artifacts and approvals as one atomic write: all of it or,
    /// on any error, nothing. The run is stored as [`restore`](RunStore::restore) does; logs
    /// are appended idempotently on (run, sequence) (a different entry under a stored
    /// sequence is a [`Conflict`](crate::Error::Conflict)); artifacts and approvals replace
    /// those with their (run, name) and (run, id). `Unsupported` where the backend has no
    /// multi-document transactions.
    async fn restore_bundle(&self, bundle: &RunBundle) -> Result<Restored>;
}
