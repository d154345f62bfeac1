//! The order of events of a run, with paths into sub-pipelines.
mod common;

use berth_pipeline::{
    Engine, Event, EventKind, Outcome, Pipeline, RetryPolicy, Route, Stage, Step, StepError,
};
use common::{drain, memory, patch_step};
use serde_json::json;
use std::time::Duration;

fn describe(e: &Event) -> String {
    let path: Vec<String> = e
        .path
        .iter()
        .map(|n| match (&n.namespace, &n.stage) {
            (Some(ns), Some(s)) => format!("{ns}:{}.{s}", n.pipeline),
            (Some(ns), None) => format!("{ns}:{}", n.pipeline),
            (None, Some(s)) => format!("{}.{s}", n.pipeline),
            (None, None) => n.pipeline.clone(),
        })
        .collect();
    let kind = match &e.kind {
        EventKind::PipelineStart => "pipeline:start".to_string(),
        EventKind::PipelineResumed { from } => format!("pipeline:resumed({from:?})"),
        EventKind::PipelineSuccess { terminated } => {
            format!("pipeline:success(terminated={terminated})")
        }
        EventKind::PipelineFailure { .. } => "pipeline:failure".into(),
        EventKind::PipelinePaused { timeout, .. } => {
            format!("pipeline:paused({}s)", timeout.as_secs())
        }
        EventKind::PipelineAborted => "pipeline:aborted".into(),
        EventKind::PipelineReleased { exported } => format!("pipeline:released({exported})"),
        EventKind::StageStart { stage } => format!("stage:start {stage}"),
        EventKind::StageSuccess { stage } => format!("stage:success {stage}"),
        EventKind::StageFailure { stage, .. } => format!("stage:failure {stage}"),
        EventKind::StagePaused { stage } => format!("stage:paused {stage}"),
        EventKind::StepStart { step, attempt } => format!("step:start {step}#{attempt}"),
        EventKind::StepSuccess { step, attempt } => format!("step:success {step}#{attempt}"),
        EventKind::StepRetry { step, attempt, .. } => format!("step:retry {step}#{attempt}"),
        EventKind::StepFailure { step, .. } => format!("step:failure {step}"),
        EventKind::RouterEvaluated { stage, route } => format!("router {stage} -> {route:?}"),
        EventKind::SubPipelineFork { namespace, .. } => format!("fork {namespace}"),
        EventKind::SubPipelineJoin { namespace, .. } => format!("join {namespace}"),
        other => format!("{other:?}"),
    };
    format!("{} | {kind}", path.join("/"))
}

#[tokio::test]
async fn events_follow_every_transition_in_order() {
    tokio::time::pause();
    let (store, _) = memory();
    let flaky = Step::new("flaky", |ctx| async move {
        if ctx.attempt() == 1 {
            Err(StepError::new("first try fails"))
        } else {
            Ok(json!({"flaky": true}))
        }
    })
    .retry(RetryPolicy::attempts(2).backoff(
        Duration::from_millis(10),
        2,
        Duration::from_secs(1),
    ));
    let child =
        Pipeline::new("child").stage(Stage::new("inner").step(patch_step("i", json!({"v": 1}))));
    let p = Pipeline::new("root")
        .stage(
            Stage::new("one")
                .step(flaky)
                .router(|_| Route::pause_for("two", Duration::from_secs(30))),
        )
        .stage(Stage::new("two").sub_pipeline("kid", child));
    let engine = Engine::new(store, p).unwrap();
    let mut rx = engine.subscribe();
    let report = engine.start(json!({})).await.unwrap();
    assert!(matches!(report.outcome, Outcome::Paused { .. }));
    let done = engine.resume(&report.run_id).await.unwrap();
    assert_eq!(done.state, json!({"flaky": true, "kid": {"v": 1}}));
    let events = drain(&mut rx);
    assert!(events
        .iter()
        .all(|e| &*e.run_id == report.run_id.as_str() && &*e.pipeline_id == "root"));
    let got: Vec<String> = events.iter().map(describe).collect();
    let expected = [
        "root | pipeline:start",
        "root.one | stage:start one",
        "root.one | step:start flaky#1",
        "root.one | step:retry flaky#1",
        "root.one | step:start flaky#2",
        "root.one | step:success flaky#2",
        "root.one | router one -> Pause(Pause { resume_at: Some(\"two\"), timeout: Some(30s) })",
        "root.one | stage:paused one",
        "root | pipeline:paused(30s)",
        "root | pipeline:resumed(Live)",
        "root.two | stage:start two",
        "root.two | fork kid",
        "root.two/kid:child.inner | stage:start inner",
        "root.two/kid:child.inner | step:start i#1",
        "root.two/kid:child.inner | step:success i#1",
        "root.two/kid:child.inner | router inner -> Advance",
        "root.two/kid:child.inner | stage:success inner",
        "root.two | join kid",
        "root.two | router two -> Advance",
        "root.two | stage:success two",
        "root | pipeline:success(terminated=false)",
    ];
    assert_eq!(got, expected);
}

#[tokio::test]
async fn failure_events_name_every_cause_before_the_pipeline_failure() {
    let (store, _) = memory();
    let p = Pipeline::new("f").stage(
        Stage::new("s")
            .step(Step::new("bad", |_| async {
                Err(StepError::permanent("broken"))
            }))
            .step(patch_step("good", json!({"g": 1}))),
    );
    let engine = Engine::new(store, p).unwrap();
    let mut rx = engine.subscribe();
    let report = engine.start(json!({})).await.unwrap();
    assert!(matches!(report.outcome, Outcome::Failed(_)));
    let got: Vec<String> = drain(&mut rx).iter().map(describe).collect();
    assert_eq!(
        got,
        [
            "f | pipeline:start",
            "f.s | stage:start s",
            "f.s | step:start bad#1",
            "f.s | step:failure bad",
            "f.s | step:start good#1",
            "f.s | step:success good#1",
            "f.s | stage:failure s",
            "f | pipeline:failure",
        ]
    );
}
