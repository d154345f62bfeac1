//! Abort with a cancellation token: steps see it, nothing partial is committed.
mod common;

use berth_pipeline::record::RunStatus;
use berth_pipeline::{
    CancellationToken, Engine, EventKind, Outcome, Pipeline, PipelineError, Stage, StartOptions,
    Step,
};
use common::{drain, memory, patch_step};
use serde_json::json;
use std::sync::Arc;

fn pipeline(saw_cancel: Arc<tokio::sync::Notify>, entered: Arc<tokio::sync::Notify>) -> Pipeline {
    Pipeline::new("p")
        .stage(Stage::new("a").step(patch_step("s", json!({"a": 1}))))
        .stage(
            Stage::new("b")
                .step(patch_step("quick", json!({"quick": true})))
                .step(Step::new("long", move |ctx| {
                    let (saw, entered) = (saw_cancel.clone(), entered.clone());
                    async move {
                        entered.notify_one();
                        let token = ctx.cancellation_token().clone();
                        // Hand the token to "work" that notices the abort.
                        tokio::spawn(async move {
                            token.cancelled().await;
                            saw.notify_one();
                        });
                        ctx.cancelled().await;
                        Ok(json!({"long": true}))
                    }
                })),
        )
        .stage(Stage::new("c").step(patch_step("s", json!({"c": 1}))))
}

#[tokio::test]
async fn cancelling_the_token_aborts_without_committing_the_stage() {
    let (store, _) = memory();
    let saw = Arc::new(tokio::sync::Notify::new());
    let entered = Arc::new(tokio::sync::Notify::new());
    let engine = Engine::new(store, pipeline(saw.clone(), entered.clone())).unwrap();
    let mut rx = engine.subscribe();
    let token = CancellationToken::new();
    let run = tokio::spawn({
        let (engine, token) = (engine.clone(), token.clone());
        async move {
            engine
                .start_with(StartOptions {
                    run_id: Some("r".into()),
                    state: json!({}),
                    cancel: Some(token),
                    ..Default::default()
                })
                .await
        }
    });
    entered.notified().await;
    assert!(engine.is_running("r"));
    token.cancel();
    let report = run.await.unwrap().unwrap();
    assert_eq!(report.outcome, Outcome::Aborted);
    assert_eq!(report.state, json!({"a": 1}));
    let (record, _) = engine.run_record("r").await.unwrap().unwrap();
    assert_eq!(record.status, RunStatus::Aborted);
    assert_eq!(
        record.state,
        json!({"a": 1}),
        "no patch of the aborted stage"
    );
    assert_eq!(engine.stage_log("r").await.unwrap().len(), 1);
    assert!(!engine.is_running("r"));
    // The step's own work saw the cancellation.
    saw.notified().await;
    let kinds: Vec<EventKind> = drain(&mut rx).into_iter().map(|e| e.kind).collect();
    assert_eq!(kinds.last(), Some(&EventKind::PipelineAborted));
    assert!(!kinds
        .iter()
        .any(|k| matches!(k, EventKind::StageSuccess { stage } if stage == "b")));
    assert!(matches!(
        engine.resume("r").await,
        Err(PipelineError::NotResumable { .. })
    ));
}

#[tokio::test]
async fn engine_abort_by_run_id() {
    let (store, _) = memory();
    let saw = Arc::new(tokio::sync::Notify::new());
    let entered = Arc::new(tokio::sync::Notify::new());
    let engine = Engine::new(store, pipeline(saw, entered.clone())).unwrap();
    assert!(!engine.abort("r"));
    let run = tokio::spawn({
        let engine = engine.clone();
        async move {
            engine
                .start_with(StartOptions {
                    run_id: Some("r".into()),
                    state: json!({}),
                    ..Default::default()
                })
                .await
        }
    });
    entered.notified().await;
    // The same run cannot be driven twice by one engine.
    assert!(matches!(
        engine.resume("r").await,
        Err(PipelineError::AlreadyRunning(_))
    ));
    assert!(engine.abort("r"));
    let report = run.await.unwrap().unwrap();
    assert_eq!(report.outcome, Outcome::Aborted);
    assert_eq!(report.stage_commits, 1);
}

#[tokio::test]
async fn a_token_cancelled_before_the_start_commits_no_stage() {
    let (store, _) = memory();
    let engine = Engine::new(
        store,
        Pipeline::new("p").stage(Stage::new("a").step(patch_step("s", json!({"a": 1})))),
    )
    .unwrap();
    let token = CancellationToken::new();
    token.cancel();
    let report = engine
        .start_with(StartOptions {
            state: json!({}),
            cancel: Some(token),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(report.outcome, Outcome::Aborted);
    assert_eq!(report.stage_commits, 0);
    assert_eq!(report.state, json!({}));
}
