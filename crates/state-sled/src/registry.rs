//! The process-wide registry of open databases: one sled `Db` per directory per process.
//!
//! sled locks its directory with `flock`, which also refuses a second open from the same
//! process. Handles opened on the same path therefore share one [`Shared`] database; the
//! entry is removed only after that database has been closed (lock released), and a lookup
//! that finds a database in the middle of closing waits for it instead of failing on the lock.

use crate::database::Database;
use parking_lot::{Condvar, Mutex, MutexGuard};
use std::collections::BTreeMap;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::time::Duration;

static OPEN: Mutex<BTreeMap<PathBuf, Weak<Shared>>> = Mutex::new(BTreeMap::new());
static CLOSED: Condvar = Condvar::new();
/// Held for a whole open, so two opens in this process never inspect or create one
/// directory at the same time.
static OPENING: Mutex<()> = Mutex::new(());

/// Serialises opens within the process; hold the guard from lookup to insert.
pub(crate) fn opening() -> MutexGuard<'static, ()> {
    OPENING.lock()
}

/// The live database registered at `key`, waiting for one that is closing to be closed.
pub(crate) fn lookup(key: &Path) -> Option<Arc<Shared>> {
    let mut open_dbs = OPEN.lock();
    loop {
        match open_dbs.get(key).map(Weak::upgrade) {
            Some(Some(db)) => return Some(db),
            // Its last handle is being dropped right now; the entry goes once sled closed.
            Some(None) => {
                let _ = CLOSED.wait_for(&mut open_dbs, Duration::from_millis(50));
            }
            None => return None,
        }
    }
}

/// Registers a database just opened at `key` (the caller holds [`opening`]).
pub(crate) fn insert(key: &Path, db: Database) -> Arc<Shared> {
    let shared = Arc::new(Shared {
        db,
        _registration: Registration {
            key: key.to_path_buf(),
        },
    });
    OPEN.lock()
        .insert(key.to_path_buf(), Arc::downgrade(&shared));
    shared
}

/// A registered database, shared by every handle on its directory in this process.
///
/// Fields drop in order: the database first (sled flushes and releases its directory lock),
/// the registration last (which lets a waiting opener proceed).
pub(crate) struct Shared {
    db: Database,
    _registration: Registration,
}

impl Deref for Shared {
    type Target = Database;

    fn deref(&self) -> &Database {
        &self.db
    }
}

/// Removes the registry entry once the database before it has been dropped.
#[derive(Debug)]
struct Registration {
    key: PathBuf,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut open_dbs = OPEN.lock();
        if open_dbs
            .get(&self.key)
            .is_some_and(|w| w.strong_count() == 0)
        {
            open_dbs.remove(&self.key);
        }
        drop(open_dbs);
        CLOSED.notify_all();
    }
}
