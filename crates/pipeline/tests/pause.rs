//! Pause → resume (fast path), pause → timeout → export → slow path in a new engine,
//! zero timeout, listing and clearing paused runs.
mod common;

use berth_pipeline::record::{CheckpointData, RunStatus};
use berth_pipeline::{
    Engine, EventKind, Outcome, Pipeline, PipelineError, Registry, ResumeAddress, ResumeSource,
    Route, Stage,
};
use common::{drain, memory, patch_step, wait_for};
use serde_json::json;
use std::time::Duration;

fn approval_pipeline() -> Pipeline {
    Pipeline::new("approvals")
        .stage(
            Stage::new("request")
                .label("Request approval")
                .step(patch_step("ask", json!({"asked": true})))
                .router(|_| Route::pause_for("decide", Duration::from_secs(60))),
        )
        .stage(Stage::new("skipped").step(patch_step("s", json!({"skipped": true}))))
        .stage(Stage::new("decide").step(patch_step("d", json!({"decided": true}))))
}

fn data(cp: &berth_core::Checkpoint) -> CheckpointData {
    serde_json::from_value(cp.data.clone()).unwrap()
}

#[tokio::test]
async fn pause_writes_the_checkpoint_with_the_stage_and_resumes_live() {
    tokio::time::pause();
    let (store, _) = memory();
    let engine = Engine::new(store.clone(), approval_pipeline()).unwrap();
    let mut rx = engine.subscribe();
    let report = engine.start(json!({"n": 1})).await.unwrap();
    let Outcome::Paused {
        checkpoint,
        resume_at,
        timeout,
    } = &report.outcome
    else {
        panic!("{:?}", report.outcome)
    };
    assert_eq!(*timeout, Duration::from_secs(60));
    assert_eq!(resume_at, &Some(ResumeAddress::stage("decide")));
    assert_eq!(checkpoint.paused_at_stage_id, "request");
    assert_eq!(checkpoint.paused_at_stage_label, "Request approval");
    // The checkpoint and the stage's patch were committed together.
    let stored = store
        .checkpoints()
        .read("approvals", &report.run_id)
        .await
        .unwrap()
        .unwrap();
    let (record, version) = engine.run_record(&report.run_id).await.unwrap().unwrap();
    assert_eq!(record.status, RunStatus::Paused);
    assert_eq!(record.state, json!({"n": 1, "asked": true}));
    let d = data(&stored);
    assert_eq!(d.run_version, version);
    assert_eq!(d.resume_at, Some(ResumeAddress::stage("decide")));
    assert_eq!(d.pause_timeout_ms, 60_000);
    assert!(d.bundle.is_none(), "not exported while live");
    assert!(engine.registry().is_live("approvals", &report.run_id));
    let listed = engine.paused_runs().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].live);

    drain(&mut rx);
    let done = engine.resume(&report.run_id).await.unwrap();
    assert_eq!(done.outcome, Outcome::Completed);
    assert_eq!(done.state, json!({"n": 1, "asked": true, "decided": true}));
    assert_eq!(
        rx.try_recv().unwrap().kind,
        EventKind::PipelineResumed {
            from: ResumeSource::Live
        }
    );
    assert!(engine.registry().is_empty());
    assert!(store
        .checkpoints()
        .read("approvals", &report.run_id)
        .await
        .unwrap()
        .is_none());
    assert!(engine.paused_runs().await.unwrap().is_empty());
    // History keeps the checkpoint.
    assert_eq!(
        store
            .checkpoints()
            .history("approvals", &report.run_id)
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn timeout_exports_the_context_and_a_new_engine_resumes_from_storage() {
    tokio::time::pause();
    let (store, _) = memory();
    let engine = Engine::new(store.clone(), approval_pipeline()).unwrap();
    let mut rx = engine.subscribe();
    let report = engine.start(json!({"n": 2})).await.unwrap();
    assert!(engine.registry().is_live("approvals", &report.run_id));
    tokio::time::advance(Duration::from_secs(59)).await;
    assert!(engine.registry().is_live("approvals", &report.run_id));
    tokio::time::advance(Duration::from_secs(1)).await;
    let released = wait_for(&mut rx, |k| matches!(k, EventKind::PipelineReleased { .. })).await;
    assert_eq!(
        released.kind,
        EventKind::PipelineReleased { exported: true }
    );
    assert!(!engine.registry().is_live("approvals", &report.run_id));
    let cp = store
        .checkpoints()
        .read("approvals", &report.run_id)
        .await
        .unwrap()
        .unwrap();
    let bundle = data(&cp).bundle.expect("exported bundle");
    assert_eq!(bundle.state, json!({"n": 2, "asked": true}));
    assert_eq!(bundle.results["ask"], json!({"asked": true}));
    let listed = engine.paused_runs().await.unwrap();
    assert_eq!((listed.len(), listed[0].live), (1, false));

    // A fresh engine with its own registry, as in a new process.
    let fresh = Engine::builder(store.clone(), approval_pipeline())
        .registry(Registry::new())
        .build()
        .unwrap();
    let mut rx2 = fresh.subscribe();
    let done = fresh.resume(&report.run_id).await.unwrap();
    assert_eq!(done.outcome, Outcome::Completed);
    assert_eq!(done.state, json!({"n": 2, "asked": true, "decided": true}));
    assert_eq!(
        rx2.try_recv().unwrap().kind,
        EventKind::PipelineResumed {
            from: ResumeSource::Bundle
        }
    );
    let stages: Vec<_> = fresh
        .stage_log(&report.run_id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.stage)
        .collect();
    assert_eq!(stages, ["request", "decide"]);
    assert!(matches!(
        fresh.resume(&report.run_id).await,
        Err(PipelineError::NotResumable { .. })
    ));
}

#[tokio::test]
async fn zero_timeout_releases_at_once_with_the_bundle_in_the_pausing_commit() {
    let (store, _) = memory();
    let p = Pipeline::new("p")
        .stage(
            Stage::new("a")
                .step(patch_step("s", json!({"a": 1})))
                .router(|_| Route::Pause(Default::default())),
        )
        .stage(Stage::new("b").step(patch_step("s", json!({"b": 1}))));
    let engine = Engine::builder(store.clone(), p.clone())
        .default_pause_timeout(Duration::ZERO)
        .build()
        .unwrap();
    let report = engine.start(json!({})).await.unwrap();
    let Outcome::Paused {
        resume_at, timeout, ..
    } = &report.outcome
    else {
        panic!()
    };
    assert_eq!(
        (resume_at.clone(), *timeout),
        (Some(ResumeAddress::stage("b")), Duration::ZERO)
    );
    assert!(engine.registry().is_empty());
    let cp = store
        .checkpoints()
        .read("p", &report.run_id)
        .await
        .unwrap()
        .unwrap();
    assert!(data(&cp).bundle.is_some());
    let done = Engine::new(store, p)
        .unwrap()
        .resume(&report.run_id)
        .await
        .unwrap();
    assert_eq!(done.state, json!({"a": 1, "b": 1}));
}

#[tokio::test]
async fn clearing_a_paused_run_drops_it_everywhere() {
    tokio::time::pause();
    let (store, clock) = memory();
    let engine = Engine::new(store.clone(), approval_pipeline()).unwrap();
    let first = engine.start(json!({"i": 1})).await.unwrap();
    clock.advance(Duration::from_secs(1));
    let second = engine.start(json!({"i": 2})).await.unwrap();
    let listed: Vec<String> = engine
        .paused_runs()
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.checkpoint.run_id)
        .collect();
    assert_eq!(
        listed,
        [second.run_id.clone(), first.run_id.clone()],
        "newest first"
    );
    assert_eq!(engine.registry().live_runs("approvals").len(), 2);

    assert!(engine.clear_paused(&first.run_id).await.unwrap());
    assert!(!engine.clear_paused(&first.run_id).await.unwrap());
    assert!(!engine.registry().is_live("approvals", &first.run_id));
    let (record, _) = engine.run_record(&first.run_id).await.unwrap().unwrap();
    assert_eq!(record.status, RunStatus::Aborted);
    assert!(matches!(
        engine.resume(&first.run_id).await,
        Err(PipelineError::NotResumable { .. })
    ));
    let left: Vec<String> = engine
        .paused_runs()
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.checkpoint.run_id)
        .collect();
    assert_eq!(left, vec![second.run_id.clone()]);
    // release_all exports what is left, for a clean shutdown.
    assert_eq!(engine.registry().release_all().await, 1);
    let cp = store
        .checkpoints()
        .read("approvals", &second.run_id)
        .await
        .unwrap()
        .unwrap();
    assert!(data(&cp).bundle.is_some());
}

