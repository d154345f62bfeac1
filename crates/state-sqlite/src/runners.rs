//! The runner registry in SQL: machine ids from a persisted counter, never reused.

use crate::sql_error::SqlResult;
use crate::values::text_of;
use berth_core::{Error, MachineId, Result, RunnerEntry};
use rusqlite::{params, Connection, OptionalExtension};

/// Registers `runner` at `address`, keeping the address's machine id if it has one.
pub(crate) fn register(
    conn: &Connection,
    address: &str,
    runner: &str,
    healthy: bool,
) -> Result<MachineId> {
    let existing: Option<i64> = conn
        .prepare_cached("SELECT machine_id FROM runners WHERE address = ?1")
        .and_then(|mut s| s.query_row(params![address], |r| r.get(0)).optional())
        .sql()?;
    let id = match existing {
        Some(id) => id,
        None => conn
            .prepare_cached(
                "UPDATE counters SET value = value + 1 WHERE name = 'machine_id' RETURNING value",
            )
            .and_then(|mut s| s.query_row([], |r| r.get(0)).optional())
            .sql()?
            .ok_or_else(|| Error::Corrupt("the machine id counter is missing".into()))?,
    };
    conn.prepare_cached(
        "INSERT INTO runners (address, runner, healthy, machine_id) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (address) DO UPDATE SET runner = excluded.runner, healthy = excluded.healthy",
    )
    .and_then(|mut s| s.execute(params![address, runner, healthy, id]))
    .sql()?;
    Ok(MachineId(id))
}

/// Removes the runner at `address`, if any.
pub(crate) fn unregister(conn: &Connection, address: &str) -> Result<()> {
    conn.prepare_cached("DELETE FROM runners WHERE address = ?1")
        .and_then(|mut s| s.execute(params![address]))
        .sql()
        .map(|_| ())
}

/// Sets the health flag; [`Error::NotFound`] if nobody is registered at `address`.
pub(crate) fn set_health(conn: &Connection, address: &str, healthy: bool) -> Result<()> {
    let changed = conn
        .prepare_cached("UPDATE runners SET healthy = ?2 WHERE address = ?1")
        .and_then(|mut s| s.execute(params![address, healthy]))
        .sql()?;
    if changed == 0 {
        return Err(Error::NotFound(format!("runner {address}")));
    }
    Ok(())
}

/// Every runner, ordered by address.
pub(crate) fn all(conn: &Connection) -> Result<Vec<RunnerEntry>> {
    let mut stmt = conn
        .prepare_cached("SELECT address, runner, healthy, machine_id FROM runners ORDER BY address")
        .sql()?;
    let mut rows = stmt.query([]).sql()?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().sql()? {
        out.push(RunnerEntry {
            address: text_of(row.get_ref(0).sql()?, "runner address")?,
            runner: text_of(row.get_ref(1).sql()?, "runner")?,
            healthy: row.get(2).sql()?,
            machine_id: MachineId(row.get(3).sql()?),
        });
    }
    Ok(out)
}
