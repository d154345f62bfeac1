//! [`RunStore`] on `pack_runs`: `_id` = run id, `version` for compare-and-set updates.

use super::doc::{from_doc, to_doc};
use super::fenced::{fail, write_fenced, Fail};
use crate::errors::{ctx, is_duplicate_key};
use crate::schema::Role;
use crate::shared::{collect, Shared};
use async_trait::async_trait;
use berth_core::packrun::{
    validate_run_id, validate_tenant_id as validate_tenant, PackRun, Restored, RunBundle,
    RunCursor, RunEntry, RunPage, RunQuery, RunStore,
};
use berth_core::{Error, Fence, Result, Timestamp};
use mongodb::bson::{doc, Bson, Document};
use mongodb::options::ReturnDocument;
use tracing::Instrument;

const DATES: &[&str] = &[
    "requestedAt",
    "createdAt",
    "updatedAt",
    "steps.nextAttemptAt",
];

pub(super) fn encode(run: &PackRun) -> Result<Document> {
    let mut d = to_doc(run, DATES, "pack run")?;
    let id = d.remove("id").unwrap_or_else(|| run.id.clone().into());
    let mut out = doc! {"_id": id};
    out.extend(d);
    Ok(out)
}

pub(super) fn decode(d: Document) -> Result<PackRun> {
    from_doc(d, DATES, Some("id"), "pack run")
}

/// A listed document: named by `_id` and placed by `updatedAt` as stored, so a document that
/// does not decode is still named and paged past.
fn entry(d: Document) -> RunEntry {
    let key = match d.get("_id") {
        Some(Bson::String(id)) => id.clone(),
        Some(other) => other.to_string(),
        None => "(no _id)".to_owned(),
    };
    let position = match (d.get("_id"), d.get("updatedAt")) {
        (Some(Bson::String(id)), Some(Bson::DateTime(at))) => Some(RunCursor {
            updated_at: Timestamp::from_millis(at.timestamp_millis()),
            id: id.clone(),
        }),
        _ => None,
    };
    RunEntry {
        key,
        position,
        run: decode(d),
    }
}

/// The MongoDB backend's native [`RunStore`].
#[derive(Debug, Clone)]
pub struct MongoRuns {
    shared: Shared,
}

impl MongoRuns {
    pub(crate) fn new(shared: Shared) -> Self {
        MongoRuns { shared }
    }

    async fn create_inner(&self, mut run: PackRun) -> Result<PackRun> {
        let now = self.shared.clock.now();
        run.created_at = now;
        run.updated_at = now;
        run.version = 1;
        match self.shared.coll(Role::Runs).insert_one(encode(&run)?).await {
            Ok(_) => Ok(run),
            Err(e) if is_duplicate_key(&e) => Err(Error::conflict(
                0,
                &self.shared.names.runs,
                &run.id,
                "a run with this id exists",
            )),
            Err(e) => Err(ctx("create run")(e)),
        }
    }

    async fn update_inner(&self, mut run: PackRun) -> Result<PackRun> {
        let expected = run.version;
        run.updated_at = self.shared.clock.now();
        run.version = expected + 1;
        let mut set = encode(&run)?;
        set.remove("_id");
        set.remove("createdAt");
        let mut update = doc! {"$set": set};
        if run.tenant_id.is_none() {
            update.insert("$unset", doc! {"tenantId": ""});
        }
        let filter =
            doc! {"_id": &run.id, "version": crate::bson_json::to_i64(expected, "version")?};
        let runs = self.shared.coll(Role::Runs);
        let updated = runs
            .find_one_and_update(filter, update)
            .return_document(ReturnDocument::After)
            .await
            .map_err(ctx("update run"))?;
        match updated {
            Some(d) => decode(d),
            None => match runs
                .find_one(doc! {"_id": &run.id})
                .projection(doc! {"version": 1})
                .await
                .map_err(ctx("read run"))?
            {
                None => Err(Error::NotFound(format!("pack run {}", run.id))),
                Some(current) => Err(Error::conflict(
                    0,
                    &self.shared.names.runs,
                    &run.id,
                    format!(
                        "expected version {expected}, found {}",
                        crate::errors::number(&current, "version").unwrap_or(0)
                    ),
                )),
            },
        }
    }

