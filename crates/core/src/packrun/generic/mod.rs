//! The pack-run stores built on any [`RecordStore`](crate::RecordStore), for backends without a native version.
//!
//! Layout: runs in `pack_runs` (key = run id) with index collections `pack_runs.by_updated`
//! and `pack_runs.by_tenant:<tenant>`; logs in `pack_run_logs:<run>` (key = zero-padded
//! sequence); artifacts in `pack_artifacts:<run>` (key = name); approvals in
//! `pack_run_approvals:<run>` (key = approval id).

mod approvals;
mod artifacts;
mod logs;
mod runs;

pub use approvals::{apply_decision, GenericApprovals};
pub use artifacts::GenericArtifacts;
pub use logs::GenericLogs;
pub use runs::GenericRuns;

/// How many times a compare-and-set loop retries after losing a race.
pub(crate) const CAS_RETRIES: usize = 16;
