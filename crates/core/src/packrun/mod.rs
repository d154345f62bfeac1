//! Task-runner pack-run records: runs, logs, artifacts and approvals (seed 002).
//!
//! Each store is a trait; [`generic`] implements all four over any
//! [`RecordStore`](crate::RecordStore), and a backend may implement them natively.
//!
//! ```
//! # async fn demo(store: berth_core::Store) -> berth_core::Result<()> {
//! use berth_core::packrun::*;
//! let run = store.runs().create(PackRun::new("run-1", "sha256:…", serde_json::json!({}))).await?;
//! let line = LogEntry {
//!     run_id: run.id.clone(), sequence: 1, timestamp: store.clock().now(),
//!     level: LogLevel::Info, event_type: "step.started".into(), message: "build".into(),
//!     step_id: Some("build".into()), metadata: Default::default(),
//! };
//! store.logs().append(&[line.clone()]).await?;
//! assert_eq!(store.logs().append(&[line]).await?, 0); // idempotent on (run, sequence)
//! store.approvals().create(Approval::pending(&run.id, "release", 1)).await?;
//! let decided = store.approvals().decide(&run.id, "release", DecisionRequest {
//!     actor: "ann".into(), grants: vec![], decision: Decision::Approve, reason: None,
//! }).await?;
//! assert_eq!(decided.status, ApprovalStatus::Approved);
//! # Ok(()) }
//! ```

mod approval;
mod artifact;
mod bundle;
pub mod export;
pub mod generic;
mod log;
mod page;
mod run;

pub use approval::{
    Approval, ApprovalDecision, ApprovalStatus, ApprovalStore, Decision, DecisionRequest,
};
pub use artifact::{Artifact, ArtifactStatus, ArtifactStore};
pub use bundle::{restored_version, Restored, RunBundle};
pub use log::{LogEntry, LogLevel, LogStore};
pub use page::{Damaged, RunEntry, RunPage};
pub use run::{
    FailurePolicy, PackRun, RunCursor, RunQuery, RunStatus, RunStore, StepState, StepStatus,
};

use crate::error::Result;

/// Longest run id.
pub const MAX_RUN_ID: usize = crate::ident::MAX_ID;

/// Checks a run id against the identifier rule ([`crate::ident`]): it becomes keys, index
/// names and directory names.
pub fn validate_run_id(id: &str) -> Result<()> {
    crate::ident::validate_id("run id", id)
}

/// Checks an artifact name against the identifier rule: it becomes a key and a file name.
pub fn validate_artifact_name(name: &str) -> Result<()> {
    crate::ident::validate_id("artifact name", name)
}

/// Checks an approval (gate) id against the identifier rule: it becomes a key.
pub fn validate_gate_id(id: &str) -> Result<()> {
    crate::ident::validate_id("gate id", id)
}

/// Checks an optional tenant id against the identifier rule ([`crate::ident`]).
pub fn validate_tenant_id(tenant: &Option<String>) -> Result<()> {
    match tenant {
        Some(t) => crate::ident::validate_id("tenant id", t),
        None => Ok(()),
    }
}
