//! `/api/v1/runs`: list (newest first, by cursor, filtered by status and tenant), one run,
//! resume and cancel.

use crate::serve::auth::Auth;
use crate::serve::error::{rejection, ApiError};
use crate::serve::redact;
use crate::serve::tokens::Role;
use crate::serve::AppState;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use berth::packrun::LogLevel;
use berth::packrun::{PackRun, RunCursor, RunQuery, RunStatus, StepStatus};
use berth::Timestamp;
use berth_packrun::book::RunBook;
use berth_packrun::lease::{shard, LeaseRefusal, RunClaim};
use berth_packrun::logs::LogWriter;
use berth_packrun::owned::OwnedWrites;
use berth_packrun::PackRunError;
use serde::Deserialize;
use serde_json::{json, Value};

/// Most runs in one page.
pub const MAX_LIMIT: usize = 500;
/// Runs looked at per request when filtering by status (the rest follows by cursor).
const SCAN_BUDGET: usize = 2_000;

/// Query of `GET /runs`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only runs with this status.
    status: Option<String>,
    /// Only runs of this tenant.
    tenant: Option<String>,
    /// From `nextCursor` of the previous page.
    cursor: Option<String>,
    /// Page size, 1–500 (default 50).
    limit: Option<usize>,
}

fn parse_status(s: &str) -> Result<RunStatus, ApiError> {
    serde_json::from_value(Value::String(s.to_owned())).map_err(|_| {
        ApiError::invalid(format!(
            "unknown status {s:?} (pending, running, paused, succeeded, failed, cancelled)"
        ))
    })
}

/// An opaque cursor: hex of `<updated millis>:<run id>`.
pub fn encode_cursor(c: &RunCursor) -> String {
    hex::encode(format!("{}:{}", c.updated_at.millis(), c.id))
}

/// Reads a cursor made by [`encode_cursor`].
pub fn decode_cursor(s: &str) -> Result<RunCursor, ApiError> {
    let bad = || ApiError::invalid("bad cursor; pass nextCursor of an earlier page as it is");
    let bytes = hex::decode(s).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let (millis, id) = text.split_once(':').ok_or_else(bad)?;
    let millis: i64 = millis.parse().map_err(|_| bad())?;
    berth::packrun::validate_run_id(id).map_err(|_| bad())?;
    Ok(RunCursor {
        updated_at: Timestamp::from_millis(millis),
        id: id.to_owned(),
    })
}

fn plan_name(run: &PackRun) -> Value {
    run.plan.get("name").cloned().unwrap_or(Value::Null)
}

/// A run as listed.
pub fn summary(run: &PackRun) -> Value {
    let done = run
        .steps
        .iter()
        .filter(|s| s.status == StepStatus::Succeeded)
        .count();
    json!({
        "id": run.id, "status": run.status, "plan": plan_name(run), "planHash": run.plan_hash,
        "tenantId": run.tenant_id, "stepsDone": done, "stepsTotal": run.steps.len(),
        "requestedAt": run.requested_at, "createdAt": run.created_at, "updatedAt": run.updated_at,
    })
}

/// A run with its (redacted) plan.
pub fn detail(run: &PackRun) -> Value {
    let mut v = json!(run);
    v["plan"] = redact::plan(&run.plan);
    v
}

/// `GET /runs`.
pub async fn list(
    State(state): State<AppState>,
    auth: Auth,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    auth.require(Role::Viewer)?;
    let Query(q) = query.map_err(|e| rejection(e.status(), e.body_text()))?;
    let limit = q.limit.unwrap_or(50);
    if limit == 0 || limit > MAX_LIMIT {
        return Err(ApiError::invalid(format!("limit must be 1–{MAX_LIMIT}")));
    }
    let status = q.status.as_deref().map(parse_status).transpose()?;
    berth::packrun::validate_tenant_id(&q.tenant)?;
    let mut after = q.cursor.as_deref().map(decode_cursor).transpose()?;
    let mut runs = Vec::new();
    // Documents that cannot be read are skipped and named. A page cut short after a run may
    // name a damaged document that the next request names again.
    let mut damaged = Vec::new();
    let mut scanned = 0;
    let mut more = true;
    while runs.len() < limit && scanned < SCAN_BUDGET {
        let page_size = if status.is_some() {
            MAX_LIMIT
        } else {
            limit - runs.len()
        };
        let page = state
            .store
            .runs()
            .list_page(&RunQuery {
                tenant: q.tenant.clone(),
                after: after.clone(),
                limit: page_size,
            })
            .await?;
        scanned += page.runs.len() + page.damaged.len();
        damaged.extend(page.damaged);
        more = page.next.is_some();
        let mut cut = None;
        for (i, run) in page.runs.iter().enumerate() {
            if status.is_none_or(|s| run.status == s) {
                runs.push(summary(run));
                if runs.len() == limit && i + 1 < page.runs.len() {
                    cut = Some(RunCursor::from(run));
                    break;
                }
            }
        }
        match cut {
            Some(c) => {
                after = Some(c);
                more = true;
            }
            None => {
                if let Some(next) = page.next {
                    after = Some(next);
                }
            }
        }
        if !more {
            break;
        }
    }
    let next = if more {
        after.as_ref().map(encode_cursor)
    } else {
        None
    };
    Ok(Json(
        json!({ "runs": runs, "damaged": damaged, "nextCursor": next }),
    ))
}

