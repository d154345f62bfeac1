//! A run restored with everything of it, inside one writer request.

use super::{approvals, artifacts, logs, runs};
use berth_core::packrun::{restored_version, Restored, RunBundle};
use berth_core::Result;
use rusqlite::Connection;

/// Writes `bundle`; the caller's savepoint undoes all of it when this returns an error.
pub(super) fn restore(conn: &Connection, bundle: &RunBundle) -> Result<Restored> {
    let id = &bundle.run.id;
    for a in &bundle.artifacts {
        artifacts::upsert(conn, a, &artifacts::checked_status(a)?)?;
    }
    for a in &bundle.approvals {
        approvals::upsert(conn, a)?;
    }
    let current = runs::read_run(conn, id)?;
    let run = match (restored_version(&bundle.run, current.as_ref()), current) {
        (None, Some(stored)) => stored,
        (version, _) => {
            let mut run = bundle.run.clone();
            run.version = version.unwrap_or(run.version);
            runs::put_run(conn, &run)?;
            run
        }
    };
    // A refused line (a different entry under a stored sequence) undoes everything above.
    let mut stored_logs = Vec::new();
    for e in &bundle.logs {
        stored_logs.extend(logs::stored(conn, id, e.sequence)?);
    }
    let fresh = bundle.new_logs(&stored_logs)?;
    for e in &fresh {
        super::check_size(*e)?;
        logs::insert(conn, e)?;
    }
    Ok(Restored {
        run,
        logs: fresh.len() as u64,
    })
}