    /// [`update_inner`](Self::update_inner) in a transaction that holds `fence`.
    async fn update_fenced_inner(&self, mut run: PackRun, fence: &Fence) -> Result<PackRun> {
        let expected = run.version;
        run.updated_at = self.shared.clock.now();
        run.version = expected + 1;
        let mut set = encode(&run)?;
        set.remove("_id");
        set.remove("createdAt");
        let mut update = doc! {"$set": set};
        if run.tenant_id.is_none() {
            update.insert("$unset", doc! {"tenantId": ""});
        }
        let filter =
            doc! {"_id": &run.id, "version": crate::bson_json::to_i64(expected, "version")?};
        let runs = self.shared.coll(Role::Runs);
        let names = self.shared.names.runs.clone();
        let id = run.id.clone();
        write_fenced(
            &self.shared,
            fence,
            Box::new(move |session| {
                let (runs, filter, update, names, id) = (
                    runs.clone(),
                    filter.clone(),
                    update.clone(),
                    names.clone(),
                    id.clone(),
                );
                Box::pin(async move {
                    let updated = runs
                        .find_one_and_update(filter, update)
                        .return_document(ReturnDocument::After)
                        .session(&mut *session)
                        .await
                        .map_err(fail("update run"))?;
                    if let Some(d) = updated {
                        return Ok(decode(d)?);
                    }
                    let current = runs
                        .find_one(doc! {"_id": &id})
                        .projection(doc! {"version": 1})
                        .session(&mut *session)
                        .await
                        .map_err(fail("read run"))?;
                    Err(Fail::Error(match current {
                        None => Error::NotFound(format!("pack run {id}")),
                        Some(current) => Error::conflict(
                            0,
                            &names,
                            &id,
                            format!(
                                "expected version {expected}, found {}",
                                crate::errors::number(&current, "version").unwrap_or(0)
                            ),
                        ),
                    }))
                })
            }),
        )
        .await
    }

    async fn list_inner(&self, query: &RunQuery) -> Result<RunPage> {
        if query.limit == 0 {
            return Ok(RunPage::default());
        }
        let mut filter = Document::new();
        if let Some(t) = &query.tenant {
            filter.insert("tenantId", t);
        }
        if let Some(after) = &query.after {
            let at = crate::bson_json::date(after.updated_at);
            filter.insert(
                "$or",
                vec![
                    doc! {"updatedAt": {"$lt": at}},
                    doc! {"updatedAt": at, "_id": {"$lt": &after.id}},
                ],
            );
        }
        let cursor = self
            .shared
            .coll(Role::Runs)
            .find(filter)
            .sort(doc! {"updatedAt": -1, "_id": -1})
            .limit(i64::try_from(query.limit).unwrap_or(i64::MAX))
            .await
            .map_err(ctx("list runs"))?;
        let entries = collect(cursor, "list runs")
            .await?
            .into_iter()
            .map(entry)
            .collect();
        RunPage::collect(entries, query.limit)
    }
}

#[async_trait]
impl RunStore for MongoRuns {
    async fn create(&self, run: PackRun) -> Result<PackRun> {
        validate_run_id(&run.id)?;
        validate_tenant(&run.tenant_id)?;
        let span = tracing::debug_span!("mongo.runs.create", run = %run.id);
        self.shared
            .deadline("create run", self.create_inner(run))
            .instrument(span)
            .await
    }

    async fn get(&self, id: &str) -> Result<Option<PackRun>> {
        validate_run_id(id)?;
        let span = tracing::debug_span!("mongo.runs.get", run = id);
        let fut = async {
            let found = self
                .shared
                .coll(Role::Runs)
                .find_one(doc! {"_id": id})
                .await
                .map_err(ctx("read run"))?;
            found.map(decode).transpose()
        };
        self.shared.deadline("get run", fut).instrument(span).await
    }

    async fn update(&self, run: PackRun) -> Result<PackRun> {
        validate_run_id(&run.id)?;
        validate_tenant(&run.tenant_id)?;
        let span = tracing::debug_span!("mongo.runs.update", run = %run.id, version = run.version);
        self.shared
            .deadline("update run", self.update_inner(run))
            .instrument(span)
            .await
    }

    async fn update_fenced(&self, run: PackRun, fence: &Fence) -> Result<PackRun> {
        validate_run_id(&run.id)?;
        validate_tenant(&run.tenant_id)?;
        let span = tracing::debug_span!("mongo.runs.update_fenced", run = %run.id, version = run.version, token = fence.token);
        self.shared
            .deadline("update run", self.update_fenced_inner(run, fence))
            .instrument(span)
            .await
    }

    async fn restore_bundle(&self, bundle: &RunBundle) -> Result<Restored> {
        bundle.validate()?;
        let span = tracing::debug_span!(
            "mongo.runs.restore_bundle",
            run = %bundle.run.id,
            logs = bundle.logs.len(),
            artifacts = bundle.artifacts.len(),
            approvals = bundle.approvals.len()
        );
        self.shared
            .deadline("restore run", super::bundle::restore(&self.shared, bundle))
            .instrument(span)
            .await
    }

    async fn list_page(&self, query: &RunQuery) -> Result<RunPage> {
        validate_tenant(&query.tenant)?;
        let span =
            tracing::debug_span!("mongo.runs.list", tenant = ?query.tenant, limit = query.limit);
        self.shared
            .deadline("list runs", self.list_inner(query))
            .instrument(span)
            .await
    }
}
