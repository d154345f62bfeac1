//! [`ApprovalStore`] on `pack_run_approvals`: one document per (runId, approvalId), decided
//! with compare-and-set on a `version` field so two deciders can't both win. Seed 002 leaves
//! this collection's fields open; ours mirror [`Approval`] in camelCase.

use super::doc::{from_doc, to_doc};
use super::fenced::{fail, write_fenced, Fail};
use crate::errors::{ctx, is_duplicate_key};
use crate::schema::Role;
use crate::shared::{collect, Shared};
use async_trait::async_trait;
use berth_core::packrun::generic::apply_decision;
use berth_core::packrun::validate_gate_id;
use berth_core::packrun::{validate_run_id, Approval, ApprovalStore, DecisionRequest};
use berth_core::{Error, Fence, Result, Timestamp};
use mongodb::bson::{doc, Document};
use tracing::Instrument;

const DATES: &[&str] = &["requestedAt", "decidedAt", "decisions.decidedAt"];
/// Compare-and-set rounds before a contended decision gives up.
const CAS_ATTEMPTS: usize = 16;

/// The `_id` of a gate: `"<bytes of run id>:<run id><approval id>"`, so reads and
/// compare-and-set writes go through the primary index.
fn approval_key(run: &str, approval_id: &str) -> String {
    format!("{}:{run}{approval_id}", run.len())
}

fn encode(approval: &Approval, version: i64) -> Result<Document> {
    let mut d = doc! {"_id": approval_key(&approval.run_id, &approval.approval_id)};
    d.extend(to_doc(approval, DATES, "approval")?);
    d.insert("version", version);
    Ok(d)
}

/// The filter and update that store `approval` over the gate with its (run, id), moving its
/// version on so an in-flight decision retries, in one round trip.
pub(super) fn restore_update(approval: &Approval) -> Result<(Document, Document)> {
    let fields = to_doc(approval, DATES, "approval")?;
    let filter = doc! {"_id": approval_key(&approval.run_id, &approval.approval_id)};
    Ok((filter, doc! {"$set": fields, "$inc": {"version": 1_i64}}))
}

fn decode(mut d: Document) -> Result<(Approval, i64)> {
    let version = crate::errors::number(&d, "version").unwrap_or(0);
    d.remove("version");
    Ok((from_doc(d, DATES, None, "approval")?, version))
}

/// The MongoDB backend's native [`ApprovalStore`].
#[derive(Debug, Clone)]
pub struct MongoApprovals {
    shared: Shared,
}

impl MongoApprovals {
    pub(crate) fn new(shared: Shared) -> Self {
        MongoApprovals { shared }
    }

    async fn read(&self, run: &str, approval_id: &str) -> Result<Option<(Approval, i64)>> {
        let found = self
            .shared
            .coll(Role::Approvals)
            .find_one(doc! {"_id": approval_key(run, approval_id)})
            .await
            .map_err(ctx("read approval"))?;
        found.map(decode).transpose()
    }

    async fn create_inner(&self, mut approval: Approval) -> Result<Approval> {
        if approval.requested_at == Timestamp::default() {
            approval.requested_at = self.shared.clock.now();
        }
        approval.required_count = approval.required_count.max(1);
        match self
            .shared
            .coll(Role::Approvals)
            .insert_one(encode(&approval, 1)?)
            .await
        {
            Ok(_) => Ok(approval),
            Err(e) if is_duplicate_key(&e) => Err(Error::conflict(
                0,
                &self.shared.names.approvals,
                &approval.approval_id,
                "approval exists",
            )),
            Err(e) => Err(ctx("create approval")(e)),
        }
    }

    /// [`create_inner`](Self::create_inner) in a transaction that holds `fence`.
    async fn create_fenced_inner(&self, mut approval: Approval, fence: &Fence) -> Result<Approval> {
        if approval.requested_at == Timestamp::default() {
            approval.requested_at = self.shared.clock.now();
        }
        approval.required_count = approval.required_count.max(1);
        let document = encode(&approval, 1)?;
        let approvals = self.shared.coll(Role::Approvals);
        let names = self.shared.names.approvals.clone();
        let id = approval.approval_id.clone();
        write_fenced(
            &self.shared,
            fence,
            Box::new(move |session| {
                let (approvals, document, names, id) = (
                    approvals.clone(),
                    document.clone(),
                    names.clone(),
                    id.clone(),
                );
                Box::pin(async move {
                    match approvals.insert_one(document).session(&mut *session).await {
                        Ok(_) => Ok(()),
                        Err(e) if is_duplicate_key(&e) => Err(Fail::Error(Error::conflict(
                            0,
                            &names,
                            &id,
                            "approval exists",
                        ))),
                        Err(e) => Err(fail("create approval")(e)),
                    }
                })
            }),
        )
        .await?;
        Ok(approval)
    }

