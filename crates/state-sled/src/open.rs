//! Opening a directory: inspect it, share it within the process, open sled, check the format.

use crate::database::{Database, FORMAT, FORMAT_KEY, META};
use crate::errors::{from_join, from_sled};
use crate::layout::{inspect, Layout, MARKER, MARKER_TEXT};
use crate::registry::{self, Shared};
use berth_core::{Error, Result};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Opens (or shares) the database at `path`, off the async runtime's threads. With
/// `existing_only` (a read-only open) a missing or empty directory is `NotFound`, not created.
pub(crate) async fn open_database(path: PathBuf, existing_only: bool) -> Result<Arc<Shared>> {
    tokio::task::spawn_blocking(move || open_blocking(&path, existing_only))
        .await
        .map_err(from_join)?
}

fn open_blocking(path: &Path, existing_only: bool) -> Result<Arc<Shared>> {
    let _span = tracing::debug_span!("sled open", path = %path.display()).entered();
    let _opening = registry::opening();
    // Already open in this process: share it, without reading files sled is writing.
    if let Some(db) = fs::canonicalize(path)
        .ok()
        .and_then(|key| registry::lookup(&key))
    {
        return Ok(db);
    }
    let layout = inspect(path)?;
    if layout == Layout::Fresh && existing_only {
        return Err(Error::NotFound(format!(
            "no database at {}",
            path.display()
        )));
    }
    if layout == Layout::Fresh {
        // Mark the directory as berth's before sled writes anything into it.
        fs::create_dir_all(path)
            .and_then(|()| fs::write(path.join(MARKER), MARKER_TEXT))
            .and_then(|()| fs::File::open(path)?.sync_all())
            .map_err(|e| Error::backend(format!("cannot create {}", path.display()), false, e))?;
    }
    let key = fs::canonicalize(path)
        .map_err(|e| Error::backend(format!("cannot resolve {}", path.display()), false, e))?;
    let db = open_sled(&key, layout)?;
    Ok(registry::insert(&key, db))
}

fn open_sled(path: &Path, layout: Layout) -> Result<Database> {
    let db = sled::Config::new().path(path).open().map_err(from_sled)?;
    if layout == Layout::Sled {
        check_format(&db)?;
    }
    let data_file = fs::File::open(path.join("db"))
        .map_err(|e| Error::backend("cannot open sled's data file", false, e))?;
    let database = Database::new(db, data_file)?;
    if database.meta.get(FORMAT_KEY).map_err(from_sled)?.is_none() {
        database
            .meta
            .insert(FORMAT_KEY, FORMAT)
            .map_err(from_sled)?;
        database.sync(berth_core::Durability::Immediate)?;
    }
    Ok(database)
}

/// Checks berth's format marker inside an existing database.
///
/// A database without it is accepted only if it holds nothing at all: one this crate
/// created and that died before the marker was written.
fn check_format(db: &sled::Db) -> Result<()> {
    let names = db.tree_names();
    if names.iter().any(|name| name.as_ref() == META.as_bytes()) {
        let meta = db.open_tree(META).map_err(from_sled)?;
        match meta.get(FORMAT_KEY).map_err(from_sled)? {
            Some(found) if found.as_ref() == FORMAT => return Ok(()),
            Some(found) => {
                return Err(Error::Corrupt(format!(
                    "unknown berth sled format {:?}",
                    String::from_utf8_lossy(&found)
                )))
            }
            None => {}
        }
    }
    for name in names {
        if !db.open_tree(&name).map_err(from_sled)?.is_empty() {
            return Err(Error::Corrupt(
                "berth's format marker is missing from a database that holds data".into(),
            ));
        }
    }
    Ok(())
}
