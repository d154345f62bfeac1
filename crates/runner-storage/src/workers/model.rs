//! The records of the worker registry, as stored (field names as in seed 000).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// A worker a unit asks for: a name unique within its instance, an image, and parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnitWorker {
    /// The unit's name for this worker.
    pub name: String,
    /// The image, `registry/path:tag`.
    pub image: String,
    /// Parameters passed to the worker for this unit.
    #[serde(default)]
    pub params: Value,
}

impl UnitWorker {
    /// A unit worker with empty parameters.
    pub fn new(name: impl Into<String>, image: impl Into<String>) -> Self {
        UnitWorker {
            name: name.into(),
            image: image.into(),
            params: Value::Object(serde_json::Map::new()),
        }
    }

    /// This unit worker with `params`.
    pub fn with_params(mut self, params: Value) -> Self {
        self.params = params;
        self
    }
}

/// An instance's registrations: unit worker name → registration id. The caller keeps it with
/// its instance state and passes it back on the next update.
pub type Registrations = BTreeMap<String, String>;

/// Lifecycle of a worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum WorkerStatus {
    /// Created; the worker manager was asked to start it.
    Starting,
    /// Running.
    Running,
    /// Failed to start too often.
    Failed,
}

/// A worker: one per image, run under the service account of its identity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Worker {
    /// Lifecycle state.
    pub status: WorkerStatus,
    /// Starts that failed since the last successful one.
    pub failed_start_attempts: u32,
    /// The image without its tag.
    pub identity: String,
    /// The image it runs.
    pub image: String,
    /// The service account it acts as.
    pub service_account_id: String,
    /// Its API key.
    pub api_key_id: String,
}

/// A service account: the principal of every worker of one image identity.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServiceAccount {}

/// What an API key may do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyScope {
    /// Kind of scope (`service-account`).
    #[serde(rename = "type")]
    pub kind: String,
    /// Allowed actions (`full`).
    pub actions: Vec<String>,
    /// The service accounts it acts as.
    pub service_account_ids: Vec<String>,
}

/// An API key; stored in an encrypted collection because of its token.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiKey {
    /// The secret token: 32 random bytes as hex.
    pub token: String,
    /// What it may do.
    pub scopes: Vec<ApiKeyScope>,
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKey")
            .field("token", &"<redacted>")
            .field("scopes", &self.scopes)
            .finish()
    }
}

/// A unit worker's registration with a worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkerRegistration {
    /// The image asked for.
    pub image: String,
    /// The unit's parameters.
    pub params: Value,
    /// The instance that owns it.
    pub instance_id: String,
    /// The worker serving it.
    pub worker_id: String,
}
