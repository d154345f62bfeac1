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
pub mod export;
pub mod generic;
mod log;
mod run;

pub use approval::{
    Approval, ApprovalDecision, ApprovalStatus, ApprovalStore, Decision, DecisionRequest,
};
pub use artifact::{Artifact, ArtifactStatus, ArtifactStore};
pub use log::{LogEntry, LogLevel, LogStore};
pub use run::{
    FailurePolicy, PackRun, RunCursor, RunQuery, RunStatus, RunStore, StepState, StepStatus,
};

use crate::error::{Error, Result};

/// Longest run id, so derived collection names stay within their limit.
pub const MAX_RUN_ID: usize = 200;

/// Checks a run id: 1–200 bytes, no NUL or unit separator (used in derived keys).
pub fn validate_run_id(id: &str) -> Result<()> {
    if id.is_empty() || id.len() > MAX_RUN_ID || id.contains(['\0', '\u{1f}']) {
        return Err(Error::invalid(
            "run id",
            format!("must be 1–{MAX_RUN_ID} bytes without NUL or U+001F"),
        ));
    }
    Ok(())
}

/// Checks an optional tenant id: 1–200 bytes without NUL (it becomes part of index names).
pub fn validate_tenant_id(tenant: &Option<String>) -> Result<()> {
    match tenant {
        Some(t) if t.is_empty() || t.len() > 200 || t.contains('\0') => Err(Error::invalid(
            "tenant id",
            "must be 1–200 bytes without NUL",
        )),
        _ => Ok(()),
    }
}
