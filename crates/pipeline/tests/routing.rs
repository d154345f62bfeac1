//! Routers: advance, natural end, jump, terminate, unknown stage.
mod common;

use berth_pipeline::record::RunStatus;
use berth_pipeline::{
    Cause, Engine, Outcome, Pipeline, PipelineError, ResumeAddress, Route, Stage, StartOptions,
};
use common::{incr, memory, patch_step};
use serde_json::json;

#[tokio::test]
async fn advance_runs_stages_by_order_to_the_natural_end() {
    let (store, _) = memory();
    let p = Pipeline::new("p")
        .stage(
            Stage::new("third")
                .order(30)
                .step(patch_step("s", json!({"trail": [3]}))),
        )
        .stage(
            Stage::new("first")
                .order(10)
                .step(patch_step("s", json!({"a": 1}))),
        )
        .stage(
            Stage::new("second")
                .order(20)
                .step(patch_step("s", json!({"b": 2}))),
        );
    let engine = Engine::new(store, p).unwrap();
    let report = engine.start(json!({})).await.unwrap();
    assert_eq!(report.outcome, Outcome::Completed);
    assert_eq!(report.state, json!({"a": 1, "b": 2, "trail": [3]}));
    assert_eq!(report.stage_commits, 3);
    let log = engine.stage_log(&report.run_id).await.unwrap();
    let stages: Vec<_> = log.iter().map(|e| e.stage.as_str()).collect();
    assert_eq!(stages, ["first", "second", "third"]);
    let (record, _) = engine.run_record(&report.run_id).await.unwrap().unwrap();
    assert_eq!(record.status, RunStatus::Completed);
    assert_eq!(record.cursor, None);
}

#[tokio::test]
async fn jump_back_loops_until_the_router_moves_on() {
    let (store, _) = memory();
    let p = Pipeline::new("loop")
        .stage(Stage::new("count").step(incr("inc", "n")).router(|i| {
            if i.state["n"].as_u64() < Some(5) {
                Route::jump("count")
            } else {
                Route::jump("done")
            }
        }))
        .stage(Stage::new("skipped").step(patch_step("s", json!({"skipped": true}))))
        .stage(Stage::new("done").step(patch_step("s", json!({"done": true}))));
    let engine = Engine::new(store, p).unwrap();
    let report = engine.start(json!({})).await.unwrap();
    assert_eq!(report.outcome, Outcome::Completed);
    assert_eq!(report.state, json!({"n": 5, "done": true}));
    assert_eq!(report.stage_commits, 6);
}

#[tokio::test]
async fn terminate_ends_successfully_without_later_stages() {
    let (store, _) = memory();
    let p = Pipeline::new("p")
        .stage(
            Stage::new("a")
                .step(patch_step("s", json!({"a": 1})))
                .router(|_| Route::Terminate),
        )
        .stage(Stage::new("b").step(patch_step("s", json!({"b": 1}))));
    let engine = Engine::new(store, p).unwrap();
    let report = engine.start(json!({})).await.unwrap();
    assert_eq!(report.outcome, Outcome::Terminated);
    assert!(report.succeeded());
    assert_eq!(report.state, json!({"a": 1}));
    let (record, _) = engine.run_record(&report.run_id).await.unwrap().unwrap();
    assert_eq!(record.status, RunStatus::Terminated);
}

#[tokio::test]
async fn jump_to_unknown_stage_fails_and_commits_nothing_of_the_stage() {
    let (store, _) = memory();
    let p = Pipeline::new("p")
        .stage(Stage::new("a").step(patch_step("s", json!({"a": 1}))))
        .stage(
            Stage::new("b")
                .step(patch_step("s", json!({"b": 1})))
                .router(|_| Route::jump("nowhere")),
        );
    let engine = Engine::new(store, p).unwrap();
    let report = engine.start(json!({})).await.unwrap();
    let Outcome::Failed(failure) = &report.outcome else {
        panic!("expected failure, got {:?}", report.outcome)
    };
    assert_eq!(failure.stage, "b");
    assert_eq!(
        failure.causes,
        vec![Cause::UnknownStage {
            target: "nowhere".into()
        }]
    );
    assert_eq!(report.state, json!({"a": 1}));
    assert_eq!(report.stage_commits, 1);
    let (record, _) = engine.run_record(&report.run_id).await.unwrap().unwrap();
    assert_eq!(record.status, RunStatus::Failed);
    assert_eq!(record.state, json!({"a": 1}));
    assert_eq!(record.cursor, Some(ResumeAddress::stage("b")));
    assert_eq!(record.failure.as_ref(), Some(failure));
    // A failed run is not resumable.
    assert!(matches!(
        engine.resume(&report.run_id).await,
        Err(PipelineError::NotResumable { .. })
    ));
}

#[tokio::test]
async fn pause_to_unknown_stage_fails_too() {
    let (store, _) = memory();
    let p = Pipeline::new("p").stage(Stage::new("a").router(|_| Route::pause_at("ghost")));
    let engine = Engine::new(store, p).unwrap();
    let report = engine.start(json!({})).await.unwrap();
    assert!(matches!(report.outcome, Outcome::Failed(_)));
    assert!(engine.paused_runs().await.unwrap().is_empty());
}

#[tokio::test]
async fn entry_address_and_empty_pipeline() {
    let (store, _) = memory();
    let p = Pipeline::new("p")
        .stage(Stage::new("a").step(patch_step("s", json!({"a": 1}))))
        .stage(
            Stage::new("b")
                .step(patch_step("x", json!({"x": 1})))
                .step(patch_step("y", json!({"y": 1}))),
        );
    let engine = Engine::new(store.clone(), p).unwrap();
    let report = engine
        .start_with(StartOptions {
            run_id: Some("entry".into()),
            state: json!({}),
            entry: Some(ResumeAddress::step("b", "y")),
            cancel: None,
        })
        .await
        .unwrap();
    assert_eq!(report.state, json!({"y": 1}));
    // The same run id cannot be started twice.
    let again = engine
        .start_with(StartOptions {
            run_id: Some("entry".into()),
            ..StartOptions::default()
        })
        .await;
    assert!(matches!(again, Err(PipelineError::RunExists(_))));

    let bad_entry = engine
        .start_with(StartOptions {
            entry: Some(ResumeAddress::step("b", "zzz")),
            ..StartOptions::default()
        })
        .await;
    assert!(matches!(bad_entry, Err(PipelineError::Definition(_))));

    let empty = Engine::new(store, Pipeline::new("empty")).unwrap();
    let report = empty.start(json!({"k": 1})).await.unwrap();
    assert_eq!(report.outcome, Outcome::Completed);
    let (record, _) = empty.run_record(&report.run_id).await.unwrap().unwrap();
    assert_eq!(record.status, RunStatus::Completed);
}

#[tokio::test]
async fn invalid_definitions_are_rejected() {
    let (store, _) = memory();
    let p = Pipeline::new("p")
        .stage(Stage::new("a"))
        .stage(Stage::new("a"));
    assert!(matches!(
        Engine::new(store, p),
        Err(PipelineError::Definition(_))
    ));
}
