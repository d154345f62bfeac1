//! Configuring an engine.

use crate::definition::Pipeline;
use crate::engine::Engine;
use crate::error::PipelineError;
use crate::events::Emitter;
use crate::inner::EngineInner;
use crate::record::{runs_collection, stage_log_collection};
use crate::registry::Registry;
use berth_core::Store;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Default time a paused run stays live in the registry.
pub const DEFAULT_PAUSE_TIMEOUT: Duration = Duration::from_secs(300);

/// Configures an [`Engine`].
#[derive(Debug)]
pub struct EngineBuilder {
    store: Store,
    pipeline: Pipeline,
    registry: Option<Registry>,
    default_pause_timeout: Duration,
    event_capacity: usize,
    stage_log: bool,
    claim: Option<crate::owned::OwnedBy>,
}

impl EngineBuilder {
    pub(crate) fn new(store: Store, pipeline: Pipeline) -> Self {
        EngineBuilder {
            store,
            pipeline,
            registry: None,
            default_pause_timeout: DEFAULT_PAUSE_TIMEOUT,
            event_capacity: 1024,
            stage_log: true,
            claim: None,
        }
    }

    /// Shares `registry` (for example between the engines of several pipelines).
    pub fn registry(mut self, registry: Registry) -> Self {
        self.registry = Some(registry);
        self
    }

    /// How long a paused run stays live when its router names no timeout (zero: release
    /// at once). Default [`DEFAULT_PAUSE_TIMEOUT`].
    pub fn default_pause_timeout(mut self, timeout: Duration) -> Self {
        self.default_pause_timeout = timeout;
        self
    }

    /// Capacity of the event channel (a slow subscriber loses the oldest events). Default 1024.
    pub fn event_capacity(mut self, capacity: usize) -> Self {
        self.event_capacity = capacity;
        self
    }

    /// Whether every stage commit also writes a [`StageLogEntry`](crate::record::StageLogEntry)
    /// (default true). Without it a commit writes one record less; the run record's version
    /// still guarantees that no stage is committed twice.
    pub fn stage_log(mut self, keep: bool) -> Self {
        self.stage_log = keep;
        self
    }

    /// Makes every commit of this engine one made on behalf of `claim`'s owner: each carries
    /// the claim's fence, checked by the store in the same transaction. After a lapse nobody
    /// used the claim is renewed and the commit made again; once another owner has taken
    /// over, the run stops with [`PipelineError::ClaimLost`] and nothing more is stored.
    pub fn claim(mut self, claim: Arc<dyn berth_core::Claim>) -> Self {
        self.claim = Some(crate::owned::OwnedBy(claim));
        self
    }

    /// Checks the pipeline and builds the engine.
    pub fn build(self) -> Result<Engine, PipelineError> {
        self.pipeline.validate()?;
        let id = self.pipeline.id.clone();
        let emitter = Emitter::new(self.event_capacity, self.store.clock().clone());
        Ok(Engine {
            inner: Arc::new(EngineInner {
                runs_collection: runs_collection(&id),
                log_collection: stage_log_collection(&id),
                root_id: Arc::from(id.as_str()),
                stage_log: self.stage_log,
                claim: self.claim,
                store: self.store,
                pipeline: self.pipeline,
                registry: self.registry.unwrap_or_default(),
                default_pause_timeout: self.default_pause_timeout,
                emitter,
                active: Mutex::new(HashMap::new()),
            }),
        })
    }
}
