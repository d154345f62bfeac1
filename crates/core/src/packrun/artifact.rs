use crate::error::Result;
use crate::fence::Fence;
use crate::time::Timestamp;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// What happened to a declared output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ArtifactStatus {
    /// Declared, not yet captured.
    Pending,
    /// Copied into the artifacts directory.
    Copied,
    /// Materialised in an object store.
    Materialized,
    /// Not captured (missing output).
    Skipped,
}

/// One output of a run (seed 002's `pack_artifacts`), unique on (run, name).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Artifact {
    /// The run.
    pub run_id: String,
    /// Output name from the manifest.
    pub name: String,
    /// `file`, `object`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// Local path captured during execution.
    #[serde(default)]
    pub source_path: Option<String>,
    /// Stored path or bundle-relative URI.
    #[serde(default)]
    pub stored_path: Option<String>,
    /// Capture status.
    pub status: ArtifactStatus,
    /// Deterministic notes.
    #[serde(default)]
    pub notes: Option<String>,
    /// When the worker recorded it.
    pub captured_at: Timestamp,
}

/// Storage of run artifacts.
#[async_trait]
pub trait ArtifactStore: Send + Sync {
    /// Creates or replaces the record of (run, name).
    async fn record(&self, artifact: Artifact) -> Result<()>;
    /// [`record`](ArtifactStore::record) made on behalf of the run's owner: applies only
    /// while `fence` is current, checked in the same transaction
    /// ([`StaleFence`](crate::Error::StaleFence) and nothing written otherwise).
    async fn record_fenced(&self, artifact: Artifact, fence: &Fence) -> Result<()>;
    /// Reads one artifact.
    async fn get(&self, run: &str, name: &str) -> Result<Option<Artifact>>;
    /// Every artifact of `run`, ordered by name.
    async fn list(&self, run: &str) -> Result<Vec<Artifact>>;
}
