//! [`RecordStore`] over the `records` table.

use crate::commit;
use crate::db::Db;
use crate::scan::{self, record_row};
use crate::sql_error::SqlResult;
use async_trait::async_trait;
use berth_core::{limits, Batch, Committed, Record, RecordStore, Result, Scan};
use rusqlite::params;
use std::sync::Arc;
use tracing::Instrument;

/// The SQLite backend's [`RecordStore`]: reads on the reader pool, batches on the writer.
pub struct SqliteRecords {
    db: Arc<Db>,
}

impl SqliteRecords {
    pub(crate) fn new(db: Arc<Db>) -> Self {
        SqliteRecords { db }
    }
}

#[async_trait]
impl RecordStore for SqliteRecords {
    async fn get_many(&self, collection: &str, keys: &[String]) -> Result<Vec<Option<Record>>> {
        limits::validate_collection(collection)?;
        for k in keys {
            limits::validate_key(k)?;
        }
        let span = tracing::trace_span!("sqlite.get_many", collection, keys = keys.len());
        span.in_scope(|| {
            let read = |conn: &rusqlite::Connection| {
                let mut stmt = conn
                    .prepare_cached(
                        "SELECT key, value, version, created_at, updated_at FROM records \
                         WHERE collection = ?1 AND key = ?2",
                    )
                    .sql()?;
                let mut out = Vec::with_capacity(keys.len());
                for key in keys {
                    let mut rows = stmt.query(params![collection, key.as_bytes()]).sql()?;
                    out.push(match rows.next().sql()? {
                        Some(row) => Some(record_row(row)?),
                        None => None,
                    });
                }
                Ok(out)
            };
            // Several keys are read in one snapshot, as one round trip would.
            if keys.len() > 1 {
                self.db.readers.snapshot(read)
            } else {
                self.db.readers.read(read)
            }
        })
    }

    async fn scan(&self, collection: &str, scan: &Scan) -> Result<Vec<Record>> {
        limits::validate_collection(collection)?;
        let span = tracing::trace_span!("sqlite.scan", collection, limit = ?scan.limit, reverse = scan.reverse);
        span.in_scope(|| {
            self.db
                .readers
                .read(|conn| scan::scan(conn, collection, scan))
        })
    }

    async fn count(&self, collection: &str, prefix: &str) -> Result<u64> {
        limits::validate_collection(collection)?;
        let span = tracing::trace_span!("sqlite.count", collection);
        span.in_scope(|| {
            self.db
                .readers
                .read(|conn| scan::count(conn, collection, prefix))
        })
    }

    async fn commit(&self, batch: Batch) -> Result<Committed> {
        batch.validate()?;
        let clock = self.db.clock.clone();
        let span = tracing::debug_span!("sqlite.commit", ops = batch.len());
        if batch.is_empty() {
            return Ok(Committed {
                versions: Vec::new(),
                at: clock.now(),
            });
        }
        self.db
            .writer
            .run(move |conn| commit::apply(conn, &batch, clock.now()))
            .instrument(span)
            .await
    }
}