    /// Replaces the gate as given, moving its version on so an in-flight decision retries.
    async fn restore_inner(&self, approval: Approval) -> Result<Approval> {
        let version = self
            .read(&approval.run_id, &approval.approval_id)
            .await?
            .map_or(1, |(_, v)| v + 1);
        let key = approval_key(&approval.run_id, &approval.approval_id);
        self.shared
            .coll(Role::Approvals)
            .replace_one(doc! {"_id": key}, encode(&approval, version)?)
            .upsert(true)
            .await
            .map_err(ctx("restore approval"))?;
        Ok(approval)
    }

    async fn decide_inner(
        &self,
        run: &str,
        approval_id: &str,
        request: DecisionRequest,
    ) -> Result<Approval> {
        for _ in 0..CAS_ATTEMPTS {
            let (mut approval, version) = self
                .read(run, approval_id)
                .await?
                .ok_or_else(|| Error::NotFound(format!("approval {approval_id} of run {run}")))?;
            apply_decision(&mut approval, &request, self.shared.clock.now())?;
            let filter = doc! {"_id": approval_key(run, approval_id), "version": version};
            let done = self
                .shared
                .coll(Role::Approvals)
                .replace_one(filter, encode(&approval, version + 1)?)
                .await
                .map_err(ctx("decide approval"))?;
            if done.matched_count == 1 {
                return Ok(approval);
            }
            // Someone decided in between: read again and judge against their decision.
        }
        Err(Error::conflict(
            0,
            &self.shared.names.approvals,
            approval_id,
            "too many concurrent decisions",
        ))
    }
}

#[async_trait]
impl ApprovalStore for MongoApprovals {
    async fn create(&self, approval: Approval) -> Result<Approval> {
        validate_run_id(&approval.run_id)?;
        validate_gate_id(&approval.approval_id)?;
        let span = tracing::debug_span!("mongo.approvals.create", run = %approval.run_id, approval = %approval.approval_id);
        self.shared
            .deadline("create approval", self.create_inner(approval))
            .instrument(span)
            .await
    }

    async fn create_fenced(&self, approval: Approval, fence: &Fence) -> Result<Approval> {
        validate_run_id(&approval.run_id)?;
        validate_gate_id(&approval.approval_id)?;
        let span = tracing::debug_span!("mongo.approvals.create_fenced", run = %approval.run_id, approval = %approval.approval_id, token = fence.token);
        self.shared
            .deadline("create approval", self.create_fenced_inner(approval, fence))
            .instrument(span)
            .await
    }

    async fn restore(&self, approval: Approval) -> Result<Approval> {
        validate_run_id(&approval.run_id)?;
        validate_gate_id(&approval.approval_id)?;
        let span = tracing::debug_span!("mongo.approvals.restore", run = %approval.run_id, approval = %approval.approval_id);
        self.shared
            .deadline("restore approval", self.restore_inner(approval))
            .instrument(span)
            .await
    }

    async fn get(&self, run: &str, approval_id: &str) -> Result<Option<Approval>> {
        validate_run_id(run)?;
        validate_gate_id(approval_id)?;
        let span = tracing::debug_span!("mongo.approvals.get", run, approval = approval_id);
        let fut = async { Ok(self.read(run, approval_id).await?.map(|(a, _)| a)) };
        self.shared
            .deadline("get approval", fut)
            .instrument(span)
            .await
    }

    async fn list(&self, run: &str) -> Result<Vec<Approval>> {
        validate_run_id(run)?;
        let span = tracing::debug_span!("mongo.approvals.list", run);
        let fut = async {
            let cursor = self
                .shared
                .coll(Role::Approvals)
                .find(doc! {"runId": run})
                .sort(doc! {"runId": 1, "approvalId": 1})
                .await
                .map_err(ctx("list approvals"))?;
            collect(cursor, "list approvals")
                .await?
                .into_iter()
                .map(|d| decode(d).map(|(a, _)| a))
                .collect()
        };
        self.shared
            .deadline("list approvals", fut)
            .instrument(span)
            .await
    }

    async fn decide(
        &self,
        run: &str,
        approval_id: &str,
        request: DecisionRequest,
    ) -> Result<Approval> {
        validate_run_id(run)?;
        validate_gate_id(approval_id)?;
        let span = tracing::debug_span!("mongo.approvals.decide", run, approval = approval_id, actor = %request.actor);
        self.shared
            .deadline(
                "decide approval",
                self.decide_inner(run, approval_id, request),
            )
            .instrument(span)
            .await
    }
}
