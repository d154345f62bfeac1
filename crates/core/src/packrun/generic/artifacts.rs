use crate::codec::{from_json, to_json};
use crate::error::Result;
use crate::packrun::validate_artifact_name;
use crate::packrun::{validate_run_id, Artifact, ArtifactStore};
use crate::record::Scan;
use crate::{Batch, Fence, RecordStore};
use async_trait::async_trait;
use std::sync::Arc;

pub(super) fn collection(run: &str) -> String {
    format!("pack_artifacts:{run}")
}

/// [`ArtifactStore`] over a [`RecordStore`].
pub struct GenericArtifacts {
    records: Arc<dyn RecordStore>,
}

impl GenericArtifacts {
    /// Artifacts kept in `records`.
    pub fn new(records: Arc<dyn RecordStore>) -> Self {
        GenericArtifacts { records }
    }
}

#[async_trait]
impl ArtifactStore for GenericArtifacts {
    async fn record(&self, artifact: Artifact) -> Result<()> {
        self.record_with(artifact, None).await
    }

    async fn record_fenced(&self, artifact: Artifact, fence: &Fence) -> Result<()> {
        self.record_with(artifact, Some(fence)).await
    }

    async fn get(&self, run: &str, name: &str) -> Result<Option<Artifact>> {
        validate_run_id(run)?;
        validate_artifact_name(name)?;
        match self.records.get(&collection(run), name).await? {
            Some(r) => from_json(r.value, "artifact").map(Some),
            None => Ok(None),
        }
    }

    async fn list(&self, run: &str) -> Result<Vec<Artifact>> {
        validate_run_id(run)?;
        self.records
            .scan(&collection(run), &Scan::all())
            .await?
            .into_iter()
            .map(|r| from_json(r.value, "artifact"))
            .collect()
    }
}

impl GenericArtifacts {
    async fn record_with(&self, artifact: Artifact, fence: Option<&Fence>) -> Result<()> {
        validate_run_id(&artifact.run_id)?;
        validate_artifact_name(&artifact.name)?;
        let mut batch = Batch::new();
        if let Some(f) = fence {
            batch.fence(f);
        }
        batch.put(
            &collection(&artifact.run_id),
            &artifact.name,
            to_json(&artifact)?,
        );
        self.records.commit(batch).await.map(|_| ())
    }
}
