//! Opening a database: path checks, the read-only probe, migration, and assembling the
//! [`Store`].

use crate::connection::{enable_wal, open_writer, Target};
use crate::db::Db;
use crate::leases::SqliteLeases;
use crate::packruns::{SqliteApprovals, SqliteArtifacts, SqliteLogs, SqliteRuns};
use crate::readers::Readers;
use crate::records::SqliteRecords;
use crate::schema::{self, open_error};
use crate::sessions::SqliteSessions;
use crate::stats::WriterStats;
use crate::writer::Writer;
use berth_core::{Capabilities, Error, OpenOptions, Result, Store};
use std::path::Path;
use std::sync::Arc;

/// What a file database declares: persistent, atomic, shared between processes (through
/// SQLite's file locks), with native pack-run tables.
pub const CAPABILITIES: Capabilities = Capabilities::new(true, true, true, true);

/// What a private in-memory database declares: gone when closed, not shared.
pub const MEMORY_CAPABILITIES: Capabilities = Capabilities::new(false, true, false, true);

/// Opens (creating if needed) the berth database at `path`.
///
/// Fails without touching the file when it is not a SQLite database or is damaged
/// ([`Corrupt`](berth_core::Error::Corrupt)), is a SQLite database of another application
/// (`Corrupt`), has a newer berth schema ([`Unsupported`](berth_core::Error::Unsupported)),
/// or cannot be written: a read-only file or directory, or a path that cannot be opened, is
/// [`InvalidInput`](berth_core::Error::InvalidInput) (the caller must pick another path; retrying
/// does not help). An older schema is upgraded.
///
/// With [`OpenOptions::read_only`] nothing is created, upgraded or locked for writing: a
/// missing or empty file is [`NotFound`](berth_core::Error::NotFound) ("no database at PATH"),
/// an older schema `Unsupported`, and every write through the store fails with
/// [`ReadOnly`](berth_core::Error::ReadOnly). Reads work while another process holds the write
/// lock and on a file or file system that cannot be written.
pub async fn open(path: impl AsRef<Path>, options: OpenOptions) -> Result<Store> {
    open_with_stats(path, options).await.map(|(store, _)| store)
}

/// Like [`open`], and also returns the writer's [`WriterStats`].
pub async fn open_with_stats(
    path: impl AsRef<Path>,
    options: OpenOptions,
) -> Result<(Store, WriterStats)> {
    let path = path.as_ref();
    let what = path.display().to_string();
    let _span = tracing::debug_span!("sqlite.open", path = %what).entered();
    if options.is_read_only() {
        return open_read_only(path, &what, options);
    }
    check_path(path, &what)?;
    if std::fs::metadata(path)
        .map(|m| m.len() > 0)
        .unwrap_or(false)
    {
        schema::probe(path)?;
    }
    assemble(
        Target::File(path.to_path_buf()),
        &what,
        options,
        CAPABILITIES,
    )
}

/// Opens an existing database for reading only ([`Access::ReadOnly`](berth_core::Access)):
/// nothing is created, migrated or locked for writing. Only the reader pool's
/// `SQLITE_OPEN_READ_ONLY` connections touch the file, so it works while another process holds
/// the write lock (WAL readers do not wait for writers) and on a file that cannot be written.
fn open_read_only(path: &Path, what: &str, options: OpenOptions) -> Result<(Store, WriterStats)> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_dir() => {
            return Err(Error::invalid(
                "database path",
                format!("{what} is a directory"),
            ))
        }
        Ok(meta) if meta.len() > 0 => {}
        Ok(_) => {
            return Err(Error::NotFound(format!(
                "no berth database at {what} (the file is empty)"
            )))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(Error::NotFound(format!("no database at {what}")))
        }
        Err(e) => {
            return Err(Error::invalid(
                "database path",
                format!("cannot read {what}: {e}"),
            ))
        }
    }
    let file = Target::File(path.to_path_buf());
    let target = match schema::probe_read_only(&file, what) {
        Ok(()) => file,
        // A WAL database can only be read through its `-shm`, which a read-only file system
        // or directory does not let a reader create. With no `-wal` there is nothing beyond
        // the file itself, and nobody can be writing it (a writer needs that `-shm` too), so
        // it is read as immutable.
        Err(e) if e.kind() == berth_core::ErrorKind::InvalidInput && !wal_of(path).exists() => {
            let immutable = Target::immutable(path);
            schema::probe_read_only(&immutable, what).map_err(|_| e)?;
            tracing::debug!(what, "reading as immutable: its -shm cannot be created");
            immutable
        }
        Err(e) => return Err(e),
    };
    tracing::debug!(what, "opened read-only");
    let store = build(target, Writer::read_only(what), options, CAPABILITIES);
    Ok((store, WriterStats::default()))
}

/// The `-wal` file next to the database at `path`.
fn wal_of(path: &Path) -> std::path::PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push("-wal");
    name.into()
}

/// Opens a new private in-memory database, freed when the last handle is dropped.
///
/// It runs the same writer thread and reader pool as a file. The connections share it
/// through SQLite's `memdb` VFS under a unique name (see `Target::private_memory`); it
/// uses an in-memory rollback journal instead of WAL, so a reader may briefly wait for a
/// commit in progress.
pub async fn open_in_memory(options: OpenOptions) -> Result<Store> {
    assemble(
        Target::private_memory(),
        "in-memory database",
        options,
        MEMORY_CAPABILITIES,
    )
    .map(|(store, _)| store)
}

fn check_path(path: &Path, what: &str) -> Result<()> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_dir() => Err(Error::invalid(
            "database path",
            format!("{what} is a directory"),
        )),
        // Checked explicitly because a privileged process could otherwise write anyway.
        Ok(meta) if meta.permissions().readonly() => Err(Error::invalid(
            "database path",
            format!("{what} is read-only"),
        )),
        _ => Ok(()),
    }
}

fn assemble(
    target: Target,
    what: &str,
    options: OpenOptions,
    capabilities: Capabilities,
) -> Result<(Store, WriterStats)> {
    let conn = open_writer(&target, options.durability).map_err(|e| open_error(what, e))?;
    if conn.is_readonly("main").unwrap_or(false) {
        return Err(Error::invalid(
            "database path",
            format!("{what} can only be opened read-only"),
        ));
    }
    enable_wal(&conn, &target).map_err(|e| open_error(what, e))??;
    schema::migrate(&conn, what)?;
    let stats = WriterStats::default();
    let writer = Writer::start(conn, stats.clone())?;
    Ok((build(target, writer, options, capabilities), stats))
}

fn build(
    target: Target,
    writer: Writer,
    options: OpenOptions,
    capabilities: Capabilities,
) -> Store {
    let db = Arc::new(Db {
        readers: Readers::new(target),
        writer,
        clock: options.clock.clone(),
    });
    Store::builder(
        "sqlite",
        Arc::new(SqliteRecords::new(db.clone())),
        Arc::new(SqliteLeases::new(db.clone())),
        capabilities,
        options.clone(),
    )
    .sessions(Arc::new(SqliteSessions::new(db.clone(), options.ids)))
    .pack_runs(
        Arc::new(SqliteRuns::new(db.clone())),
        Arc::new(SqliteLogs::new(db.clone())),
        Arc::new(SqliteArtifacts::new(db.clone())),
        Arc::new(SqliteApprovals::new(db)),
    )
    .build()
}
