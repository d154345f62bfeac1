//! [`RunStore`] over `pack_runs`, listed through its `updated_at` and tenant indexes.

use super::{check_fence, check_size, validate_tenant};
use crate::db::Db;
use crate::sql_error::SqlResult;
use crate::values::{decode_doc, enum_text, json_text, text_of, timestamp, to_i64, to_u64};
use async_trait::async_trait;
use berth_core::packrun::{
    validate_run_id, PackRun, Restored, RunBundle, RunCursor, RunEntry, RunPage, RunQuery, RunStore,
};
use berth_core::{Error, Fence, Result};
use rusqlite::{params, Connection, OptionalExtension, Row};
use std::sync::Arc;
use tracing::Instrument;

const RUNS: &str = "pack_runs";

/// The SQLite backend's [`RunStore`].
pub struct SqliteRuns {
    db: Arc<Db>,
}

impl SqliteRuns {
    pub(crate) fn new(db: Arc<Db>) -> Self {
        SqliteRuns { db }
    }
}

fn run_row(row: &Row<'_>) -> Result<PackRun> {
    let doc = text_of(row.get_ref(0).sql()?, "pack run")?;
    let mut run: PackRun = decode_doc(&doc, "pack run")?;
    run.version = to_u64("version", row.get(1).sql()?)?;
    Ok(run)
}

pub(super) fn read_run(conn: &Connection, id: &str) -> Result<Option<PackRun>> {
    let mut stmt = conn
        .prepare_cached("SELECT doc, version FROM pack_runs WHERE id = ?1")
        .sql()?;
    let mut rows = stmt.query(params![id]).sql()?;
    match rows.next().sql()? {
        Some(row) => run_row(row).map(Some),
        None => Ok(None),
    }
}

#[async_trait]
impl RunStore for SqliteRuns {
    async fn create(&self, mut run: PackRun) -> Result<PackRun> {
        validate_run_id(&run.id)?;
        validate_tenant(&run.tenant_id)?;
        let clock = self.db.clock.clone();
        let span = tracing::debug_span!("sqlite.runs.create", run = %run.id);
        self.db
            .writer
            .run(move |conn| {
                let now = clock.now();
                run.created_at = now;
                run.updated_at = now;
                run.version = 0;
                let doc = json_text(&check_size(&run)?)?;
                let status = enum_text("run status", &run.status)?;
                let inserted = conn
                    .prepare_cached(
                        "INSERT INTO pack_runs (id, tenant_id, status, version, created_at, updated_at, doc) \
                         VALUES (?1, ?2, ?3, 1, ?4, ?4, ?5) ON CONFLICT (id) DO NOTHING",
                    )
                    .and_then(|mut s| {
                        s.execute(params![
                            run.id,
                            run.tenant_id,
                            status,
                            now.millis(),
                            doc
                        ])
                    })
                    .sql()?;
                if inserted == 0 {
                    return Err(Error::conflict(0, RUNS, &run.id, "a run with this id exists"));
                }
                run.version = 1;
                Ok(run)
            })
            .instrument(span)
            .await
    }

    async fn get(&self, id: &str) -> Result<Option<PackRun>> {
        validate_run_id(id)?;
        let span = tracing::trace_span!("sqlite.runs.get", run = id);
        span.in_scope(|| self.db.readers.read(|conn| read_run(conn, id)))
    }

    async fn update(&self, run: PackRun) -> Result<PackRun> {
        self.update_with(run, None).await
    }

    async fn update_fenced(&self, run: PackRun, fence: &Fence) -> Result<PackRun> {
        self.update_with(run, Some(fence.clone())).await
    }

    async fn restore_bundle(&self, bundle: &RunBundle) -> Result<Restored> {
        bundle.validate()?;
        let bundle = bundle.clone();
        let span = tracing::debug_span!(
            "sqlite.runs.restore_bundle",
            run = %bundle.run.id,
            logs = bundle.logs.len(),
            artifacts = bundle.artifacts.len(),
            approvals = bundle.approvals.len()
        );
        // One writer request is one savepoint: an error anywhere rolls all of it back.
        self.db
            .writer
            .run(move |conn| super::bundle::restore(conn, &bundle))
            .instrument(span)
            .await
    }

