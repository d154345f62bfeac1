//! The registry of paused runs kept live in memory until their pause timeout.

use crate::address::ResumeAddress;
use crate::events::{Emitter, EventKind, PathNode};
use crate::record::{Bundle, CheckpointData};
use berth_core::{Batch, Checkpoint, Precondition, Store, Timestamp};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// A paused run held live: everything needed to continue without reading storage.
#[derive(Debug, Clone)]
pub(crate) struct LiveRun {
    pub pipeline_id: String,
    pub run_id: Arc<str>,
    pub state: Arc<Value>,
    pub version: u64,
    pub seq: u64,
    pub started_at: Timestamp,
    pub cursor: Option<ResumeAddress>,
    pub checkpoint: Checkpoint,
    pub results: BTreeMap<String, Value>,
    pub store: Store,
    pub runs_collection: String,
    pub emitter: Emitter,
}

struct Held {
    live: LiveRun,
    generation: u64,
    timer: CancellationToken,
}

type Key = (String, String);

#[derive(Default)]
struct Inner {
    held: Mutex<HashMap<Key, Held>>,
    generation: AtomicU64,
}

/// Keeps paused runs live until their pause timeout, then exports each run's context into
/// its checkpoint and lets it go; may be shared by the engines of several pipelines.
///
/// A paused run found here is resumed without reading storage (the fast path). Timers use
/// tokio's clock, so `tokio::time::pause()` controls them in tests.
#[derive(Clone, Default)]
pub struct Registry {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("live", &self.len())
            .finish()
    }
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Registry::default()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Key, Held>> {
        // A panic while holding the lock leaves the map consistent (single inserts/removes).
        self.inner.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Number of live paused runs.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no paused run is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether run `run_id` of `pipeline_id` is held live.
    pub fn is_live(&self, pipeline_id: &str, run_id: &str) -> bool {
        self.lock()
            .contains_key(&(pipeline_id.to_owned(), run_id.to_owned()))
    }

    /// The ids of the live paused runs of `pipeline_id`, sorted.
    pub fn live_runs(&self, pipeline_id: &str) -> Vec<String> {
        let mut ids: Vec<String> = self
            .lock()
            .keys()
            .filter(|(p, _)| p == pipeline_id)
            .map(|(_, r)| r.clone())
            .collect();
        ids.sort();
        ids
    }

    /// Holds `live` until `timeout` has passed, then exports it.
    pub(crate) fn hold(&self, live: LiveRun, timeout: Duration) {
        let key = (live.pipeline_id.clone(), live.run_id.to_string());
        let generation = self.inner.generation.fetch_add(1, Ordering::Relaxed);
        let timer = CancellationToken::new();
        let previous = self.lock().insert(
            key.clone(),
            Held {
                live,
                generation,
                timer: timer.clone(),
            },
        );
        if let Some(old) = previous {
            old.timer.cancel();
        }
        let registry = self.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = timer.cancelled() => {}
                _ = tokio::time::sleep(timeout) => {
                    registry.expire(&key, Some(generation)).await;
                }
            }
        });
    }

    /// Takes the live run out (the fast path of resume), stopping its timer.
    pub(crate) fn take(&self, pipeline_id: &str, run_id: &str) -> Option<LiveRun> {
        let held = self
            .lock()
            .remove(&(pipeline_id.to_owned(), run_id.to_owned()))?;
        held.timer.cancel();
        Some(held.live)
    }

    /// Drops a live run without exporting it (its run was cleared).
    pub(crate) fn forget(&self, pipeline_id: &str, run_id: &str) -> bool {
        self.take(pipeline_id, run_id).is_some()
    }

    /// Exports and releases every live run now (for a clean shutdown); returns how many.
    pub async fn release_all(&self) -> usize {
        let keys: Vec<Key> = self.lock().keys().cloned().collect();
        let mut n = 0;
        for key in keys {
            if self.expire(&key, None).await {
                n += 1;
            }
        }
        n
    }

    /// Removes the entry (if it is still generation `generation`), writes its exported
    /// context into the checkpoint and emits `PipelineReleased`.
    async fn expire(&self, key: &Key, generation: Option<u64>) -> bool {
        let held = {
            let mut map = self.lock();
            match map.get(key) {
                Some(h) if generation.map_or(true, |g| g == h.generation) => map.remove(key),
                _ => None,
            }
        };
        let Some(held) = held else {
            return false;
        };
        held.timer.cancel();
        let live = held.live;
        let exported = match export(&live).await {
            Ok(()) => true,
            Err(e) => {
                // A conflict means the run moved on (resumed elsewhere or cleared).
                tracing::debug!(run = %live.run_id, error = %e, "paused run not exported");
                false
            }
        };
        let root: Arc<str> = Arc::from(live.pipeline_id.as_str());
        live.emitter.emit(
            &live.run_id,
            &root,
            || {
                vec![PathNode {
                    pipeline: live.pipeline_id.clone(),
                    stage: None,
                    namespace: None,
                }]
            },
            || EventKind::PipelineReleased { exported },
        );
        true
    }
}

async fn export(live: &LiveRun) -> berth_core::Result<()> {
    let mut cp = live.checkpoint.clone();
    let mut data: CheckpointData =
        berth_core::codec::from_json(cp.data.clone(), "checkpoint data")?;
    data.bundle = Some(Bundle {
        state: Value::clone(&live.state),
        results: live.results.clone(),
        exported_at: live.store.clock().now(),
    });
    cp.data = berth_core::codec::to_json(&data)?;
    let mut batch = Batch::new();
    batch.check(
        &live.runs_collection,
        &live.run_id,
        Precondition::Version(live.version),
    );
    live.store.checkpoints().write(&mut batch, &cp)?;
    live.store.commit(batch).await.map(|_| ())
}
