//! Pipeline checkpoints, built once over collections and batches (seed 003).

use crate::batch::Batch;
use crate::codec::{from_json, to_json};
use crate::error::{Error, Result};
use crate::ids::IdGenerator;
use crate::record::Scan;
use crate::records::RecordStore;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;

/// Where a paused run stopped and what it needs to resume.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Checkpoint {
    /// The pipeline definition id.
    pub pipeline_id: String,
    /// The run.
    pub run_id: String,
    /// The stage that paused.
    pub paused_at_stage_id: String,
    /// Its label.
    pub paused_at_stage_label: String,
    /// When it paused.
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
    /// The history entry this checkpoint was written as; set by [`Checkpoints::write`].
    #[serde(default)]
    pub entry_id: String,
}

/// Reads and writes checkpoints of every pipeline.
///
/// The current checkpoint of a run lives in `checkpoints:<pipeline>` under the run id; every
/// written checkpoint is also kept in `checkpoint-history:<pipeline>` under
/// `<run>\u{1f}<time-ordered id>` until [`prune`](Checkpoints::prune)d.
///
/// ```
/// # async fn demo(store: berth_core::Store) -> berth_core::Result<()> {
/// use berth_core::{Batch, Checkpoint};
/// let checkpoints = store.checkpoints();
/// let mut batch = Batch::new();
/// batch.put("orders", "o-1", serde_json::json!({"step": "awaiting payment"}));
/// let cp = Checkpoint {
///     pipeline_id: "orders".into(), run_id: "r-1".into(),
///     paused_at_stage_id: "pay".into(), paused_at_stage_label: "Payment".into(),
///     paused_on: store.clock().now(), resume_at: None, timeout_at: None,
///     data: serde_json::json!({}), entry_id: String::new(),
/// };
/// checkpoints.write(&mut batch, &cp)?;   // same batch as the stage's state patches
/// store.commit(batch).await?;
/// assert!(checkpoints.read("orders", "r-1").await?.is_some());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Checkpoints {
    records: Arc<dyn RecordStore>,
    ids: Arc<dyn IdGenerator>,
}

fn current(pipeline: &str) -> String {
    format!("checkpoints:{pipeline}")
}

fn history(pipeline: &str) -> String {
    format!("checkpoint-history:{pipeline}")
}

/// Checks a pipeline id: 1–200 bytes without NUL (it becomes part of collection names).
pub fn validate_pipeline_id(pipeline: &str) -> Result<()> {
    if pipeline.is_empty() || pipeline.len() > 200 || pipeline.contains('\0') {
        return Err(Error::invalid(
            "pipeline id",
            "must be 1–200 bytes without NUL",
        ));
    }
    Ok(())
}

fn validate_ids(pipeline: &str, run: &str) -> Result<()> {
    validate_pipeline_id(pipeline)?;
    crate::packrun::validate_run_id(run)
}

impl Checkpoints {
    /// Checkpoints kept in `records`, history ids from `ids`.
    pub fn new(records: Arc<dyn RecordStore>, ids: Arc<dyn IdGenerator>) -> Self {
        Checkpoints { records, ids }
    }

    /// Adds `checkpoint` to `batch` as the run's current checkpoint and a history entry.
    /// Returns the history entry id.
    pub fn write(&self, batch: &mut Batch, checkpoint: &Checkpoint) -> Result<String> {
        validate_ids(&checkpoint.pipeline_id, &checkpoint.run_id)?;
        let mut cp = checkpoint.clone();
        cp.entry_id = self.ids.next_id().to_string();
        let value = to_json(&cp)?;
        let hist_key = format!("{}\u{1f}{}", cp.run_id, cp.entry_id);
        batch.put(&history(&cp.pipeline_id), &hist_key, value.clone());
        batch.put(&current(&cp.pipeline_id), &cp.run_id, value);
        Ok(cp.entry_id)
    }

    /// The run's current checkpoint.
    pub async fn read(&self, pipeline: &str, run: &str) -> Result<Option<Checkpoint>> {
        validate_ids(pipeline, run)?;
        match self.records.get(&current(pipeline), run).await? {
            Some(r) => from_json(r.value, "checkpoint").map(Some),
            None => Ok(None),
        }
    }

    /// Adds the removal of the run's current checkpoint to `batch` (history stays).
    pub fn clear_in(&self, batch: &mut Batch, pipeline: &str, run: &str) -> Result<()> {
        validate_ids(pipeline, run)?;
        batch.delete(&current(pipeline), run);
        Ok(())
    }

    /// Removes the run's current checkpoint (history stays until pruned).
    pub async fn clear(&self, pipeline: &str, run: &str) -> Result<()> {
        let mut batch = Batch::new();
        self.clear_in(&mut batch, pipeline, run)?;
        self.records.commit(batch).await.map(|_| ())
    }

    /// Current checkpoints of `pipeline`, newest `paused_on` first.
    pub async fn list(&self, pipeline: &str) -> Result<Vec<Checkpoint>> {
        validate_pipeline_id(pipeline)?;
        let mut all: Vec<Checkpoint> = self
            .records
            .scan(&current(pipeline), &Scan::all())
            .await?
            .into_iter()
            .map(|r| from_json(r.value, "checkpoint"))
            .collect::<Result<_>>()?;
        all.sort_by(|a, b| {
            b.paused_on
                .cmp(&a.paused_on)
                .then_with(|| b.entry_id.cmp(&a.entry_id))
        });
        Ok(all)
    }

    /// Every checkpoint ever written for the run and not pruned, newest first.
    pub async fn history(&self, pipeline: &str, run: &str) -> Result<Vec<Checkpoint>> {
        self.recent(pipeline, run, usize::MAX).await
    }

    /// The newest `limit` checkpoints written for the run, newest first (one ordered range read).
    pub async fn recent(&self, pipeline: &str, run: &str, limit: usize) -> Result<Vec<Checkpoint>> {
        validate_ids(pipeline, run)?;
        let scan = Scan::prefix(format!("{run}\u{1f}")).reversed().limit(limit);
        self.records
            .scan(&history(pipeline), &scan)
            .await?
            .into_iter()
            .map(|r| from_json(r.value, "checkpoint"))
            .collect()
    }

    /// Deletes all but the newest `keep_latest` history entries of the run; returns how many.
    pub async fn prune(&self, pipeline: &str, run: &str, keep_latest: usize) -> Result<usize> {
        validate_ids(pipeline, run)?;
        let coll = history(pipeline);
        let old = self
            .records
            .scan(&coll, &Scan::prefix(format!("{run}\u{1f}")).reversed())
            .await?;
        let mut batch = Batch::new();
        for r in old.iter().skip(keep_latest) {
            batch.delete(&coll, &r.key);
        }
        let n = batch.len();
        if n > 0 {
            self.records.commit(batch).await?;
        }
        Ok(n)
    }
}
