//! [`ApprovalStore`] over `pack_run_approvals`; a decision is one writer request, so two
//! deciders are serialised and judged by berth-core's `apply_decision`.

use super::{check_fence, check_size};
use crate::db::Db;
use crate::sql_error::SqlResult;
use crate::values::{decode_doc, enum_text, json_text, text_of};
use async_trait::async_trait;
use berth_core::packrun::generic::apply_decision;
use berth_core::packrun::validate_gate_id;
use berth_core::packrun::{validate_run_id, Approval, ApprovalStore, DecisionRequest};
use berth_core::{Error, Fence, Result, Timestamp};
use rusqlite::{params, Connection};
use std::sync::Arc;
use tracing::Instrument;

/// The SQLite backend's [`ApprovalStore`].
pub struct SqliteApprovals {
    db: Arc<Db>,
}

impl SqliteApprovals {
    pub(crate) fn new(db: Arc<Db>) -> Self {
        SqliteApprovals { db }
    }
}

fn collection(run: &str) -> String {
    format!("pack_run_approvals:{run}")
}

fn read_one(conn: &Connection, run: &str, approval_id: &str) -> Result<Option<Approval>> {
    let mut stmt = conn
        .prepare_cached("SELECT doc FROM pack_run_approvals WHERE run_id = ?1 AND approval_id = ?2")
        .sql()?;
    let mut rows = stmt.query(params![run, approval_id]).sql()?;
    match rows.next().sql()? {
        Some(row) => decode_doc(&text_of(row.get_ref(0).sql()?, "approval")?, "approval").map(Some),
        None => Ok(None),
    }
}

#[async_trait]
impl ApprovalStore for SqliteApprovals {
    async fn restore(&self, approval: Approval) -> Result<Approval> {
        validate_run_id(&approval.run_id)?;
        validate_gate_id(&approval.approval_id)?;
        let span = tracing::debug_span!("sqlite.approvals.restore", run = %approval.run_id, approval = %approval.approval_id);
        self.db
            .writer
            .run(move |conn| {
                upsert(conn, &approval)?;
                Ok(approval)
            })
            .instrument(span)
            .await
    }

    async fn create(&self, approval: Approval) -> Result<Approval> {
        self.create_with(approval, None).await
    }

    async fn create_fenced(&self, approval: Approval, fence: &Fence) -> Result<Approval> {
        self.create_with(approval, Some(fence.clone())).await
    }
    async fn get(&self, run: &str, approval_id: &str) -> Result<Option<Approval>> {
        validate_run_id(run)?;
        validate_gate_id(approval_id)?;
        let span = tracing::trace_span!("sqlite.approvals.get", run, approval = approval_id);
        span.in_scope(|| {
            self.db
                .readers
                .read(|conn| read_one(conn, run, approval_id))
        })
    }

    async fn list(&self, run: &str) -> Result<Vec<Approval>> {
        validate_run_id(run)?;
        let span = tracing::trace_span!("sqlite.approvals.list", run);
        span.in_scope(|| {
            self.db.readers.read(|conn| {
                let mut stmt = conn
                    .prepare_cached(
                        "SELECT doc FROM pack_run_approvals WHERE run_id = ?1 ORDER BY approval_id",
                    )
                    .sql()?;
                let mut rows = stmt.query(params![run]).sql()?;
                let mut out = Vec::new();
                while let Some(row) = rows.next().sql()? {
                    out.push(decode_doc(
                        &text_of(row.get_ref(0).sql()?, "approval")?,
                        "approval",
                    )?);
                }
                Ok(out)
            })
        })
    }

    async fn decide(
        &self,
        run: &str,
        approval_id: &str,
        request: DecisionRequest,
    ) -> Result<Approval> {
        validate_run_id(run)?;
        validate_gate_id(approval_id)?;
        let (run, approval_id) = (run.to_owned(), approval_id.to_owned());
        let clock = self.db.clock.clone();
        let span =
            tracing::debug_span!("sqlite.approvals.decide", run = %run, approval = %approval_id);
        self.db
            .writer
            .run(move |conn| {
                let mut approval = read_one(conn, &run, &approval_id)?.ok_or_else(|| {
                    Error::NotFound(format!("approval {approval_id} of run {run}"))
                })?;
                apply_decision(&mut approval, &request, clock.now())?;
                let doc = json_text(&check_size(&approval)?)?;
                let status = enum_text("approval status", &approval.status)?;
                conn.prepare_cached(
                    "UPDATE pack_run_approvals SET status = ?3, doc = ?4 \
                     WHERE run_id = ?1 AND approval_id = ?2",
                )
                .and_then(|mut s| s.execute(params![run, approval_id, status, doc]))
                .sql()?;
                Ok(approval)
            })
            .instrument(span)
            .await
    }
}

impl SqliteApprovals {
    async fn create_with(&self, mut approval: Approval, fence: Option<Fence>) -> Result<Approval> {
        validate_run_id(&approval.run_id)?;
        validate_gate_id(&approval.approval_id)?;
        let clock = self.db.clock.clone();
        let span = tracing::debug_span!("sqlite.approvals.create", run = %approval.run_id, approval = %approval.approval_id);
        self.db
            .writer
            .run(move |conn| {
                check_fence(conn, fence.as_ref(), clock.now())?;
                if approval.requested_at == Timestamp::default() {
                    approval.requested_at = clock.now();
                }
                approval.required_count = approval.required_count.max(1);
                let doc = json_text(&check_size(&approval)?)?;
                let status = enum_text("approval status", &approval.status)?;
                let inserted = conn
                    .prepare_cached(
                        "INSERT INTO pack_run_approvals (run_id, approval_id, status, doc) \
                         VALUES (?1, ?2, ?3, ?4) ON CONFLICT (run_id, approval_id) DO NOTHING",
                    )
                    .and_then(|mut s| {
                        s.execute(params![approval.run_id, approval.approval_id, status, doc])
                    })
                    .sql()?;
                if inserted == 0 {
                    return Err(Error::conflict(
                        0,
                        &collection(&approval.run_id),
                        &approval.approval_id,
                        "approval exists",
                    ));
                }
                Ok(approval)
            })
            .instrument(span)
            .await
    }
}

/// Stores `approval`, replacing the gate with its (run, id).
pub(super) fn upsert(conn: &Connection, approval: &Approval) -> Result<()> {
    let doc = json_text(&check_size(approval)?)?;
    let status = enum_text("approval status", &approval.status)?;
    conn.prepare_cached(
        "INSERT INTO pack_run_approvals (run_id, approval_id, status, doc) \
         VALUES (?1, ?2, ?3, ?4) ON CONFLICT (run_id, approval_id) \
         DO UPDATE SET status = excluded.status, doc = excluded.doc",
    )
    .and_then(|mut s| s.execute(params![approval.run_id, approval.approval_id, status, doc]))
    .sql()
    .map(|_| ())
}
