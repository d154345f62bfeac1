//! Aborting, listing, clearing and inspecting runs.

use crate::engine::{Engine, PausedRun};
use crate::error::PipelineError;
use crate::record::{RunRecord, RunStatus, StageLogEntry};
use berth_core::{codec, Batch, ErrorKind, Item, Precondition, Scan};
use tokio_util::sync::CancellationToken;

impl Engine {
    /// Aborts a run this engine is driving; returns whether it was running here.
    pub fn abort(&self, run_id: &str) -> bool {
        match self.inner.active().get(run_id) {
            Some(token) => {
                token.cancel();
                true
            }
            None => false,
        }
    }

    /// Whether this engine is driving `run_id` right now.
    pub fn is_running(&self, run_id: &str) -> bool {
        self.inner.active().contains_key(run_id)
    }

    /// The paused runs of this pipeline, newest pause first.
    pub async fn paused_runs(&self) -> Result<Vec<PausedRun>, PipelineError> {
        let inner = &*self.inner;
        let list = inner
            .store
            .checkpoints()
            .list_current(&inner.pipeline.id)
            .await?;
        Ok(list
            .into_iter()
            .map(|checkpoint| PausedRun {
                live: inner
                    .registry
                    .is_live(&inner.pipeline.id, &checkpoint.run_id),
                checkpoint,
            })
            .collect())
    }

    /// Gives up a paused run: drops it from the registry, removes its checkpoint and marks
    /// it aborted. Returns false if the run is not paused.
    pub async fn clear_paused(&self, run_id: &str) -> Result<bool, PipelineError> {
        let inner = &*self.inner;
        let _active = inner.claim(run_id, CancellationToken::new())?;
        inner.registry.forget(&inner.pipeline.id, run_id);
        let Some(item) = inner.read(run_id).await? else {
            return Ok(false);
        };
        if item.value.status != RunStatus::Paused {
            return Ok(false);
        }
        let mut record = item.value;
        record.status = RunStatus::Aborted;
        let mut batch = Batch::new();
        batch
            .put(&inner.runs_collection, run_id, codec::to_json(&record)?)
            .when(Precondition::Version(item.meta.version));
        inner
            .store
            .checkpoints()
            .clear_in(&mut batch, &inner.pipeline.id, run_id)?;
        match inner.store.commit(batch).await {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == ErrorKind::Conflict => {
                Err(PipelineError::LostOwnership(run_id.to_owned()))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The stored record of a run and its version.
    pub async fn run_record(
        &self,
        run_id: &str,
    ) -> Result<Option<(RunRecord, u64)>, PipelineError> {
        Ok(self
            .inner
            .read(run_id)
            .await?
            .map(|item| (item.value, item.meta.version)))
    }

    /// The stage log of a run, oldest commit first.
    pub async fn stage_log(&self, run_id: &str) -> Result<Vec<StageLogEntry>, PipelineError> {
        let inner = &*self.inner;
        let records = inner
            .store
            .records()
            .scan(
                &inner.log_collection,
                &Scan::prefix(format!("{run_id}\u{1f}")),
            )
            .await?;
        Ok(records
            .into_iter()
            .map(|r| codec::from_json(r.value, "stage log entry"))
            .collect::<Result<_, _>>()?)
    }

    /// Ids of the runs stored as `running` that this engine is not driving: candidates for
    /// [`resume`](Engine::resume) after a crash.
    pub async fn interrupted_runs(&self) -> Result<Vec<String>, PipelineError> {
        let inner = &*self.inner;
        let mut out = Vec::new();
        let mut scan = Scan::all().limit(1000);
        loop {
            let page = inner
                .store
                .records()
                .scan(&inner.runs_collection, &scan)
                .await?;
            let done = page.len() < 1000;
            if let Some(last) = page.last() {
                scan.start_after = Some(last.key.clone());
            }
            for r in page {
                let key = r.key.clone();
                let item: Item<RunRecord> = Item::from_record(&inner.runs_collection, r)?;
                if item.value.status == RunStatus::Running && !self.is_running(&key) {
                    out.push(key);
                }
            }
            if done {
                return Ok(out);
            }
        }
    }

    /// Deletes an ended run: its record, its stage log and its checkpoint history. Returns
    /// false if there is no such run; a running or paused run is not deleted
    /// ([`PipelineError::NotEnded`]).
    pub async fn purge(&self, run_id: &str) -> Result<bool, PipelineError> {
        let inner = &*self.inner;
        let _active = inner.claim(run_id, CancellationToken::new())?;
        let Some(item) = inner.read(run_id).await? else {
            return Ok(false);
        };
        if !item.value.status.is_terminal() {
            return Err(PipelineError::NotEnded {
                run_id: run_id.to_owned(),
                status: item.value.status.to_string(),
            });
        }
        let log = inner
            .store
            .records()
            .scan(
                &inner.log_collection,
                &Scan::prefix(format!("{run_id}\u{1f}")),
            )
            .await?;
        let mut batch = Batch::new();
        batch
            .delete(&inner.runs_collection, run_id)
            .when(Precondition::Version(item.meta.version));
        for r in &log {
            batch.delete(&inner.log_collection, &r.key);
        }
        inner.store.commit(batch).await?;
        inner
            .store
            .checkpoints()
            .delete_run(&inner.pipeline.id, run_id)
            .await?;
        Ok(true)
    }
}