/// Reads run `id` (checked first), or a 404.
pub async fn get_run(state: &AppState, id: &str) -> Result<PackRun, ApiError> {
    berth::packrun::validate_run_id(id)?;
    state
        .store
        .runs()
        .get(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("run {id} not found")))
}

/// `GET /runs/{id}`: the run with steps and attempts, gates, artifacts, runner lease, last
/// log sequence.
pub async fn show(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    auth.require(Role::Viewer)?;
    let run = get_run(&state, &id).await?;
    let store = &state.store;
    let approvals = store.approvals().list(&id).await?;
    let artifacts = store.artifacts().list(&id).await?;
    let lease = store.leases().lease(&shard(&id)).await?;
    let last = store.logs().last_sequence(&id).await?;
    let now = store.clock().now();
    let lease = lease
        .filter(|l| l.expires_at > now)
        .map(|l| json!({ "owner": l.owner, "expiresAt": l.expires_at }));
    Ok(Json(json!({
        "run": detail(&run), "approvals": approvals, "artifacts": artifacts,
        "runner": lease, "lastSequence": last,
    })))
}

/// Checks that `id` can go on and that no live runner holds it, then resumes it in this
/// process (in the background). Errors come before anything is written.
pub async fn start_resume(state: &AppState, id: &str) -> Result<(), ApiError> {
    state
        .runner
        .check_resumable(id, None)
        .await?
        .check_runnable()?;
    let now = state.store.clock().now();
    if let Some(l) = state.store.leases().lease(&shard(id)).await? {
        if l.expires_at > now {
            return Err(PackRunError::Busy {
                run_id: id.to_owned(),
                owner: l.owner,
                expires_at: l.expires_at,
            }
            .into());
        }
    }
    let runner = state.runner.clone();
    let id = id.to_owned();
    tokio::spawn(async move {
        match runner.resume(&id, None).await {
            Ok(s) => tracing::info!(run = %id, status = ?s.run.status, "resumed run stopped"),
            Err(e) => tracing::warn!(run = %id, error = %e, "resume failed"),
        }
    });
    Ok(())
}

/// `POST /runs/{id}/resume` (approver): continues a paused or orphaned run in this process.
pub async fn resume(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let caller = auth.require(Role::Approver)?;
    get_run(&state, &id).await?;
    start_resume(&state, &id).await?;
    tracing::info!(run = %id, by = %caller.name, "resume requested");
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "runId": id, "resumed": true })),
    ))
}

/// Whether a run with status `s` has ended.
pub fn ended(s: RunStatus) -> bool {
    matches!(
        s,
        RunStatus::Succeeded | RunStatus::Failed | RunStatus::Cancelled
    )
}

/// `POST /runs/{id}/cancel` (approver): ends a run that no live runner executes (paused,
/// pending or orphaned). Idempotent: cancelling a cancelled run answers it as it is.
pub async fn cancel(
    State(state): State<AppState>,
    auth: Auth,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let caller = auth.require(Role::Approver)?.clone();
    let run = get_run(&state, &id).await?;
    if run.status == RunStatus::Cancelled {
        return Ok(Json(json!({ "run": detail(&run), "changed": false })));
    }
    if ended(run.status) {
        return Err(PackRunError::NotResumable {
            run_id: id,
            status: serde_json::to_value(run.status)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
        }
        .into());
    }
    let claim = match RunClaim::acquire(&state.store, &id).await {
        Ok(l) => l,
        Err(LeaseRefusal::Held(l)) => {
            return Err(ApiError::from(PackRunError::Busy {
                run_id: id,
                owner: l.owner,
                expires_at: l.expires_at,
            }))
        }
        Err(LeaseRefusal::Store(e)) => return Err(e.into()),
    };
    let owned = OwnedWrites::new(state.store.clone(), claim.clone());
    let result = cancel_held(&owned, &id, &caller.name).await;
    claim.release().await;
    let (run, changed) = result?;
    tracing::info!(run = %id, by = %caller.name, "run cancelled");
    Ok(Json(json!({ "run": detail(&run), "changed": changed })))
}

/// Marks run `id` cancelled and its unfinished steps skipped, and logs who did it; the caller
/// holds the run's claim and every write is fenced by it, so no runner writes at the same time.
async fn cancel_held(owned: &OwnedWrites, id: &str, by: &str) -> Result<(PackRun, bool), ApiError> {
    // Read again under the claim: a runner may have ended it since.
    let run = owned
        .store()
        .runs()
        .get(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("run {id} not found")))?;
    if ended(run.status) {
        return Ok((run, false));
    }
    let book = RunBook::new(owned.clone(), run);
    let run = book
        .update(|r| {
            r.status = RunStatus::Cancelled;
            for s in &mut r.steps {
                if !matches!(s.status, StepStatus::Succeeded | StepStatus::Failed) {
                    s.status = StepStatus::Skipped;
                }
            }
        })
        .await?;
    let log = LogWriter::open(owned.clone(), id, None).await?;
    log.event(
        LogLevel::Warn,
        "run.cancelled",
        format!("cancelled by {by}"),
    );
    if let Err(e) = log.flush().await {
        tracing::warn!(run = %id, error = %e, "the cancel log entry was not stored");
    }
    Ok((run, true))
}
