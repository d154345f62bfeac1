//! Purging ended runs and running without a stage log.
mod common;

use berth_pipeline::{Engine, Outcome, Pipeline, PipelineError, Route, Stage};
use common::{memory, patch_step};
use serde_json::json;
use std::time::Duration;

fn pipeline() -> Pipeline {
    Pipeline::new("p")
        .stage(
            Stage::new("a")
                .step(patch_step("s", json!({"a": 1})))
                .router(|i| {
                    if i.state.get("go").is_some() {
                        Route::Advance
                    } else {
                        Route::pause_at("b")
                    }
                }),
        )
        .stage(Stage::new("b").step(patch_step("s", json!({"b": 1}))))
}

#[tokio::test]
async fn purge_deletes_an_ended_run_and_refuses_a_paused_one() {
    let (store, _) = memory();
    let engine = Engine::builder(store.clone(), pipeline())
        .default_pause_timeout(Duration::ZERO)
        .build()
        .unwrap();
    let paused = engine.start(json!({})).await.unwrap();
    assert!(matches!(
        engine.purge(&paused.run_id).await,
        Err(PipelineError::NotEnded { .. })
    ));
    let done = engine.resume(&paused.run_id).await.unwrap();
    assert_eq!(done.outcome, Outcome::Completed);
    assert_eq!(engine.stage_log(&paused.run_id).await.unwrap().len(), 2);
    assert_eq!(
        store
            .checkpoints()
            .history("p", &paused.run_id)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(engine.purge(&paused.run_id).await.unwrap());
    assert!(engine.run_record(&paused.run_id).await.unwrap().is_none());
    assert!(engine.stage_log(&paused.run_id).await.unwrap().is_empty());
    assert!(store
        .checkpoints()
        .history("p", &paused.run_id)
        .await
        .unwrap()
        .is_empty());
    assert!(!engine.purge(&paused.run_id).await.unwrap());
}

#[tokio::test]
async fn without_a_stage_log_runs_still_commit_each_stage_once() {
    let (store, _) = memory();
    let engine = Engine::builder(store, pipeline())
        .stage_log(false)
        .build()
        .unwrap();
    let report = engine.start(json!({"go": true})).await.unwrap();
    assert_eq!(report.outcome, Outcome::Completed);
    assert_eq!(report.stage_commits, 2);
    assert!(engine.stage_log(&report.run_id).await.unwrap().is_empty());
    let (record, version) = engine.run_record(&report.run_id).await.unwrap().unwrap();
    assert_eq!((record.seq, version), (2, 3));
}
