//! Opening and configuring SQLite connections: the writer's and the readers'.

use crate::sql_error::SqlResult;
use berth_core::{Durability, Result};
use rusqlite::{Connection, OpenFlags};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// How long a connection waits for another connection's (or process's) lock before
/// failing with a retryable error.
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Prepared statements kept per connection; every statement of the crate fits.
const STATEMENT_CACHE: usize = 96;

/// Where the database lives.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    /// A file, shared with other connections and processes through WAL.
    File(PathBuf),
    /// A private in-memory database (a `memdb` URI unique to this open).
    Memory(String),
    /// A file read with `immutable=1` (a `file:` URI): SQLite neither locks it nor needs its
    /// `-shm`. Only for reading a file that nobody can write (see `open_read_only`).
    Immutable(String),
}

impl Target {
    /// A new private in-memory database name.
    ///
    /// SQLite's `memdb` VFS shares a database between the connections of one process that
    /// open the same name starting with `/`, and frees it when the last one closes. Unlike
    /// a shared-cache `mode=memory` database it uses ordinary file locking (so
    /// `busy_timeout` applies) instead of table locks that fail at once with
    /// `SQLITE_LOCKED`.
    pub(crate) fn private_memory() -> Target {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let nonce = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        Target::Memory(format!(
            "file:/berth-{}-{n}-{nonce}?vfs=memdb",
            std::process::id()
        ))
    }

    /// The file at `path`, read as immutable.
    pub(crate) fn immutable(path: &std::path::Path) -> Target {
        use std::os::unix::ffi::OsStrExt;
        let mut uri = String::from("file:");
        for &b in path.as_os_str().as_bytes() {
            if b.is_ascii_alphanumeric() || b"/._~-".contains(&b) {
                uri.push(char::from(b));
            } else {
                uri.push_str(&format!("%{b:02X}"));
            }
        }
        uri.push_str("?immutable=1");
        Target::Immutable(uri)
    }

    pub(crate) fn open(&self, flags: OpenFlags) -> rusqlite::Result<Connection> {
        match self {
            Target::File(path) => Connection::open_with_flags(path, flags),
            Target::Memory(uri) | Target::Immutable(uri) => {
                Connection::open_with_flags(uri, flags | OpenFlags::SQLITE_OPEN_URI)
            }
        }
    }

    /// Whether this is an in-memory database.
    pub(crate) fn is_memory(&self) -> bool {
        matches!(self, Target::Memory(_))
    }
}

/// Opens the one read-write connection, owned by the writer thread.
///
/// `synchronous=FULL` syncs the WAL on every commit (group); `NORMAL` syncs only at
/// checkpoints, so a power loss may drop the newest commits but never corrupts.
pub(crate) fn open_writer(target: &Target, durability: Durability) -> rusqlite::Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = target.open(flags)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    let synchronous = match durability {
        Durability::Immediate => "FULL",
        Durability::Relaxed => "NORMAL",
    };
    conn.pragma_update(None, "synchronous", synchronous)?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    Ok(conn)
}

/// Switches the database to WAL (a no-op for in-memory databases, which keep their
/// in-memory journal). Must run outside a transaction. Errors of the engine are returned
/// as they are, so the caller can tell an unusable path from a busy file.
pub(crate) fn enable_wal(conn: &Connection, target: &Target) -> rusqlite::Result<Result<()>> {
    if target.is_memory() {
        return Ok(Ok(()));
    }
    let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Ok(Err(berth_core::Error::backend_msg(
            format!("SQLite refused WAL mode (journal_mode is {mode})"),
            false,
        )));
    }
    Ok(Ok(()))
}

/// Opens a read-only connection for the reader pool.
pub(crate) fn open_reader(target: &Target) -> Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = target.open(flags).sql()?;
    conn.busy_timeout(BUSY_TIMEOUT).sql()?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

/// Opens a read-only connection to inspect an existing file before anything writes to it.
pub(crate) fn open_probe(path: &std::path::Path) -> rusqlite::Result<Connection> {
    open_probe_target(&Target::File(path.to_path_buf()))
}

/// Like [`open_probe`], for any target.
pub(crate) fn open_probe_target(target: &Target) -> rusqlite::Result<Connection> {
    let conn = target.open(OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    Ok(conn)
}
