//! Native pack-run stores: runs, logs, artifacts and approvals in their own tables.
//!
//! They keep the semantics of berth-core's generic stores (same errors, orders and
//! idempotence), but each call is one request on the writer, so no compare-and-set loop.

mod approvals;
mod artifacts;
mod logs;
mod runs;

pub use approvals::SqliteApprovals;
pub use artifacts::SqliteArtifacts;
pub use logs::SqliteLogs;
pub use runs::SqliteRuns;

use berth_core::{limits, Error, Result};
use serde::Serialize;

/// Refuses a document larger than a record value may be, as the generic stores do.
fn check_size<T: Serialize>(doc: &T) -> Result<serde_json::Value> {
    let value = berth_core::codec::to_json(doc)?;
    limits::validate_value(&value)?;
    Ok(value)
}

/// Checks a tenant id: 1–200 bytes, no NUL (the generic store's rule).
fn validate_tenant(tenant: &Option<String>) -> Result<()> {
    match tenant {
        Some(t) if t.is_empty() || t.len() > 200 || t.contains('\0') => Err(Error::invalid(
            "tenant id",
            "must be 1–200 bytes without NUL",
        )),
        _ => Ok(()),
    }
}
