use crate::error::Result;
use crate::fence::Fence;
use crate::time::Timestamp;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// Where an approval gate stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApprovalStatus {
    /// Waiting for decisions.
    Pending,
    /// Enough approvals.
    Approved,
    /// Rejected by someone.
    Rejected,
}

/// An approver's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    /// Approve.
    Approve,
    /// Reject.
    Reject,
}

/// One recorded decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalDecision {
    /// Who decided.
    pub actor: String,
    /// What they decided.
    pub decision: Decision,
    /// Why, if given.
    #[serde(default)]
    pub reason: Option<String>,
    /// When.
    pub decided_at: Timestamp,
}

/// An approval gate of a run (`pack_run_approvals`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Approval {
    /// The run.
    pub run_id: String,
    /// The gate id, unique within the run.
    pub approval_id: String,
    /// The step that waits on it.
    #[serde(default)]
    pub step_id: Option<String>,
    /// What the approvers are asked.
    #[serde(default)]
    pub message: Option<String>,
    /// Status.
    pub status: ApprovalStatus,
    /// Grants an approver must hold.
    #[serde(default)]
    pub required_grants: Vec<String>,
    /// Approvals needed (at least 1).
    pub required_count: u32,
    /// Decisions so far, in order.
    #[serde(default)]
    pub decisions: Vec<ApprovalDecision>,
    /// When the gate was opened.
    pub requested_at: Timestamp,
    /// When it was approved or rejected.
    #[serde(default)]
    pub decided_at: Option<Timestamp>,
}

impl Approval {
    /// A pending gate needing `required_count` approvals.
    pub fn pending(run_id: &str, approval_id: &str, required_count: u32) -> Self {
        Approval {
            run_id: run_id.to_owned(),
            approval_id: approval_id.to_owned(),
            step_id: None,
            message: None,
            status: ApprovalStatus::Pending,
            required_grants: Vec::new(),
            required_count: required_count.max(1),
            decisions: Vec::new(),
            requested_at: Timestamp::default(),
            decided_at: None,
        }
    }
}

/// A decision to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecisionRequest {
    /// Who decides.
    pub actor: String,
    /// The grants the actor holds; must cover the gate's required grants.
    pub grants: Vec<String>,
    /// Approve or reject.
    pub decision: Decision,
    /// Why.
    pub reason: Option<String>,
}

/// Storage of approval gates; decisions use compare-and-set so two deciders can't both win.
#[async_trait]
pub trait ApprovalStore: Send + Sync {
    /// Opens a gate; [`Conflict`](crate::Error::Conflict) if it exists.
    async fn create(&self, approval: Approval) -> Result<Approval>;
    /// [`create`](ApprovalStore::create) made on behalf of the run's owner (the runner opening
    /// a gate): applies only while `fence` is current, checked in the same transaction
    /// ([`StaleFence`](crate::Error::StaleFence) and nothing written otherwise).
    async fn create_fenced(&self, approval: Approval, fence: &Fence) -> Result<Approval>;
    /// Reads a gate.
    async fn get(&self, run: &str, approval_id: &str) -> Result<Option<Approval>>;
    /// Every gate of `run`, ordered by id.
    async fn list(&self, run: &str) -> Result<Vec<Approval>>;
    /// Records a decision. A gate no longer pending, or an actor who already decided, is a
    /// [`Conflict`](crate::Error::Conflict); missing grants are invalid input.
    async fn decide(
        &self,
        run: &str,
        approval_id: &str,
        request: DecisionRequest,
    ) -> Result<Approval>;
    /// Stores `approval` exactly as given, replacing any gate with its (run, id) (for import).
    async fn restore(&self, approval: Approval) -> Result<Approval>;
}
