//! Routers: what a stage decides to do next.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// What a router returns after its stage's steps succeeded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "route")]
pub enum Route {
    /// Go on with the next stage by order, or end the pipeline naturally after the last.
    Advance,
    /// Go to the stage with this id; an unknown id fails the run.
    Jump {
        /// The target stage id.
        stage: String,
    },
    /// End the pipeline now, successfully.
    Terminate,
    /// Commit this stage, write a checkpoint and stop until resumed.
    Pause(Pause),
}

/// A pause request.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Pause {
    /// The stage to resume at; `None` resumes at the stage [`Route::Advance`] would go to.
    pub resume_at: Option<String>,
    /// How long the registry keeps the paused run live before exporting it to storage;
    /// `None` uses the engine's default, zero releases it at once.
    #[serde(default, with = "opt_millis")]
    pub timeout: Option<Duration>,
}

impl Route {
    /// [`Route::Jump`] to `stage`.
    pub fn jump(stage: impl Into<String>) -> Self {
        Route::Jump {
            stage: stage.into(),
        }
    }

    /// [`Route::Pause`] resuming at `stage` with the default timeout.
    pub fn pause_at(stage: impl Into<String>) -> Self {
        Route::Pause(Pause {
            resume_at: Some(stage.into()),
            timeout: None,
        })
    }

    /// [`Route::Pause`] resuming at `stage`, kept live for `timeout`.
    pub fn pause_for(stage: impl Into<String>, timeout: Duration) -> Self {
        Route::Pause(Pause {
            resume_at: Some(stage.into()),
            timeout: Some(timeout),
        })
    }
}

/// What a router sees: the state as the stage will commit it, and each step's patch.
#[derive(Debug)]
pub struct RouterInput<'a> {
    /// The run.
    pub run_id: &'a str,
    /// The stage being routed.
    pub stage_id: &'a str,
    /// The state with this stage's patches applied (inside a sub-pipeline: its namespace).
    pub state: &'a Value,
    /// Each step's patch, by step id; for a stage with sub-pipelines (routed after they
    /// joined), each child's state, by namespace.
    pub results: &'a BTreeMap<String, Value>,
}

/// A stage's router.
pub type Router = Arc<dyn Fn(&RouterInput<'_>) -> Route + Send + Sync>;

mod opt_millis {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        d.map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Ok(Option::<u64>::deserialize(d)?.map(Duration::from_millis))
    }
}
