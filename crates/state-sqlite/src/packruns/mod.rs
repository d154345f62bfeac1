//! Native pack-run stores: runs, logs, artifacts and approvals in their own tables.
//!
//! They keep the semantics of berth-core's generic stores (same errors, orders and
//! idempotence), but each call is one request on the writer, so no compare-and-set loop.

mod approvals;
mod artifacts;
mod bundle;
mod logs;
mod runs;

pub use approvals::SqliteApprovals;
pub use artifacts::SqliteArtifacts;
pub use logs::SqliteLogs;
pub use runs::SqliteRuns;

use berth_core::{limits, Fence, Result, Timestamp};
use rusqlite::Connection;
use serde::Serialize;

/// Refuses the write of an owner whose `fence` is no longer current; runs first in the same
/// transaction as the write it guards.
fn check_fence(conn: &Connection, fence: Option<&Fence>, now: Timestamp) -> Result<()> {
    match fence {
        Some(f) if !crate::commit::fence_holds(conn, &f.shard, f.token, now)? => Err(f.stale()),
        _ => Ok(()),
    }
}

/// Refuses a document larger than a record value may be, as the generic stores do.
fn check_size<T: Serialize>(doc: &T) -> Result<serde_json::Value> {
    let value = berth_core::codec::to_json(doc)?;
    limits::validate_value(&value)?;
    Ok(value)
}

pub(crate) use berth_core::packrun::validate_tenant_id as validate_tenant;
