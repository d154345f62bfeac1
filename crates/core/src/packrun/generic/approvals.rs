use crate::codec::{from_json, to_json};
use crate::error::{Error, Result};
use crate::packrun::validate_gate_id;
use crate::packrun::{
    validate_run_id, Approval, ApprovalDecision, ApprovalStatus, ApprovalStore, Decision,
    DecisionRequest,
};
use crate::record::Scan;
use crate::time::{SharedClock, Timestamp};
use crate::{Batch, Fence, Precondition, RecordStore};
use async_trait::async_trait;
use std::sync::Arc;

pub(super) fn collection(run: &str) -> String {
    format!("pack_run_approvals:{run}")
}

/// Applies `request` to a pending gate, or says why it cannot be applied.
pub fn apply_decision(
    approval: &mut Approval,
    request: &DecisionRequest,
    now: Timestamp,
) -> Result<()> {
    let coll = collection(&approval.run_id);
    if approval.status != ApprovalStatus::Pending {
        return Err(Error::conflict(
            0,
            &coll,
            &approval.approval_id,
            format!("approval is already {:?}", approval.status).to_lowercase(),
        ));
    }
    if approval.decisions.iter().any(|d| d.actor == request.actor) {
        return Err(Error::conflict(
            0,
            &coll,
            &approval.approval_id,
            format!("{} has already decided", request.actor),
        ));
    }
    if let Some(missing) = approval
        .required_grants
        .iter()
        .find(|g| !request.grants.contains(g))
    {
        return Err(Error::invalid(
            "decision",
            format!("{} lacks grant {missing}", request.actor),
        ));
    }
    approval.decisions.push(ApprovalDecision {
        actor: request.actor.clone(),
        decision: request.decision,
        reason: request.reason.clone(),
        decided_at: now,
    });
    let approvals = approval
        .decisions
        .iter()
        .filter(|d| d.decision == Decision::Approve)
        .count();
    if request.decision == Decision::Reject {
        approval.status = ApprovalStatus::Rejected;
        approval.decided_at = Some(now);
    } else if approvals >= approval.required_count.max(1) as usize {
        approval.status = ApprovalStatus::Approved;
        approval.decided_at = Some(now);
    }
    Ok(())
}

/// [`ApprovalStore`] over a [`RecordStore`].
pub struct GenericApprovals {
    records: Arc<dyn RecordStore>,
    clock: SharedClock,
}

impl GenericApprovals {
    /// Approvals kept in `records`, stamped by `clock`.
    pub fn new(records: Arc<dyn RecordStore>, clock: SharedClock) -> Self {
        GenericApprovals { records, clock }
    }

    async fn create_with(&self, mut approval: Approval, fence: Option<&Fence>) -> Result<Approval> {
        validate_run_id(&approval.run_id)?;
        validate_gate_id(&approval.approval_id)?;
        if approval.requested_at == Timestamp::default() {
            approval.requested_at = self.clock.now();
        }
        approval.required_count = approval.required_count.max(1);
        let coll = collection(&approval.run_id);
        let mut batch = Batch::new();
        if let Some(f) = fence {
            batch.fence(f);
        }
        batch
            .put(&coll, &approval.approval_id, to_json(&approval)?)
            .when(Precondition::Absent);
        match self.records.commit(batch).await {
            Ok(_) => Ok(approval),
            Err(Error::Conflict { .. }) => Err(Error::conflict(
                0,
                &coll,
                &approval.approval_id,
                "approval exists",
            )),
            Err(e) => Err(e),
        }
    }
}

#[async_trait]
impl ApprovalStore for GenericApprovals {
    async fn create(&self, approval: Approval) -> Result<Approval> {
        self.create_with(approval, None).await
    }

    async fn create_fenced(&self, approval: Approval, fence: &Fence) -> Result<Approval> {
        self.create_with(approval, Some(fence)).await
    }

    async fn get(&self, run: &str, approval_id: &str) -> Result<Option<Approval>> {
        validate_run_id(run)?;
        validate_gate_id(approval_id)?;
        match self.records.get(&collection(run), approval_id).await? {
            Some(r) => from_json(r.value, "approval").map(Some),
            None => Ok(None),
        }
    }

    async fn list(&self, run: &str) -> Result<Vec<Approval>> {
        validate_run_id(run)?;
        self.records
            .scan(&collection(run), &Scan::all())
            .await?
            .into_iter()
            .map(|r| from_json(r.value, "approval"))
            .collect()
    }

    async fn restore(&self, approval: Approval) -> Result<Approval> {
        validate_run_id(&approval.run_id)?;
        validate_gate_id(&approval.approval_id)?;
        let mut batch = Batch::new();
        batch.put(
            &collection(&approval.run_id),
            &approval.approval_id,
            to_json(&approval)?,
        );
        self.records.commit(batch).await?;
        Ok(approval)
    }

    async fn decide(
        &self,
        run: &str,
        approval_id: &str,
        request: DecisionRequest,
    ) -> Result<Approval> {
        validate_run_id(run)?;
        validate_gate_id(approval_id)?;
        let coll = collection(run);
        let mut attempt = 0;
        loop {
            let record =
                self.records.get(&coll, approval_id).await?.ok_or_else(|| {
                    Error::NotFound(format!("approval {approval_id} of run {run}"))
                })?;
            let mut approval: Approval = from_json(record.value, "approval")?;
            apply_decision(&mut approval, &request, self.clock.now())?;
            let mut batch = Batch::new();
            batch
                .put(&coll, approval_id, to_json(&approval)?)
                .when(Precondition::Version(record.version));
            match self.records.commit(batch).await {
                Ok(_) => return Ok(approval),
                // Someone decided in between: read again and judge against their decision.
                Err(Error::Conflict { .. }) if attempt < super::CAS_RETRIES => attempt += 1,
                Err(e) => return Err(e),
            }
        }
    }
}
