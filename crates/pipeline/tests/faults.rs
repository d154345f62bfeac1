//! A store whose commits fail before applying, or apply and then lose the acknowledgement:
//! driving the runs to the end by resuming after every error gives the same result as a
//! run without faults, and no stage is committed twice.
mod common;

use async_trait::async_trait;
use berth_core::{Batch, Committed, Error, OpenOptions, Record, RecordStore, Result, Scan, Store};
use berth_pipeline::record::RunStatus;
use berth_pipeline::{Engine, Outcome, Pipeline, PipelineError, Route, Stage, StartOptions, Step};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Fails commits on a fixed pseudo-random pattern.
struct Faulty {
    inner: Arc<dyn RecordStore>,
    n: AtomicU64,
    lost_acks: AtomicU64,
    refused: AtomicU64,
}

#[async_trait]
impl RecordStore for Faulty {
    async fn get_many(&self, collection: &str, keys: &[String]) -> Result<Vec<Option<Record>>> {
        self.inner.get_many(collection, keys).await
    }
    async fn scan(&self, collection: &str, scan: &Scan) -> Result<Vec<Record>> {
        self.inner.scan(collection, scan).await
    }
    async fn count(&self, collection: &str, prefix: &str) -> Result<u64> {
        self.inner.count(collection, prefix).await
    }
    async fn commit(&self, batch: Batch) -> Result<Committed> {
        let n = self.n.fetch_add(1, Ordering::SeqCst);
        let roll = (n.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) % 10;
        match roll {
            0 | 1 => {
                self.refused.fetch_add(1, Ordering::SeqCst);
                Err(Error::backend_msg(
                    "injected: refused before applying",
                    true,
                ))
            }
            2 | 3 => {
                self.inner.commit(batch).await?;
                self.lost_acks.fetch_add(1, Ordering::SeqCst);
                Err(Error::backend_msg(
                    "injected: applied, acknowledgement lost",
                    true,
                ))
            }
            _ => self.inner.commit(batch).await,
        }
    }
}

fn pipeline() -> Pipeline {
    Pipeline::new("faults")
        .stage(
            Stage::new("count")
                .step(Step::new("bump", |ctx| async move {
                    Ok(json!({"n": ctx.state()["n"].as_u64().unwrap_or(0) + 1}))
                }))
                .step(Step::new("sum", |ctx| async move {
                    let n = ctx.state()["n"].as_u64().unwrap_or(0);
                    Ok(json!({"sum": ctx.state()["sum"].as_u64().unwrap_or(0) + n}))
                }))
                .router(|i| match i.state["n"].as_u64() {
                    Some(10) if i.state.get("paused").is_none() => Route::jump("pause"),
                    Some(n) if n < 20 => Route::jump("count"),
                    _ => Route::Advance,
                }),
        )
        .stage(
            Stage::new("end")
                .step(Step::new("seal", |_| async { Ok(json!({"sealed": true})) }))
                .router(|_| Route::Terminate),
        )
        .stage(
            Stage::new("pause")
                .step(Step::new("mark", |_| async { Ok(json!({"paused": true})) }))
                .router(|_| Route::pause_for("count", Duration::ZERO)),
        )
}

/// Starts or resumes `id` until it ends, counting the errors it had to get past.
async fn drive(engine: &Engine, id: &str) -> u32 {
    let mut errors = 0;
    loop {
        let result = match engine.run_record(id).await {
            Err(_) => {
                errors += 1;
                continue;
            }
            Ok(None) => {
                engine
                    .start_with(StartOptions {
                        run_id: Some(id.into()),
                        state: json!({}),
                        ..Default::default()
                    })
                    .await
            }
            Ok(Some((r, _))) if r.status.is_terminal() => return errors,
            Ok(Some(_)) => engine.resume(id).await,
        };
        match result {
            Ok(report) => assert!(
                report.succeeded() || matches!(report.outcome, Outcome::Paused { .. }),
                "{:?}",
                report.outcome
            ),
            Err(PipelineError::Store(e)) if e.is_retryable() => errors += 1,
            // A start whose record was written but not acknowledged.
            Err(PipelineError::RunExists(_)) => errors += 1,
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
}

async fn final_of(engine: &Engine, id: &str) -> (Value, Vec<(u64, String)>) {
    let (record, _) = engine.run_record(id).await.unwrap().unwrap();
    assert_eq!(record.status, RunStatus::Terminated);
    let log = engine.stage_log(id).await.unwrap();
    (
        record.state,
        log.into_iter().map(|e| (e.seq, e.stage)).collect(),
    )
}

#[tokio::test]
async fn failed_and_unacknowledged_commits_never_apply_a_stage_twice() {
    let reference =
        Engine::new(berth_state_memory::open(OpenOptions::default()), pipeline()).unwrap();
    assert_eq!(drive(&reference, "r").await, 0);
    let (want_state, want_log) = final_of(&reference, "r").await;
    assert_eq!(want_state["n"], json!(20));

    let base = berth_state_memory::open(OpenOptions::default());
    let faulty = Arc::new(Faulty {
        inner: base.records().clone(),
        n: AtomicU64::new(0),
        lost_acks: AtomicU64::new(0),
        refused: AtomicU64::new(0),
    });
    let store = Store::builder(
        "faulty-memory",
        faulty.clone(),
        base.leases().clone(),
        base.capabilities(),
        base.options().clone(),
    )
    .build();
    let engine = Engine::new(store, pipeline()).unwrap();
    let mut errors = 0;
    for i in 0..5 {
        let id = format!("run-{i}");
        errors += drive(&engine, &id).await;
        let (state, log) = final_of(&engine, &id).await;
        assert_eq!(state, want_state, "{id}");
        assert_eq!(log, want_log, "{id}: every stage once, in order");
    }
    let (lost, refused) = (
        faulty.lost_acks.load(Ordering::SeqCst),
        faulty.refused.load(Ordering::SeqCst),
    );
    assert!(
        lost >= 10 && refused >= 10,
        "faults injected: {lost} lost acks, {refused} refused"
    );
    // Every injected fault surfaced as an error the caller got past by resuming.
    assert_eq!(errors as u64, lost + refused);
    println!("{lost} lost acknowledgements, {refused} refused commits, all recovered");
}