    async fn list_page(&self, query: &RunQuery) -> Result<RunPage> {
        validate_tenant(&query.tenant)?;
        let limit = i64::try_from(query.limit).unwrap_or(i64::MAX);
        let tenant = if query.tenant.is_some() {
            "tenant_id = ?1"
        } else {
            "?1 IS NULL"
        };
        let cursor = if query.after.is_some() {
            " AND (updated_at, id) < (?2, ?3)"
        } else {
            ""
        };
        let sql = format!(
            "SELECT doc, version, id, updated_at FROM pack_runs WHERE {tenant}{cursor} \
             ORDER BY updated_at DESC, id DESC LIMIT ?4"
        );
        let (after_at, after_id) = match &query.after {
            Some(c) => (Some(c.updated_at.millis()), Some(c.id.as_str())),
            None => (None, None),
        };
        let span =
            tracing::trace_span!("sqlite.runs.list", tenant = ?query.tenant, limit = query.limit);
        let entries = span.in_scope(|| {
            self.db.readers.read(|conn| {
                let mut stmt = conn.prepare_cached(&sql).sql()?;
                let mut rows = stmt
                    .query(params![query.tenant, after_at, after_id, limit])
                    .sql()?;
                let mut out = Vec::new();
                while let Some(row) = rows.next().sql()? {
                    out.push(run_entry(row)?);
                }
                Ok(out)
            })
        })?;
        RunPage::collect(entries, query.limit)
    }
}

/// A listed row: its key and place come from the `id` and `updated_at` columns, so a damaged
/// `doc` is still named and paged past.
fn run_entry(row: &Row<'_>) -> Result<RunEntry> {
    let id = row.get_ref(2).sql()?;
    let key = text_of(id, "run id").unwrap_or_else(|_| format!("{id:?}"));
    let updated_at: Option<i64> = row.get(3).ok();
    let position = match (text_of(id, "run id"), updated_at) {
        (Ok(id), Some(at)) => Some(RunCursor {
            updated_at: timestamp(at),
            id,
        }),
        _ => None,
    };
    Ok(RunEntry {
        key,
        position,
        run: run_row(row),
    })
}

impl SqliteRuns {
    async fn update_with(&self, mut run: PackRun, fence: Option<Fence>) -> Result<PackRun> {
        validate_run_id(&run.id)?;
        validate_tenant(&run.tenant_id)?;
        let clock = self.db.clock.clone();
        let span = tracing::debug_span!("sqlite.runs.update", run = %run.id);
        self.db
            .writer
            .run(move |conn| {
                check_fence(conn, fence.as_ref(), clock.now())?;
                let current: Option<(i64, i64)> = conn
                    .prepare_cached("SELECT version, created_at FROM pack_runs WHERE id = ?1")
                    .and_then(|mut s| {
                        s.query_row(params![run.id], |r| Ok((r.get(0)?, r.get(1)?)))
                            .optional()
                    })
                    .sql()?;
                let (version, created_at) =
                    current.ok_or_else(|| Error::NotFound(format!("pack run {}", run.id)))?;
                let version = to_u64("version", version)?;
                if version != run.version {
                    return Err(Error::conflict(
                        0,
                        RUNS,
                        &run.id,
                        format!("expected version {}, found {}", run.version, version),
                    ));
                }
                run.created_at = timestamp(created_at);
                run.updated_at = clock.now();
                let doc = json_text(&check_size(&run)?)?;
                let next = to_i64("version", version + 1)?;
                let status = enum_text("run status", &run.status)?;
                conn.prepare_cached(
                    "UPDATE pack_runs SET tenant_id = ?2, status = ?3, version = ?4, updated_at = ?5, doc = ?6 \
                     WHERE id = ?1",
                )
                .and_then(|mut s| {
                    s.execute(params![
                        run.id,
                        run.tenant_id,
                        status,
                        next,
                        run.updated_at.millis(),
                        doc
                    ])
                })
                .sql()?;
                run.version = version + 1;
                Ok(run)
            })
            .instrument(span)
            .await
    }
}

/// Stores `run` as given, its version included, replacing any run with its id.
pub(super) fn put_run(conn: &Connection, run: &PackRun) -> Result<()> {
    let version = to_i64("version", run.version)?;
    let doc = json_text(&check_size(run)?)?;
    let status = enum_text("run status", &run.status)?;
    conn.prepare_cached(
        "INSERT INTO pack_runs (id, tenant_id, status, version, created_at, updated_at, doc) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
         ON CONFLICT (id) DO UPDATE SET tenant_id = excluded.tenant_id, \
         status = excluded.status, version = excluded.version, \
         created_at = excluded.created_at, updated_at = excluded.updated_at, \
         doc = excluded.doc",
    )
    .and_then(|mut s| {
        s.execute(params![
            run.id,
            run.tenant_id,
            status,
            version,
            run.created_at.millis(),
            run.updated_at.millis(),
            doc
        ])
    })
    .sql()
    .map(|_| ())
}
