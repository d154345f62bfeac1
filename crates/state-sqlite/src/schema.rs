//! The schema, its version in `user_version`, and the checks that keep foreign, damaged or
//! newer files untouched.

use crate::sql_error::SqlResult;
use berth_core::{Error, Result};
use rusqlite::Connection;

/// The schema version this build writes and reads.
pub(crate) const SCHEMA_VERSION: i64 = 2;

/// `PRAGMA application_id` of a berth database: "bert" in ASCII.
pub(crate) const APPLICATION_ID: i64 = 0x6265_7274;

/// Tables every berth database of [`SCHEMA_VERSION`] has.
const TABLES: &[&str] = &[
    "counters",
    "leases",
    "pack_artifacts",
    "pack_run_approvals",
    "pack_run_logs",
    "pack_runs",
    "records",
    "runners",
    "sessions",
];

/// `MIGRATIONS[v]` upgrades a database from schema `v` to `v + 1`.
const MIGRATIONS: &[&str] = &[V1, V2];

/// Schema 1. Keys are BLOBs so that `ORDER BY key` is byte order and prefix bounds (which
/// need not be valid UTF-8) compare correctly; every table is `WITHOUT ROWID`, clustered on
/// its natural key. `leases` has no index on `owner`: maintaining one doubled the cost of
/// acquiring 300 shards, while `held_by`/`release_all` scan a table of a few thousand rows.
const V1: &str = "
CREATE TABLE records (
    collection TEXT NOT NULL,
    key BLOB NOT NULL,
    value TEXT NOT NULL,
    version INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (collection, key)
) WITHOUT ROWID;

