//! Pipeline checkpoints, built once over collections and batches, with what a LangGraph
//! checkpointer user expects: get by id, caller-chosen ids, metadata filters, parents, paging,
//! pending writes, whole-run delete and copy, pruning by policy, and time-to-live.
//!
//! One source of truth: a run's current checkpoint *is* its newest history entry (ids sort
//! in the order checkpoints were made); nothing else holds a copy that could disagree. The
//! run's head record only says whether the run is paused (cleared or not) and when it expires;
//! every write moves its version, so whole-run operations guard on it. The storage layout is
//! in [`layout`].

mod layout;
mod manage;
mod prune;
mod read;
mod write;

pub use layout::{validate_namespace, MAX_NAMESPACE};
pub use prune::PrunePolicy;

use crate::backoff::Backoff;
use crate::error::{Error, ErrorKind, Result};
use crate::ids::IdGenerator;
use crate::records::RecordStore;
use crate::time::{SharedClock, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Where a paused run stopped and what it needs to resume.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Checkpoint {
    /// The namespace: the pipeline id, or the path of a nested sub-pipeline (any length up to
    /// [`MAX_NAMESPACE`]; long ones are hashed in keys and still listed by name).
    pub pipeline_id: String,
    /// The run (LangGraph's thread).
    pub run_id: String,
    /// The stage that paused.
    pub paused_at_stage_id: String,
    /// Its label.
    pub paused_at_stage_label: String,
    /// When it paused (the checkpoint's time; [`PrunePolicy::older_than`] judges by it).
    pub paused_on: Timestamp,
    /// When it asked to be resumed.
    #[serde(default)]
    pub resume_at: Option<Timestamp>,
    /// When the pause gives up.
    #[serde(default)]
    pub timeout_at: Option<Timestamp>,
    /// Engine data (cursor, exported state…).
    #[serde(default)]
    pub data: Value,
    /// The checkpoint's id: chosen by the caller, or (if empty) made by the store's id
    /// generator when written. Ids order a run's history, so choose ones that sort in the
    /// order they are made (UUID v7, as generated ones are). Writing an id again replaces it.
    #[serde(default)]
    pub entry_id: String,
    /// Free-form metadata; [`ListQuery::filter`] matches its top-level fields.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub metadata: Map<String, Value>,
    /// The id of the checkpoint this one follows, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<String>,
}

/// A page of a run's history: newest first, before a cursor, filtered by metadata.
///
/// ```
/// use berth_core::ListQuery;
/// let q = ListQuery::new().before("0193…").limit(10).filter("source", "loop");
/// assert_eq!(q.limit, Some(10));
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListQuery {
    /// Only checkpoints whose id sorts before this one.
    pub before: Option<String>,
    /// At most this many.
    pub limit: Option<usize>,
    /// Only checkpoints whose metadata has each of these top-level fields with exactly this
    /// value (served from the metadata index).
    pub filter: Map<String, Value>,
}

impl ListQuery {
    /// Every checkpoint of the run, newest first.
    pub fn new() -> Self {
        ListQuery::default()
    }

    /// Only those before checkpoint `id`.
    pub fn before(mut self, id: impl Into<String>) -> Self {
        self.before = Some(id.into());
        self
    }

    /// At most `n`.
    pub fn limit(mut self, n: usize) -> Self {
        self.limit = Some(n);
        self
    }

    /// Only those whose metadata field `field` equals `value`.
    pub fn filter(mut self, field: impl Into<String>, value: impl Into<Value>) -> Self {
        self.filter.insert(field.into(), value.into());
        self
    }
}

/// A write a task made towards the next checkpoint, kept with the checkpoint it follows
/// (LangGraph's pending writes), so a resumed run does not redo finished tasks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PendingWrite {
    /// The task that wrote it.
    pub task_id: String,
    /// Its position among the task's writes.
    pub index: usize,
    /// The channel (state key) written.
    pub channel: String,
    /// The value written.
    pub value: Value,
}

