//! [`ArtifactStore`] on `pack_artifacts`, one document per (runId, name).

use super::doc::{from_doc, to_doc};
use super::fenced::{fail, write_fenced, Fail};
use crate::errors::{ctx, is_duplicate_key};
use crate::schema::Role;
use crate::shared::{collect, Shared};
use async_trait::async_trait;
use berth_core::packrun::validate_artifact_name;
use berth_core::packrun::{validate_run_id, Artifact, ArtifactStore};
use berth_core::{Error, Fence, Result};
use mongodb::bson::{doc, Document};
use tracing::Instrument;

const DATES: &[&str] = &["capturedAt"];
/// Upserts retried after racing a concurrent first record of the same (run, name).
const RECORD_ATTEMPTS: usize = 3;

fn decode(d: Document) -> Result<Artifact> {
    from_doc(d, DATES, None, "artifact")
}

/// The filter and replacement that store `artifact` over the one with its (run, name).
pub(super) fn upsert(artifact: &Artifact) -> Result<(Document, Document)> {
    let fields = to_doc(artifact, DATES, "artifact")?;
    Ok((
        doc! {"runId": &artifact.run_id, "name": &artifact.name},
        fields,
    ))
}

/// The MongoDB backend's native [`ArtifactStore`].
#[derive(Debug, Clone)]
pub struct MongoArtifacts {
    shared: Shared,
}

impl MongoArtifacts {
    pub(crate) fn new(shared: Shared) -> Self {
        MongoArtifacts { shared }
    }

    async fn record_inner(&self, artifact: &Artifact) -> Result<()> {
        let fields = to_doc(artifact, DATES, "artifact")?;
        let filter = doc! {"runId": &artifact.run_id, "name": &artifact.name};
        for _ in 0..RECORD_ATTEMPTS {
            let done = self
                .shared
                .coll(Role::Artifacts)
                .replace_one(filter.clone(), fields.clone())
                .upsert(true)
                .await;
            match done {
                Ok(_) => return Ok(()),
                // Two first records of one output raced; the loser replaces the winner's.
                Err(e) if is_duplicate_key(&e) => continue,
                Err(e) => return Err(ctx("record artifact")(e)),
            }
        }
        Err(Error::backend_msg(
            "recording an artifact kept racing",
            true,
        ))
    }

    /// [`record_inner`](Self::record_inner) in a transaction that holds `fence` (a racing
    /// first record of the same output aborts it, and the next round replaces the winner's).
    async fn record_fenced_inner(&self, artifact: &Artifact, fence: &Fence) -> Result<()> {
        let fields = to_doc(artifact, DATES, "artifact")?;
        let filter = doc! {"runId": &artifact.run_id, "name": &artifact.name};
        let artifacts = self.shared.coll(Role::Artifacts);
        write_fenced(
            &self.shared,
            fence,
            Box::new(move |session| {
                let (artifacts, filter, fields) =
                    (artifacts.clone(), filter.clone(), fields.clone());
                Box::pin(async move {
                    match artifacts
                        .replace_one(filter, fields)
                        .upsert(true)
                        .session(&mut *session)
                        .await
                    {
                        Ok(_) => Ok(()),
                        Err(e) if is_duplicate_key(&e) => Err(Fail::Transient),
                        Err(e) => Err(fail("record artifact")(e)),
                    }
                })
            }),
        )
        .await
    }
}

#[async_trait]
impl ArtifactStore for MongoArtifacts {
    async fn record(&self, artifact: Artifact) -> Result<()> {
        validate_run_id(&artifact.run_id)?;
        validate_artifact_name(&artifact.name)?;
        let span = tracing::debug_span!("mongo.artifacts.record", run = %artifact.run_id, name = %artifact.name);
        self.shared
            .deadline("record artifact", self.record_inner(&artifact))
            .instrument(span)
            .await
    }

    async fn record_fenced(&self, artifact: Artifact, fence: &Fence) -> Result<()> {
        validate_run_id(&artifact.run_id)?;
        validate_artifact_name(&artifact.name)?;
        let span = tracing::debug_span!("mongo.artifacts.record_fenced", run = %artifact.run_id, name = %artifact.name, token = fence.token);
        self.shared
            .deadline(
                "record artifact",
                self.record_fenced_inner(&artifact, fence),
            )
            .instrument(span)
            .await
    }

    async fn get(&self, run: &str, name: &str) -> Result<Option<Artifact>> {
        validate_run_id(run)?;
        validate_artifact_name(name)?;
        let span = tracing::debug_span!("mongo.artifacts.get", run, name);
        let fut = async {
            let found = self
                .shared
                .coll(Role::Artifacts)
                .find_one(doc! {"runId": run, "name": name})
                .await
                .map_err(ctx("read artifact"))?;
            found.map(decode).transpose()
        };
        self.shared
            .deadline("get artifact", fut)
            .instrument(span)
            .await
    }

    async fn list(&self, run: &str) -> Result<Vec<Artifact>> {
        validate_run_id(run)?;
        let span = tracing::debug_span!("mongo.artifacts.list", run);
        let fut = async {
            let cursor = self
                .shared
                .coll(Role::Artifacts)
                .find(doc! {"runId": run})
                .sort(doc! {"runId": 1, "name": 1})
                .await
                .map_err(ctx("list artifacts"))?;
            collect(cursor, "list artifacts")
                .await?
                .into_iter()
                .map(decode)
                .collect()
        };
        self.shared
            .deadline("list artifacts", fut)
            .instrument(span)
            .await
    }
}
