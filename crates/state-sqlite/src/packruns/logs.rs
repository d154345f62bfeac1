//! [`LogStore`] over `pack_run_logs`, keyed by (run, sequence).

use super::{check_fence, check_size};
use crate::db::Db;
use crate::sql_error::SqlResult;
use crate::values::{
    decode_doc, enum_from_text, enum_text, from_ordered_u64, ordered_u64, text_of, timestamp,
};
use async_trait::async_trait;
use berth_core::packrun::{validate_run_id, LogEntry, LogStore};
use berth_core::{Error, Fence, Result};
use rusqlite::{params, Connection, Row};
use std::collections::BTreeMap;
use std::sync::Arc;
use tracing::Instrument;

/// The SQLite backend's [`LogStore`].
pub struct SqliteLogs {
    db: Arc<Db>,
}

impl SqliteLogs {
    pub(crate) fn new(db: Arc<Db>) -> Self {
        SqliteLogs { db }
    }
}

const COLUMNS: &str = "run_id, sequence, timestamp, level, event_type, message, step_id, metadata";

fn entry_row(row: &Row<'_>) -> Result<LogEntry> {
    let level = text_of(row.get_ref(3).sql()?, "log level")?;
    let step_id: Option<String> = row.get(6).sql()?;
    Ok(LogEntry {
        run_id: text_of(row.get_ref(0).sql()?, "run id")?,
        sequence: from_ordered_u64(row.get(1).sql()?),
        timestamp: timestamp(row.get(2).sql()?),
        level: enum_from_text("log level", &level)?,
        event_type: text_of(row.get_ref(4).sql()?, "event type")?,
        message: text_of(row.get_ref(5).sql()?, "log message")?,
        step_id,
        metadata: decode_doc(
            &text_of(row.get_ref(7).sql()?, "log metadata")?,
            "log metadata",
        )?,
    })
}

pub(super) fn stored(conn: &Connection, run: &str, sequence: u64) -> Result<Option<LogEntry>> {
    let sql = format!("SELECT {COLUMNS} FROM pack_run_logs WHERE run_id = ?1 AND sequence = ?2");
    let mut stmt = conn.prepare_cached(&sql).sql()?;
    let mut rows = stmt.query(params![run, ordered_u64(sequence)]).sql()?;
    match rows.next().sql()? {
        Some(row) => entry_row(row).map(Some),
        None => Ok(None),
    }
}

fn key(sequence: u64) -> String {
    format!("{sequence:020}")
}

/// Decides which entries are new, with the generic store's rules and error order: runs in
/// id order, entries in given order, judged against what was stored before this append.
fn plan<'a>(conn: &Connection, entries: &'a [LogEntry]) -> Result<Vec<&'a LogEntry>> {
    let mut by_run: BTreeMap<&str, Vec<(usize, &LogEntry)>> = BTreeMap::new();
    for (i, e) in entries.iter().enumerate() {
        by_run.entry(e.run_id.as_str()).or_default().push((i, e));
    }
    let mut fresh = Vec::new();
    for (run, group) in by_run {
        let coll = format!("pack_run_logs:{run}");
        let mut existing = Vec::with_capacity(group.len());
        for (_, e) in &group {
            existing.push(stored(conn, run, e.sequence)?);
        }
        let mut pending: BTreeMap<u64, &LogEntry> = BTreeMap::new();
        for ((i, entry), old) in group.into_iter().zip(existing) {
            if let Some(old) = old {
                if old != *entry {
                    return Err(Error::conflict(
                        i,
                        &coll,
                        &key(entry.sequence),
                        "a different entry is stored under this sequence",
                    ));
                }
                continue;
            }
            match pending.get(&entry.sequence) {
                Some(prev) if *prev != entry => {
                    return Err(Error::conflict(
                        i,
                        &coll,
                        &key(entry.sequence),
                        "two different entries with one sequence in the same append",
                    ));
                }
                Some(_) => {}
                None => {
                    pending.insert(entry.sequence, entry);
                    fresh.push(entry);
                }
            }
        }
    }
    Ok(fresh)
}

pub(super) fn insert(conn: &Connection, e: &LogEntry) -> Result<()> {
    let level = enum_text("log level", &e.level)?;
    let metadata = serde_json::to_string(&e.metadata)
        .map_err(|err| Error::invalid("log metadata", err.to_string()))?;
    let sql =
        format!("INSERT INTO pack_run_logs ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
    conn.prepare_cached(&sql)
        .and_then(|mut s| {
            s.execute(params![
                e.run_id,
                ordered_u64(e.sequence),
                e.timestamp.millis(),
                level,
                e.event_type,
                e.message,
                e.step_id,
                metadata
            ])
        })
        .sql()
        .map(|_| ())
}

#[async_trait]
impl LogStore for SqliteLogs {
    async fn append(&self, entries: &[LogEntry]) -> Result<usize> {
        self.append_with(entries, None).await
    }

    async fn append_fenced(&self, entries: &[LogEntry], fence: &Fence) -> Result<usize> {
        self.append_with(entries, Some(fence.clone())).await
    }
    async fn read(&self, run: &str, after: Option<u64>, limit: usize) -> Result<Vec<LogEntry>> {
        validate_run_id(run)?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let (op, from) = match after {
            Some(a) => (">", ordered_u64(a)),
            None => (">=", i64::MIN),
        };
        let sql = format!(
            "SELECT {COLUMNS} FROM pack_run_logs WHERE run_id = ?1 AND sequence {op} ?2 \
             ORDER BY sequence LIMIT ?3"
        );
        let span = tracing::trace_span!("sqlite.logs.read", run, ?after, limit);
        span.in_scope(|| {
            self.db.readers.read(|conn| {
                let mut stmt = conn.prepare_cached(&sql).sql()?;
                let mut rows = stmt.query(params![run, from, limit]).sql()?;
                let mut out = Vec::new();
                while let Some(row) = rows.next().sql()? {
                    out.push(entry_row(row)?);
                }
                Ok(out)
            })
        })
    }

    async fn last_sequence(&self, run: &str) -> Result<Option<u64>> {
        validate_run_id(run)?;
        let span = tracing::trace_span!("sqlite.logs.last_sequence", run);
        span.in_scope(|| {
            self.db.readers.read(|conn| {
                let last: Option<i64> = conn
                    .prepare_cached("SELECT MAX(sequence) FROM pack_run_logs WHERE run_id = ?1")
                    .and_then(|mut s| s.query_row(params![run], |r| r.get(0)))
                    .sql()?;
                Ok(last.map(from_ordered_u64))
            })
        })
    }
}

impl SqliteLogs {
    async fn append_with(&self, entries: &[LogEntry], fence: Option<Fence>) -> Result<usize> {
        for e in entries {
            validate_run_id(&e.run_id)?;
        }
        if entries.is_empty() && fence.is_none() {
            return Ok(0);
        }
        let clock = self.db.clock.clone();
        let entries = entries.to_vec();
        let span = tracing::debug_span!("sqlite.logs.append", entries = entries.len());
        self.db
            .writer
            .run(move |conn| {
                check_fence(conn, fence.as_ref(), clock.now())?;
                let fresh = plan(conn, &entries)?;
                // Like a batch, every value is checked before anything is written.
                for e in &fresh {
                    check_size(e)?;
                }
                for e in &fresh {
                    insert(conn, e)?;
                }
                Ok(fresh.len())
            })
            .instrument(span)
            .await
    }
}