/// Reads and writes checkpoints of every namespace.
///
/// ```
/// # async fn demo(store: berth_core::Store) -> berth_core::Result<()> {
/// use berth_core::{Batch, Checkpoint, ListQuery};
/// let checkpoints = store.checkpoints();
/// let mut batch = Batch::new();
/// batch.put("orders", "o-1", serde_json::json!({"step": "awaiting payment"}));
/// let cp = Checkpoint::new("orders", "r-1", "pay", "Payment", store.clock().now())
///     .with_metadata("source", "loop");
/// let id = checkpoints.write(&mut batch, &cp)?;   // same batch as the stage's state patches
/// store.commit(batch).await?;
/// assert_eq!(checkpoints.read("orders", "r-1").await?.unwrap().entry_id, id);
/// let found = checkpoints.list("orders", "r-1", &ListQuery::new().filter("source", "loop")).await?;
/// assert_eq!(found.len(), 1);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Checkpoints {
    records: Arc<dyn RecordStore>,
    ids: Arc<dyn IdGenerator>,
    clock: SharedClock,
    ttl: Option<Duration>,
    deadline: Duration,
    backoff: Backoff,
}

impl std::fmt::Debug for Checkpoints {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checkpoints")
            .field("ttl", &self.ttl)
            .field("deadline", &self.deadline)
            .finish()
    }
}

impl Checkpoint {
    /// A checkpoint of `run` in namespace `pipeline`, paused at `stage` at `paused_on`, with
    /// no data, metadata or parent and an id made when it is written.
    pub fn new(
        pipeline: impl Into<String>,
        run: impl Into<String>,
        stage: impl Into<String>,
        label: impl Into<String>,
        paused_on: Timestamp,
    ) -> Self {
        Checkpoint {
            pipeline_id: pipeline.into(),
            run_id: run.into(),
            paused_at_stage_id: stage.into(),
            paused_at_stage_label: label.into(),
            paused_on,
            resume_at: None,
            timeout_at: None,
            data: Value::Null,
            entry_id: String::new(),
            metadata: Map::new(),
            parent_id: None,
        }
    }

    /// This checkpoint with id `id`.
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.entry_id = id.into();
        self
    }

    /// This checkpoint with `data`.
    pub fn with_data(mut self, data: Value) -> Self {
        self.data = data;
        self
    }

    /// This checkpoint with metadata field `field` set to `value`.
    pub fn with_metadata(mut self, field: impl Into<String>, value: impl Into<Value>) -> Self {
        self.metadata.insert(field.into(), value.into());
        self
    }

    /// This checkpoint following checkpoint `parent`.
    pub fn with_parent(mut self, parent: impl Into<String>) -> Self {
        self.parent_id = Some(parent.into());
        self
    }
}

/// Checks a pipeline id: the namespace rule ([`validate_namespace`]).
pub fn validate_pipeline_id(pipeline: &str) -> Result<()> {
    validate_namespace(pipeline)
}

fn validate_run(namespace: &str, run: &str) -> Result<()> {
    validate_namespace(namespace)?;
    crate::packrun::validate_run_id(run)
}

impl Checkpoints {
    /// Checkpoints kept in `records`, ids from `ids`, time from `clock`.
    pub fn new(
        records: Arc<dyn RecordStore>,
        ids: Arc<dyn IdGenerator>,
        clock: SharedClock,
    ) -> Self {
        Checkpoints {
            records,
            ids,
            clock,
            ttl: None,
            deadline: Duration::from_secs(30),
            backoff: Backoff::default(),
        }
    }

    /// This handle, whose writes make a run expire `ttl` after its newest write (refreshed by
    /// every write through such a handle; a write through a handle without one clears it).
    /// Expired runs read as absent at once and are deleted by
    /// [`sweep_expired`](Checkpoints::sweep_expired) or [`spawn_sweeper`](Checkpoints::spawn_sweeper).
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// This handle, retrying whole-run operations that meet concurrent writers for up to
    /// `deadline` (30 s by default).
    pub fn with_deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Runs `attempt` until it does not end in a conflict, with back-off, within the deadline.
    async fn retry_conflicts<T, F, Fut>(&self, what: &str, mut attempt: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let deadline = Instant::now() + self.deadline;
        let mut tries = 0u32;
        loop {
            match attempt().await {
                Err(e) if e.kind() == ErrorKind::Conflict => {
                    match self.backoff.delay_before(tries, deadline) {
                        Some(delay) => {
                            tracing::debug!(
                                what,
                                tries,
                                "checkpoint operation met a concurrent write; retrying"
                            );
                            tokio::time::sleep(delay).await;
                            tries += 1;
                        }
                        None => {
                            return Err(Error::backend_msg(
                                format!(
                                "checkpoint {what} kept meeting concurrent writes for {:?}: {e}",
                                self.deadline
                            ),
                                true,
                            ))
                        }
                    }
                }
                other => return other,
            }
        }
    }
}