#[tokio::test]
async fn resume_after_the_run_moved_on_elsewhere_does_not_export_stale_context() {
    tokio::time::pause();
    let (store, _) = memory();
    let engine = Engine::new(store.clone(), approval_pipeline()).unwrap();
    let mut rx = engine.subscribe();
    let report = engine.start(json!({})).await.unwrap();
    // Another engine resumes it from storage while the first still holds it live.
    let other = Engine::builder(store.clone(), approval_pipeline())
        .registry(Registry::new())
        .build()
        .unwrap();
    assert_eq!(
        other.resume(&report.run_id).await.unwrap().outcome,
        Outcome::Completed
    );
    tokio::time::advance(Duration::from_secs(60)).await;
    let released = wait_for(&mut rx, |k| matches!(k, EventKind::PipelineReleased { .. })).await;
    assert_eq!(
        released.kind,
        EventKind::PipelineReleased { exported: false }
    );
    assert!(store
        .checkpoints()
        .read("approvals", &report.run_id)
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn resuming_with_a_definition_that_lost_the_stage_is_a_mismatch() {
    let (store, _) = memory();
    let engine = Engine::builder(store.clone(), approval_pipeline())
        .default_pause_timeout(Duration::ZERO)
        .build()
        .unwrap();
    let report = engine.start(json!({})).await.unwrap();
    let changed = Pipeline::new("approvals").stage(Stage::new("request"));
    let other = Engine::new(store, changed).unwrap();
    assert!(matches!(
        other.resume(&report.run_id).await,
        Err(PipelineError::Mismatch { .. })
    ));
    // The original definition still resumes it.
    assert_eq!(
        engine.resume(&report.run_id).await.unwrap().outcome,
        Outcome::Completed
    );
}
