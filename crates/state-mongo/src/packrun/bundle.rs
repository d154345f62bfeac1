//! A run restored with everything of it in one transaction across the pack-run collections.

use super::fenced::{fail, write_atomic, Fail};
use super::{approvals, artifacts, logs, runs};
use crate::errors::{ctx, is_duplicate_key};
use crate::schema::Role;
use crate::shared::Shared;
use berth_core::packrun::{restored_version, Restored, RunBundle};
use berth_core::{Error, Result};
use mongodb::bson::{doc, Document};
use mongodb::{ClientSession, Collection};
use std::sync::Arc;

/// The collections a restore writes.
#[derive(Clone)]
struct Targets {
    runs: Collection<Document>,
    logs: Collection<Document>,
    artifacts: Collection<Document>,
    approvals: Collection<Document>,
}

/// Writes `bundle` in one transaction: all of it, or nothing after any error;
/// `Unsupported` where the server has no transactions.
pub(super) async fn restore(shared: &Shared, bundle: &RunBundle) -> Result<Restored> {
    let targets = Targets {
        runs: shared.coll(Role::Runs),
        logs: shared.coll(Role::Logs),
        artifacts: shared.coll(Role::Artifacts),
        approvals: shared.coll(Role::Approvals),
    };
    let only_run =
        bundle.logs.is_empty() && bundle.artifacts.is_empty() && bundle.approvals.is_empty();
    if only_run && !shared.server.transactions {
        // One document is written atomically by itself: no transaction needed.
        let mut session = shared
            .client
            .start_session()
            .await
            .map_err(ctx("start session"))?;
        return write(&mut session, &targets, bundle)
            .await
            .map_err(|f| match f {
                Fail::Error(e) => e,
                Fail::Transient => Error::backend_msg("restoring a run raced another write", true),
            });
    }
    let bundle = Arc::new(bundle.clone());
    write_atomic(
        shared,
        "restoring a run",
        None,
        Box::new(move |session| {
            let (targets, bundle) = (targets.clone(), bundle.clone());
            Box::pin(async move { write(session, &targets, &bundle).await })
        }),
    )
    .await
}

/// Two writers of one record raced: the server aborted the transaction, which runs again.
fn raced(what: &'static str) -> impl Fn(mongodb::error::Error) -> Fail {
    move |e| {
        if is_duplicate_key(&e) {
            Fail::Transient
        } else {
            fail(what)(e)
        }
    }
}

async fn write(
    session: &mut ClientSession,
    to: &Targets,
    bundle: &RunBundle,
) -> std::result::Result<Restored, Fail> {
    let id = &bundle.run.id;
    for a in &bundle.artifacts {
        let (filter, fields) = artifacts::upsert(a)?;
        to.artifacts
            .replace_one(filter, fields)
            .upsert(true)
            .session(&mut *session)
            .await
            .map_err(raced("record artifact"))?;
    }
    for a in &bundle.approvals {
        let (filter, update) = approvals::restore_update(a)?;
        to.approvals
            .update_one(filter, update)
            .upsert(true)
            .session(&mut *session)
            .await
            .map_err(raced("restore approval"))?;
    }
    let current = to
        .runs
        .find_one(doc! {"_id": id})
        .session(&mut *session)
        .await
        .map_err(fail("read run"))?
        .map(runs::decode)
        .transpose()?;
    let run = match (restored_version(&bundle.run, current.as_ref()), current) {
        (None, Some(stored)) => stored,
        (version, _) => {
            let mut run = bundle.run.clone();
            run.version = version.unwrap_or(run.version);
            to.runs
                .replace_one(doc! {"_id": id}, runs::encode(&run)?)
                .upsert(true)
                .session(&mut *session)
                .await
                .map_err(raced("restore run"))?;
            run
        }
    };
    // A refused line (a different entry under a stored sequence) aborts everything above.
    let mut stored_logs = Vec::new();
    if let (Some(first), Some(last)) = (bundle.logs.first(), bundle.logs.last()) {
        let range = doc! {
            "$gte": crate::bson_json::to_i64(first.sequence, "sequence")?,
            "$lte": crate::bson_json::to_i64(last.sequence, "sequence")?,
        };
        let mut cursor = to
            .logs
            .find(doc! {"runId": id, "sequence": range})
            .session(&mut *session)
            .await
            .map_err(fail("read log entries"))?;
        while cursor
            .advance(&mut *session)
            .await
            .map_err(fail("read log entries"))?
        {
            let d: Document = cursor
                .deserialize_current()
                .map_err(fail("read log entries"))?;
            stored_logs.push(logs::decode(d)?);
        }
    }
    let fresh = bundle.new_logs(&stored_logs)?;
    if !fresh.is_empty() {
        let docs = fresh
            .iter()
            .map(|e| logs::encode(e))
            .collect::<Result<Vec<_>>>()?;
        to.logs
            .insert_many(docs)
            .session(&mut *session)
            .await
            .map_err(raced("append log entries"))?;
    }
    Ok(Restored {
        run,
        logs: fresh.len() as u64,
    })
}
