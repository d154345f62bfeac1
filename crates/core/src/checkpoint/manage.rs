//! Whole-run operations, each one atomic commit: delete a run, copy (fork) a run.

use super::layout::{Head, RunKeys, EXPIRY, HEADS, HISTORY, METADATA, WRITES};
use super::write::stage_entry;
use super::{validate_run, Checkpoint, Checkpoints};
use crate::batch::{Batch, Precondition};
use crate::codec::{from_json, to_json};
use crate::error::{Error, ErrorKind, Result};
use crate::record::{Record, Scan};

/// Every record of one run, read for a whole-run operation.
struct RunContents {
    /// The head, with the version it was read at (`None`: the run has no head).
    head: Option<(Head, u64)>,
    history: Vec<Record>,
    writes: Vec<Record>,
    metadata: Vec<Record>,
}

impl Checkpoints {
    async fn contents(&self, keys: &RunKeys) -> Result<RunContents> {
        let head = match self.records.get(HEADS, &keys.head).await? {
            Some(r) => Some((from_json::<Head>(r.value, "checkpoint head")?, r.version)),
            None => None,
        };
        let scan = Scan::prefix(keys.prefix.clone());
        Ok(RunContents {
            head,
            history: self.records.scan(HISTORY, &scan).await?,
            writes: self.records.scan(WRITES, &scan).await?,
            metadata: self.records.scan(METADATA, &scan).await?,
        })
    }

    /// Deletes every checkpoint, pending write and index entry of the run in one commit;
    /// returns how many checkpoints it removed. A write to the run that commits while this
    /// runs makes it start again (it guards on the run's head), so nothing is left behind.
    pub async fn delete_run(&self, pipeline: &str, run: &str) -> Result<usize> {
        validate_run(pipeline, run)?;
        let keys = RunKeys::new(pipeline, run);
        self.retry_conflicts("delete run", || async {
            let contents = self.contents(&keys).await?;
            let mut batch = Batch::new();
            match &contents.head {
                Some((head, version)) => {
                    batch
                        .delete(HEADS, &keys.head)
                        .when(Precondition::Version(*version));
                    if let Some(at) = head.expires_at {
                        batch.delete(EXPIRY, &keys.expiry(at));
                    }
                }
                None => batch.check(HEADS, &keys.head, Precondition::Absent),
            }
            for (collection, records) in [
                (HISTORY, &contents.history),
                (WRITES, &contents.writes),
                (METADATA, &contents.metadata),
            ] {
                for r in records {
                    batch.delete(collection, &r.key);
                }
            }
            if batch.len() > 1 {
                self.records.commit(batch).await?;
            }
            Ok(contents.history.len())
        })
        .await
    }

    /// Copies every checkpoint and pending write of run `run` of `pipeline` to run `to_run`
    /// of `to_pipeline` (LangGraph's fork of a thread), in one commit; returns how many
    /// checkpoints it copied. Ids, parents and metadata are kept; the copy is paused (or not)
    /// and expires as the source does. Fails with `Conflict` if the target run has
    /// checkpoints and with `NotFound` if the source has none.
    pub async fn copy_run(
        &self,
        pipeline: &str,
        run: &str,
        to_pipeline: &str,
        to_run: &str,
    ) -> Result<usize> {
        validate_run(pipeline, run)?;
        validate_run(to_pipeline, to_run)?;
        let from = RunKeys::new(pipeline, run);
        let to = RunKeys::new(to_pipeline, to_run);
        if from.head == to.head {
            return Err(Error::invalid("copy target", "is the source run itself"));
        }
        let target_taken = || {
            Error::conflict(
                0,
                HEADS,
                &to.head,
                format!("run {to_run} of {to_pipeline} already has checkpoints"),
            )
        };
        self.retry_conflicts("copy run", || async {
            let contents = self.contents(&from).await?;
            let missing = Error::NotFound(format!("checkpoints of run {run} in {pipeline}"));
            let Some((head, version)) = contents.head else {
                return Ok(Err(missing));
            };
            if head.expires_at.is_some_and(|at| at <= self.now()) {
                return Ok(Err(missing));
            }
            let mut batch = Batch::new();
            let copy = Head {
                namespace: to_pipeline.to_owned(),
                run: to_run.to_owned(),
                ..head
            };
            batch
                .put(HEADS, &to.head, to_json(&copy)?)
                .when(Precondition::Absent);
            batch.check(HEADS, &from.head, Precondition::Version(version));
            if let Some(at) = copy.expires_at {
                batch.put(EXPIRY, &to.expiry(at), serde_json::Value::Null);
            }
            for record in &contents.history {
                let mut cp: Checkpoint = from_json(record.value.clone(), "checkpoint")?;
                cp.pipeline_id = to_pipeline.to_owned();
                cp.run_id = to_run.to_owned();
                stage_entry(&mut batch, &to, &cp)?;
            }
            for record in &contents.writes {
                if let Some(rest) = record.key.strip_prefix(&from.prefix) {
                    batch.put(
                        WRITES,
                        &format!("{}{rest}", to.prefix),
                        record.value.clone(),
                    );
                }
            }
            // The outer result is retried on a conflict; the inner one is final.
            match self.records.commit(batch).await {
                Ok(_) => Ok(Ok(contents.history.len())),
                Err(e) if e.kind() == ErrorKind::Conflict && e.op_index() == Some(0) => {
                    Ok(Err(target_taken()))
                }
                Err(e) => Err(e),
            }
        })
        .await?
    }
}
