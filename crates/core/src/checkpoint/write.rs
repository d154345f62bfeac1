//! Writing checkpoints (in the caller's batch), clearing the current one, pending writes.

use super::layout::{validate_id, Head, RunKeys, EXPIRY, HEADS, HISTORY, METADATA, WRITES};
use super::{validate_run, Checkpoint, Checkpoints, PendingWrite};
use crate::batch::{Batch, Precondition};
use crate::codec::{from_json, to_json};
use crate::error::{Error, ErrorKind, Result};
use serde_json::Value;

impl Checkpoints {
    /// Adds `checkpoint` to `batch` as the newest entry of its run's history (so, unless an
    /// entry with a greater id exists, the run's current checkpoint). Returns its id: the
    /// caller's [`entry_id`](Checkpoint::entry_id), or a new one if that is empty.
    ///
    /// Nothing is added if the checkpoint is invalid.
    pub fn write(&self, batch: &mut Batch, checkpoint: &Checkpoint) -> Result<String> {
        let mut cp = checkpoint.clone();
        validate_run(&cp.pipeline_id, &cp.run_id)?;
        if cp.entry_id.is_empty() {
            cp.entry_id = self.ids.next_id().to_string();
        }
        validate_id("checkpoint id", &cp.entry_id)?;
        if let Some(parent) = &cp.parent_id {
            validate_id("parent checkpoint id", parent)?;
        }
        let keys = RunKeys::new(&cp.pipeline_id, &cp.run_id);
        let mut staged = Batch::new();
        stage_entry(&mut staged, &keys, &cp)?;
        self.stage_head(&mut staged, &keys, &cp.pipeline_id, &cp.run_id, true)?;
        batch.extend(staged);
        Ok(cp.entry_id)
    }

    /// Writes `checkpoint` in a batch of its own; returns its id.
    pub async fn put(&self, checkpoint: &Checkpoint) -> Result<String> {
        let mut batch = Batch::new();
        let id = self.write(&mut batch, checkpoint)?;
        self.records.commit(batch).await?;
        Ok(id)
    }

    /// The head of a run as a write leaves it: `active`, expiring per this handle's TTL.
    fn stage_head(
        &self,
        batch: &mut Batch,
        keys: &RunKeys,
        namespace: &str,
        run: &str,
        active: bool,
    ) -> Result<()> {
        let expires_at = self.ttl.map(|ttl| self.now().plus(ttl));
        let head = Head {
            namespace: namespace.to_owned(),
            run: run.to_owned(),
            active,
            expires_at,
        };
        batch.put(HEADS, &keys.head, to_json(&head)?);
        if let Some(at) = expires_at {
            batch.put(EXPIRY, &keys.expiry(at), Value::Null);
        }
        Ok(())
    }

    /// Adds to `batch` that the run has no current checkpoint any more (its history stays).
    pub fn clear_in(&self, batch: &mut Batch, pipeline: &str, run: &str) -> Result<()> {
        validate_run(pipeline, run)?;
        let keys = RunKeys::new(pipeline, run);
        self.stage_head(batch, &keys, pipeline, run, false)
    }

    /// Removes the run's current checkpoint (history stays until pruned or deleted).
    pub async fn clear(&self, pipeline: &str, run: &str) -> Result<()> {
        let mut batch = Batch::new();
        self.clear_in(&mut batch, pipeline, run)?;
        self.records.commit(batch).await.map(|_| ())
    }

    /// Stores the `writes` (channel, value) of task `task` towards checkpoint `id` of the run,
    /// in one commit. Writing the same task's writes again replaces them (idempotent).
    /// Fails with `NotFound` if the run has no checkpoint `id` (or has expired).
    pub async fn put_writes(
        &self,
        pipeline: &str,
        run: &str,
        id: &str,
        task: &str,
        writes: &[(String, Value)],
    ) -> Result<()> {
        validate_run(pipeline, run)?;
        validate_id("checkpoint id", id)?;
        validate_id("task id", task)?;
        let keys = RunKeys::new(pipeline, run);
        let missing = || Error::NotFound(format!("checkpoint {id} of run {run} in {pipeline}"));
        self.retry_conflicts("put writes", || async {
            let Some(head) = self.head(&keys).await? else {
                return Err(missing());
            };
            let mut batch = Batch::new();
            batch.check(HISTORY, &keys.entry(id), Precondition::Exists);
            // Rewriting the head unchanged moves its version: a whole-run delete or copy that
            // read the run before this commit conflicts instead of missing these writes.
            batch
                .put(HEADS, &keys.head, to_json(&head.head)?)
                .when(Precondition::Version(head.version));
            for (index, (channel, value)) in writes.iter().enumerate() {
                let write = PendingWrite {
                    task_id: task.to_owned(),
                    index,
                    channel: channel.clone(),
                    value: value.clone(),
                };
                batch.put(WRITES, &keys.write(id, task, index), to_json(&write)?);
            }
            match self.records.commit(batch).await {
                Err(e) if e.kind() == ErrorKind::Conflict && e.op_index() == Some(0) => {
                    Err(missing())
                }
                other => other.map(|_| ()),
            }
        })
        .await
    }
}

/// Stages one history entry and its metadata index entries.
pub(super) fn stage_entry(batch: &mut Batch, keys: &RunKeys, cp: &Checkpoint) -> Result<()> {
    batch.put(HISTORY, &keys.entry(&cp.entry_id), to_json(cp)?);
    for (field, value) in &cp.metadata {
        let key = format!("{}{}", keys.metadata_of(field, value), cp.entry_id);
        batch.put(METADATA, &key, Value::Null);
    }
    Ok(())
}

/// A run's head as read, with the version to guard on.
pub(super) struct ReadHead {
    pub head: Head,
    pub version: u64,
}

impl Checkpoints {
    /// The run's head, if it has one and it has not expired.
    pub(super) async fn head(&self, keys: &RunKeys) -> Result<Option<ReadHead>> {
        let Some(record) = self.records.get(HEADS, &keys.head).await? else {
            return Ok(None);
        };
        let head: Head = from_json(record.value, "checkpoint head")?;
        if head.expires_at.is_some_and(|at| at <= self.now()) {
            return Ok(None);
        }
        Ok(Some(ReadHead {
            head,
            version: record.version,
        }))
    }
}
