//! Native pack-run stores on seed 002's collections.

mod approvals;
mod artifacts;
mod bundle;
mod doc;
mod fenced;
mod logs;
mod runs;

pub use approvals::MongoApprovals;
pub use artifacts::MongoArtifacts;
pub use logs::MongoLogs;
pub use runs::MongoRuns;