CREATE TABLE counters (
    name TEXT PRIMARY KEY NOT NULL,
    value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO counters (name, value) VALUES ('machine_id', 0);

CREATE TABLE runners (
    address TEXT PRIMARY KEY NOT NULL,
    runner TEXT NOT NULL,
    healthy INTEGER NOT NULL,
    machine_id INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE leases (
    shard TEXT PRIMARY KEY NOT NULL,
    owner TEXT,
    token INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE pack_runs (
    id TEXT PRIMARY KEY NOT NULL,
    tenant_id TEXT,
    status TEXT NOT NULL,
    version INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    doc TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX pack_runs_by_updated ON pack_runs (updated_at, id);
CREATE INDEX pack_runs_by_tenant ON pack_runs (tenant_id, updated_at, id)
    WHERE tenant_id IS NOT NULL;

CREATE TABLE pack_run_logs (
    run_id TEXT NOT NULL,
    sequence INTEGER NOT NULL,
    timestamp INTEGER NOT NULL,
    level TEXT NOT NULL,
    event_type TEXT NOT NULL,
    message TEXT NOT NULL,
    step_id TEXT,
    metadata TEXT NOT NULL,
    PRIMARY KEY (run_id, sequence)
) WITHOUT ROWID;

CREATE TABLE pack_artifacts (
    run_id TEXT NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    source_path TEXT,
    stored_path TEXT,
    status TEXT NOT NULL,
    notes TEXT,
    captured_at INTEGER NOT NULL,
    PRIMARY KEY (run_id, name)
) WITHOUT ROWID;

CREATE TABLE pack_run_approvals (
    run_id TEXT NOT NULL,
    approval_id TEXT NOT NULL,
    status TEXT NOT NULL,
    doc TEXT NOT NULL,
    PRIMARY KEY (run_id, approval_id)
) WITHOUT ROWID;
";

/// Schema 2: sessions. A lease row taken in a session names it and lives exactly as long as
/// the session row, so a keepalive is one row's update however much the session holds. No
/// index on `leases.session` for the same reason as none on `owner`.
const V2: &str = "
CREATE TABLE sessions (
    id BLOB PRIMARY KEY NOT NULL,
    owner TEXT NOT NULL,
    ttl INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
ALTER TABLE leases ADD COLUMN session BLOB;
";

/// What a database file says about itself.
struct Identity {
    application_id: i64,
    user_version: i64,
    tables: Vec<String>,
}

fn identity(conn: &Connection) -> rusqlite::Result<Identity> {
    let application_id = conn.query_row("PRAGMA application_id", [], |r| r.get(0))?;
    let user_version = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let mut stmt = conn.prepare(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
    )?;
    let tables = stmt
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(Identity {
        application_id,
        user_version,
        tables,
    })
}

/// Whether the file is a berth database this build can use (`Ok(true)`: it needs no
/// creation; `Ok(false)`: it is empty and will be created).
fn judge(id: &Identity, what: &str) -> Result<bool> {
    if id.application_id == 0 && id.user_version == 0 && id.tables.is_empty() {
        return Ok(false);
    }
    if id.application_id != APPLICATION_ID {
        return Err(Error::Corrupt(format!(
            "{what} is a SQLite database but not a berth one (application_id {:#x}, \
             user_version {}, {} tables)",
            id.application_id,
            id.user_version,
            id.tables.len()
        )));
    }
    if id.user_version > SCHEMA_VERSION {
        return Err(Error::Unsupported(format!(
            "{what} has berth schema version {}, newer than the {SCHEMA_VERSION} this build \
             knows; open it with a newer berth",
            id.user_version
        )));
    }
    if id.user_version == SCHEMA_VERSION {
        if let Some(missing) = TABLES.iter().find(|t| !id.tables.iter().any(|n| n == *t)) {
            return Err(Error::Corrupt(format!(
                "{what} is a berth database without its table {missing}"
            )));
        }
    }
    Ok(true)
}

/// Inspects an existing file through a read-only connection, so that a foreign, damaged
/// or newer file is refused before anything could write to it.
pub(crate) fn probe(path: &std::path::Path) -> Result<()> {
    let what = path.display().to_string();
    let conn = crate::connection::open_probe(path).map_err(|e| open_error(&what, e))?;
    let id = identity(&conn).map_err(|e| open_error(&what, e))?;
    judge(&id, &what).map(|_| ())
}

/// Inspects an existing file to be read without ever writing it: it must be a berth database
/// of exactly this build's schema (an empty or schemaless file is no database; an older one
/// would need a migration, which is a write).
pub(crate) fn probe_read_only(target: &crate::connection::Target, what: &str) -> Result<()> {
    let unreadable = |e: rusqlite::Error| match &e {
        rusqlite::Error::SqliteFailure(f, _)
            if matches!(
                f.code,
                rusqlite::ErrorCode::CannotOpen | rusqlite::ErrorCode::PermissionDenied
            ) =>
        {
            Error::invalid(
                "database path",
                format!("cannot open {what} for reading: {e}"),
            )
        }
        _ => crate::sql_error::from_sql(e),
    };
    let conn = crate::connection::open_probe_target(target).map_err(unreadable)?;
    let id = identity(&conn).map_err(unreadable)?;
    if !judge(&id, what)? {
        return Err(Error::NotFound(format!(
            "no berth database at {what} (the file is empty)"
        )));
    }
    if id.user_version < SCHEMA_VERSION {
        return Err(Error::Unsupported(format!(
            "{what} has berth schema version {}, older than the {SCHEMA_VERSION} this build \
             reads; open it once for writing to upgrade it",
            id.user_version
        )));
    }
    Ok(())
}

/// Creates or upgrades the schema in one write transaction (taken with `BEGIN IMMEDIATE`
/// so that two processes opening a new file at once do not both create it).
pub(crate) fn migrate(conn: &Connection, what: &str) -> Result<()> {
    conn.execute_batch("BEGIN IMMEDIATE")
        .map_err(|e| open_error(what, e))?;
    let result = upgrade(conn, what);
    match result {
        Ok(()) => conn
            .execute_batch("COMMIT")
            .map_err(|e| open_error(what, e)),
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

fn upgrade(conn: &Connection, what: &str) -> Result<()> {
    let id = identity(conn).map_err(|e| open_error(what, e))?;
    let from = if judge(&id, what)? {
        id.user_version
    } else {
        0
    };
    if from == SCHEMA_VERSION {
        return Ok(());
    }
    let start = usize::try_from(from).unwrap_or(0);
    for (step, sql) in MIGRATIONS.iter().enumerate().skip(start) {
        tracing::debug!(what, to = step + 1, "migrating berth schema");
        conn.execute_batch(sql).sql()?;
    }
    conn.execute_batch(&format!(
        "PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = {SCHEMA_VERSION};"
    ))
    .sql()
}

/// Maps an error met while opening: unusable paths are invalid input, everything else as usual.
pub(crate) fn open_error(what: &str, e: rusqlite::Error) -> Error {
    use rusqlite::ErrorCode::{CannotOpen, PermissionDenied, ReadOnly};
    match &e {
        rusqlite::Error::SqliteFailure(f, _)
            if matches!(f.code, CannotOpen | ReadOnly | PermissionDenied) =>
        {
            Error::invalid(
                "database path",
                format!("cannot open {what} for writing: {e}"),
            )
        }
        _ => crate::sql_error::from_sql(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_version_has_its_migration_and_creates_the_listed_tables() {
        assert_eq!(MIGRATIONS.len() as i64, SCHEMA_VERSION);
        let conn = Connection::open_in_memory().unwrap();
        migrate(&conn, "test").unwrap();
        let id = identity(&conn).unwrap();
        assert_eq!(id.tables, TABLES);
        assert_eq!(
            (id.application_id, id.user_version),
            (APPLICATION_ID, SCHEMA_VERSION)
        );
        assert!(judge(&id, "test").unwrap());
        // Migrating again is a no-op.
        migrate(&conn, "test").unwrap();
    }

    #[test]
    fn foreign_and_newer_files_are_judged_before_use() {
        let newer = Identity {
            application_id: APPLICATION_ID,
            user_version: SCHEMA_VERSION + 1,
            tables: Vec::new(),
        };
        assert_eq!(
            judge(&newer, "f").unwrap_err().kind(),
            berth_core::ErrorKind::Unsupported
        );
        let foreign = Identity {
            application_id: 0,
            user_version: 0,
            tables: vec!["invoices".into()],
        };
        assert_eq!(
            judge(&foreign, "f").unwrap_err().kind(),
            berth_core::ErrorKind::Corrupt
        );
        let damaged = Identity {
            application_id: APPLICATION_ID,
            user_version: SCHEMA_VERSION,
            tables: vec!["records".into()],
        };
        assert_eq!(
            judge(&damaged, "f").unwrap_err().kind(),
            berth_core::ErrorKind::Corrupt
        );
        let empty = Identity {
            application_id: 0,
            user_version: 0,
            tables: Vec::new(),
        };
        assert!(!judge(&empty, "f").unwrap());
    }
}
