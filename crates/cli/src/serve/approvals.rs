//! `/api/v1/runs/{id}/approvals/{gate}/approve|reject`: decisions recorded with the token
//! holder's name, a comment and the time; repeating a decision changes nothing.

use crate::commands::drive::decide_gate;
use crate::serve::auth::Auth;
use crate::serve::error::{rejection, ApiError};
use crate::serve::runs::start_resume;
use crate::serve::tokens::Role;
use crate::serve::AppState;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::Json;
use berth::packrun::{ApprovalStatus, Decision, DecisionRequest};
use serde::Deserialize;
use serde_json::{json, Value};

/// Longest comment, in bytes.
pub const MAX_COMMENT: usize = 4_096;

/// Body of a decision.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionBody {
    /// Why (required to reject).
    comment: Option<String>,
}

/// `POST …/approve`.
pub async fn approve(
    state: State<AppState>,
    auth: Auth,
    path: Path<(String, String)>,
    body: Result<Json<DecisionBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    decide(state, auth, path, body, Decision::Approve).await
}

/// `POST …/reject` (a comment is required).
pub async fn reject(
    state: State<AppState>,
    auth: Auth,
    path: Path<(String, String)>,
    body: Result<Json<DecisionBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    decide(state, auth, path, body, Decision::Reject).await
}

async fn decide(
    State(state): State<AppState>,
    auth: Auth,
    Path((id, gate)): Path<(String, String)>,
    body: Result<Json<DecisionBody>, JsonRejection>,
    decision: Decision,
) -> Result<Json<Value>, ApiError> {
    let caller = auth.require(Role::Approver)?.clone();
    let body = match body {
        Ok(Json(b)) => b,
        Err(e) => return Err(rejection(e.status(), e.body_text())),
    };
    let comment = body
        .comment
        .map(|c| c.trim().to_owned())
        .filter(|c| !c.is_empty());
    if comment.as_ref().is_some_and(|c| c.len() > MAX_COMMENT) {
        return Err(ApiError::invalid(format!(
            "the comment is longer than {MAX_COMMENT} bytes"
        )));
    }
    if decision == Decision::Reject && comment.is_none() {
        return Err(ApiError::invalid("a rejection needs a comment saying why"));
    }
    berth::packrun::validate_run_id(&id)?;
    // The same decision by the same person again: answer it as recorded, write nothing.
    if let Some(a) = state.store.approvals().get(&id, &gate).await? {
        if a.decisions
            .iter()
            .any(|d| d.actor == caller.name && d.decision == decision)
        {
            return Ok(Json(
                json!({ "approval": a, "changed": false, "resumed": false }),
            ));
        }
    }
    let (_, approval) = decide_gate(
        &state.runner,
        &id,
        &gate,
        DecisionRequest {
            actor: caller.name.clone(),
            grants: Vec::new(),
            decision,
            reason: comment,
        },
    )
    .await?;
    tracing::info!(run = %id, gate = %gate, by = %caller.name, ?decision, "gate decided");
    let mut resumed = false;
    if approval.status != ApprovalStatus::Pending {
        // Go on at once, as `berth approve` does; a run held by a live runner is picked up by it.
        match start_resume(&state, &id).await {
            Ok(()) => resumed = true,
            Err(e) => {
                tracing::info!(run = %id, error = %e.message, "not resumed after the decision")
            }
        }
    }
    Ok(Json(
        json!({ "approval": approval, "changed": true, "resumed": resumed }),
    ))
}
