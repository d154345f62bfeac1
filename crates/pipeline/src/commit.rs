//! The stage commit: run record, stage log entry and checkpoint in one guarded batch.

use crate::address::ResumeAddress;
use crate::definition::Stage;
use crate::error::PipelineError;
use crate::outcome::Failure;
use crate::record::{stage_log_key, Bundle, CheckpointData, RunRecord, RunStatus, StageLogEntry};
use crate::router::Route;
use crate::run::{Driver, Frame};
use berth_core::{codec, Batch, Checkpoint, ErrorKind, Precondition, Timestamp};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;

impl Driver<'_> {
    pub(crate) fn checkpoint(
        &self,
        stage: &Stage,
        resume_at: Option<ResumeAddress>,
        timeout: Duration,
        state: &Value,
        results: &BTreeMap<String, Value>,
    ) -> Result<Checkpoint, PipelineError> {
        let now = self.engine.store.clock().now();
        let bundle = timeout.is_zero().then(|| Bundle {
            state: state.clone(),
            results: results.clone(),
            exported_at: now,
        });
        let data = CheckpointData {
            resume_at,
            pause_timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
            run_version: self.run.version + 1,
            seq: self.run.seq + 1,
            bundle,
        };
        Ok(Checkpoint {
            pipeline_id: self.engine.pipeline.id.clone(),
            run_id: self.run.run_id.to_string(),
            paused_at_stage_id: stage.id.clone(),
            paused_at_stage_label: stage.label.clone(),
            paused_on: now,
            resume_at: None,
            timeout_at: Some(now.plus(timeout)),
            data: codec::to_json(&data)?,
            entry_id: String::new(),
            metadata: Default::default(),
            parent_id: None,
        })
    }

    pub(crate) fn log_entry(
        &self,
        frame: &Frame<'_>,
        stage: &Stage,
        patches: BTreeMap<String, Value>,
        route: Option<Route>,
        cursor: Option<ResumeAddress>,
        started_at: Timestamp,
    ) -> StageLogEntry {
        StageLogEntry {
            seq: self.run.seq + 1,
            stage: format!("{}{}", frame.prefix, stage.id),
            patches,
            route,
            cursor,
            started_at,
        }
    }

    /// Commits the run record (state + cursor + status), optionally a stage log entry and a
    /// checkpoint, in one batch guarded by the record's version.
    pub async fn commit(
        &mut self,
        state: Value,
        cursor: Option<ResumeAddress>,
        status: RunStatus,
        log: Option<StageLogEntry>,
        checkpoint: Option<Checkpoint>,
        failure: Option<Failure>,
    ) -> Result<(), PipelineError> {
        let engine = self.engine;
        let seq = log.as_ref().map_or(self.run.seq, |e| e.seq);
        let record = RunRecord {
            pipeline_id: engine.pipeline.id.clone(),
            run_id: self.run.run_id.to_string(),
            status,
            cursor,
            state,
            seq,
            started_at: self.run.started_at,
            failure,
        };
        let checkpoints = engine.store.checkpoints();
        let clear_checkpoint = checkpoint.is_none() && self.run.checkpoint_pending;
        let version = self.run.version;
        let run_id = &self.run.run_id;
        let build = || {
            let mut batch = Batch::new();
            batch
                .put(&engine.runs_collection, run_id, codec::to_json(&record)?)
                .when(Precondition::Version(version));
            if let Some(entry) = log.as_ref().filter(|_| engine.stage_log) {
                batch
                    .put(
                        &engine.log_collection,
                        &stage_log_key(run_id, entry.seq),
                        codec::to_json(entry)?,
                    )
                    .when(Precondition::Absent);
            }
            if let Some(cp) = &checkpoint {
                checkpoints.write(&mut batch, cp)?;
            } else if clear_checkpoint {
                checkpoints.clear_in(&mut batch, &engine.pipeline.id, run_id)?;
            }
            Ok(batch)
        };
        let span = tracing::debug_span!("stage commit", run = %self.run.run_id, seq, %status);
        let (committed, first) = match engine.commit_owned(build).instrument(span).await {
            Ok(c) => c,
            Err(e) if e.kind() == ErrorKind::Conflict => {
                return Err(PipelineError::LostOwnership(self.run.run_id.to_string()))
            }
            Err(e) if e.kind() == ErrorKind::StaleFence => {
                return Err(PipelineError::ClaimLost(self.run.run_id.to_string()))
            }
            Err(e) => return Err(e.into()),
        };
        self.run.version = committed
            .versions
            .get(first)
            .copied()
            .flatten()
            .unwrap_or(self.run.version + 1);
        self.run.seq = seq;
        self.run.state = Arc::new(record.state);
        self.run.cursor = record.cursor;
        self.run.status = status;
        self.run.checkpoint_pending = checkpoint.is_some();
        Ok(())
    }
}
