//! The reader pool: read-only connections, so reads never queue behind the writer.
//!
//! In WAL mode a reader sees the last committed state and is not blocked by the writer's
//! open transaction. Reads are short point lookups and range scans, so they run on the
//! calling task's thread: handing them to another thread would cost more than the read.

use crate::connection::{open_reader, Target};
use berth_core::Result;
use parking_lot::Mutex;
use rusqlite::Connection;

/// Idle connections kept for reuse; more are opened under load and closed afterwards.
const MAX_IDLE: usize = 16;

pub(crate) struct Readers {
    target: Target,
    idle: Mutex<Vec<Connection>>,
}

impl Readers {
    pub(crate) fn new(target: Target) -> Self {
        Readers {
            target,
            idle: Mutex::new(Vec::new()),
        }
    }

    /// Runs `read` on an idle reader connection (opening one if none is free).
    pub(crate) fn read<T>(&self, read: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let idle = self.idle.lock().pop();
        let conn = match idle {
            Some(conn) => conn,
            None => open_reader(&self.target)?,
        };
        let result = read(&conn);
        // A connection left inside a transaction by a failed read is not reused.
        if conn.is_autocommit() {
            let mut idle = self.idle.lock();
            if idle.len() < MAX_IDLE {
                idle.push(conn);
            }
        }
        result
    }

    /// Runs `read` in one read transaction, so that several statements see one snapshot.
    pub(crate) fn snapshot<T>(&self, read: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        use crate::sql_error::SqlResult;
        self.read(|conn| {
            conn.prepare_cached("BEGIN")
                .and_then(|mut s| s.execute([]))
                .sql()?;
            let result = read(conn);
            let end = conn
                .prepare_cached("COMMIT")
                .and_then(|mut s| s.execute([]));
            if end.is_err() {
                let _ = conn.execute_batch("ROLLBACK");
            }
            let value = result?;
            end.sql()?;
            Ok(value)
        })
    }

    /// Closes every idle connection.
    pub(crate) fn close(&self) {
        self.idle.lock().clear();
    }
}
