//! [`ArtifactStore`] over `pack_artifacts`, unique on (run, name).

use super::{check_fence, check_size};
use crate::db::Db;
use crate::sql_error::SqlResult;
use crate::values::{enum_from_text, enum_text, text_of, timestamp};
use async_trait::async_trait;
use berth_core::packrun::validate_artifact_name;
use berth_core::packrun::{validate_run_id, Artifact, ArtifactStore};
use berth_core::{Fence, Result};
use rusqlite::{params, Connection, Row};
use std::sync::Arc;
use tracing::Instrument;

/// The SQLite backend's [`ArtifactStore`].
pub struct SqliteArtifacts {
    db: Arc<Db>,
}

impl SqliteArtifacts {
    pub(crate) fn new(db: Arc<Db>) -> Self {
        SqliteArtifacts { db }
    }
}

const COLUMNS: &str = "run_id, name, kind, source_path, stored_path, status, notes, captured_at";

fn artifact_row(row: &Row<'_>) -> Result<Artifact> {
    let status = text_of(row.get_ref(5).sql()?, "artifact status")?;
    Ok(Artifact {
        run_id: text_of(row.get_ref(0).sql()?, "run id")?,
        name: text_of(row.get_ref(1).sql()?, "artifact name")?,
        kind: text_of(row.get_ref(2).sql()?, "artifact type")?,
        source_path: row.get(3).sql()?,
        stored_path: row.get(4).sql()?,
        status: enum_from_text("artifact status", &status)?,
        notes: row.get(6).sql()?,
        captured_at: timestamp(row.get(7).sql()?),
    })
}

#[async_trait]
impl ArtifactStore for SqliteArtifacts {
    async fn record(&self, artifact: Artifact) -> Result<()> {
        self.record_with(artifact, None).await
    }

    async fn record_fenced(&self, artifact: Artifact, fence: &Fence) -> Result<()> {
        self.record_with(artifact, Some(fence.clone())).await
    }
    async fn get(&self, run: &str, name: &str) -> Result<Option<Artifact>> {
        validate_run_id(run)?;
        validate_artifact_name(name)?;
        let sql = format!("SELECT {COLUMNS} FROM pack_artifacts WHERE run_id = ?1 AND name = ?2");
        let span = tracing::trace_span!("sqlite.artifacts.get", run, name);
        span.in_scope(|| {
            self.db.readers.read(|conn| {
                let mut stmt = conn.prepare_cached(&sql).sql()?;
                let mut rows = stmt.query(params![run, name]).sql()?;
                match rows.next().sql()? {
                    Some(row) => artifact_row(row).map(Some),
                    None => Ok(None),
                }
            })
        })
    }

    async fn list(&self, run: &str) -> Result<Vec<Artifact>> {
        validate_run_id(run)?;
        let sql = format!("SELECT {COLUMNS} FROM pack_artifacts WHERE run_id = ?1 ORDER BY name");
        let span = tracing::trace_span!("sqlite.artifacts.list", run);
        span.in_scope(|| {
            self.db.readers.read(|conn| {
                let mut stmt = conn.prepare_cached(&sql).sql()?;
                let mut rows = stmt.query(params![run]).sql()?;
                let mut out = Vec::new();
                while let Some(row) = rows.next().sql()? {
                    out.push(artifact_row(row)?);
                }
                Ok(out)
            })
        })
    }
}

impl SqliteArtifacts {
    async fn record_with(&self, artifact: Artifact, fence: Option<Fence>) -> Result<()> {
        validate_run_id(&artifact.run_id)?;
        validate_artifact_name(&artifact.name)?;
        let status = checked_status(&artifact)?;
        let span = tracing::debug_span!("sqlite.artifacts.record", run = %artifact.run_id, name = %artifact.name);
        let clock = self.db.clock.clone();
        self.db
            .writer
            .run(move |conn| {
                check_fence(conn, fence.as_ref(), clock.now())?;
                upsert(conn, &artifact, &status)
            })
            .instrument(span)
            .await
    }
}

/// Checks `artifact`'s size; its status as stored.
pub(super) fn checked_status(artifact: &Artifact) -> Result<String> {
    check_size(artifact)?;
    enum_text("artifact status", &artifact.status)
}

/// Stores `artifact`, replacing the one with its (run, name).
pub(super) fn upsert(conn: &Connection, a: &Artifact, status: &str) -> Result<()> {
    let sql = format!(
        "INSERT OR REPLACE INTO pack_artifacts ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
    );
    conn.prepare_cached(&sql)
        .and_then(|mut s| {
            s.execute(params![
                a.run_id,
                a.name,
                a.kind,
                a.source_path,
                a.stored_path,
                status,
                a.notes,
                a.captured_at.millis()
            ])
        })
        .sql()
        .map(|_| ())
}
