//! Sub-pipelines: namespaced state, nested pause/resume, failure and crash recovery inside.
mod common;

use berth_pipeline::record::{CheckpointData, RunStatus};
use berth_pipeline::{
    Cause, Engine, Outcome, Pipeline, Registry, ResumeAddress, Route, Stage, StartOptions, Step,
};
use common::{incr, memory, patch_step};
use serde_json::json;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// `left` counts to 2; `right` pauses inside, then finishes; `deep` nests a grandchild.
fn tree() -> Pipeline {
    let left =
        Pipeline::new("counter").stage(Stage::new("count").step(incr("inc", "n")).router(|i| {
            if i.state["n"].as_u64() < Some(2) {
                Route::jump("count")
            } else {
                Route::Advance
            }
        }));
    let grandchild = Pipeline::new("leaf")
        .stage(Stage::new("leaf").step(patch_step("l", json!({"leaf": true}))));
    let right = Pipeline::new("approval")
        .stage(
            Stage::new("ask")
                .label("Ask a human")
                .step(Step::new("ask", |ctx| async move {
                    // A child step sees only its namespace.
                    assert!(ctx.state().get("top").is_none());
                    Ok(json!({"asked": true}))
                }))
                .router(|_| Route::pause_at("after")),
        )
        .stage(Stage::new("skipped").step(patch_step("s", json!({"skipped": true}))))
        .stage(
            Stage::new("after")
                .sub_pipeline("deep", grandchild)
                .step(patch_step("a", json!({"approved": true}))),
        );
    Pipeline::new("parent")
        .stage(
            Stage::new("fan")
                .step(patch_step(
                    "prep",
                    json!({"top": 1, "left": {"seed": true}}),
                ))
                .sub_pipeline("left", left)
                .sub_pipeline("right", right)
                .router(|i| {
                    assert_eq!(i.results["left"]["n"], json!(2));
                    Route::Advance
                }),
        )
        .stage(Stage::new("end").step(patch_step("e", json!({"end": true}))))
}

fn expected_final() -> serde_json::Value {
    json!({
        "top": 1,
        "left": {"seed": true, "n": 2},
        "right": {"asked": true, "approved": true, "deep": {"leaf": true}},
        "end": true
    })
}

#[tokio::test]
async fn a_pause_inside_a_child_pauses_the_parent_and_resumes_inside_it() {
    let (store, _) = memory();
    let engine = Engine::new(store.clone(), tree()).unwrap();
    let report = engine.start(json!({})).await.unwrap();
    let Outcome::Paused {
        checkpoint,
        resume_at,
        ..
    } = &report.outcome
    else {
        panic!("{:?}", report.outcome)
    };
    let nested = ResumeAddress::in_child("fan", "right", Some(ResumeAddress::stage("after")));
    assert_eq!(resume_at.as_ref(), Some(&nested));
    assert_eq!(checkpoint.paused_at_stage_id, "ask");
    assert_eq!(checkpoint.paused_at_stage_label, "Ask a human");
    let data: CheckpointData = serde_json::from_value(checkpoint.data.clone()).unwrap();
    assert_eq!(data.resume_at, Some(nested.clone()));
    let (record, _) = engine.run_record(&report.run_id).await.unwrap().unwrap();
    assert_eq!(record.status, RunStatus::Paused);
    assert_eq!(record.cursor, Some(nested));
    assert_eq!(
        record.state,
        json!({"top": 1, "left": {"seed": true, "n": 2}, "right": {"asked": true}})
    );

    let done = engine.resume(&report.run_id).await.unwrap();
    assert_eq!(done.outcome, Outcome::Completed);
    assert_eq!(done.state, expected_final());
    let stages: Vec<String> = engine
        .stage_log(&report.run_id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.stage)
        .collect();
    // A stage with children commits twice: its steps, then the join with its route.
    assert_eq!(
        stages,
        [
            "fan",
            "fan/left:count",
            "fan/left:count",
            "fan/right:ask",
            "fan/right:after",
            "fan/right:after/deep:leaf",
            "fan/right:after",
            "fan",
            "end"
        ]
    );
}

#[tokio::test]
async fn nested_pause_resumes_from_storage_in_a_fresh_engine() {
    tokio::time::pause();
    let (store, _) = memory();
    let engine = Engine::builder(store.clone(), tree())
        .default_pause_timeout(Duration::ZERO)
        .build()
        .unwrap();
    let report = engine.start(json!({})).await.unwrap();
    assert!(matches!(report.outcome, Outcome::Paused { .. }));
    assert!(engine.registry().is_empty());
    let fresh = Engine::builder(store, tree())
        .registry(Registry::new())
        .build()
        .unwrap();
    let done = fresh.resume(&report.run_id).await.unwrap();
    assert_eq!(done.state, expected_final());
}

#[tokio::test]
async fn a_failing_child_fails_the_run_with_its_nested_stage() {
    let (store, _) = memory();
    let child = Pipeline::new("c").stage(Stage::new("bad").step(Step::new("x", |_| async {
        Err(berth_pipeline::StepError::permanent("nope"))
    })));
    let p = Pipeline::new("p")
        .stage(
            Stage::new("s")
                .step(patch_step("a", json!({"a": 1})))
                .sub_pipeline("kid", child),
        )
        .stage(Stage::new("t"));
    let engine = Engine::new(store, p).unwrap();
    let report = engine.start(json!({})).await.unwrap();
    let Outcome::Failed(f) = report.outcome else {
        panic!()
    };
    assert_eq!(f.stage, "s/kid:bad");
    assert_eq!(
        f.causes,
        vec![Cause::Step {
            step: "x".into(),
            attempts: 1,
            error: "nope".into()
        }]
    );
    // The parent's own steps were committed before the child ran.
    assert_eq!(report.state, json!({"a": 1}));
}

#[tokio::test]
async fn terminate_inside_a_child_ends_only_the_child() {
    let (store, _) = memory();
    let child = Pipeline::new("c")
        .stage(
            Stage::new("one")
                .step(patch_step("x", json!({"one": 1})))
                .router(|_| Route::Terminate),
        )
        .stage(Stage::new("two").step(patch_step("x", json!({"two": 2}))));
    let p = Pipeline::new("p")
        .stage(Stage::new("s").sub_pipeline("kid", child))
        .stage(Stage::new("t").step(patch_step("t", json!({"t": true}))));
    let engine = Engine::new(store, p).unwrap();
    let report = engine.start(json!({})).await.unwrap();
    assert_eq!(report.outcome, Outcome::Completed);
    assert_eq!(report.state, json!({"kid": {"one": 1}, "t": true}));
}

#[tokio::test]
async fn a_crash_inside_a_child_resumes_inside_it() {
    let (store, _) = memory();
    let calls = Arc::new(AtomicU32::new(0));
    let entered = Arc::new(tokio::sync::Notify::new());
    let (c, e) = (calls.clone(), entered.clone());
    let child = Pipeline::new("c")
        .stage(Stage::new("first").step(patch_step("x", json!({"first": 1}))))
        .stage(Stage::new("second").step(Step::new("hang-once", move |_| {
            let (c, e) = (c.clone(), e.clone());
            async move {
                if c.fetch_add(1, Ordering::SeqCst) == 0 {
                    e.notify_one();
                    std::future::pending::<()>().await;
                }
                Ok(json!({"second": 2}))
            }
        })));
    let p = Pipeline::new("p")
        .stage(
            Stage::new("s")
                .step(patch_step("a", json!({"a": 1})))
                .sub_pipeline("kid", child),
        )
        .stage(Stage::new("t").step(patch_step("t", json!({"t": true}))));
    let first = Engine::new(store.clone(), p.clone()).unwrap();
    let handle = tokio::spawn({
        let first = first.clone();
        async move {
            first
                .start_with(StartOptions {
                    run_id: Some("r".into()),
                    state: json!({}),
                    ..Default::default()
                })
                .await
        }
    });
    entered.notified().await;
    handle.abort();
    let _ = handle.await;
    let (record, _) = first.run_record("r").await.unwrap().unwrap();
    assert_eq!(
        record.cursor,
        Some(ResumeAddress::in_child(
            "s",
            "kid",
            Some(ResumeAddress::stage("second"))
        ))
    );
    let report = Engine::new(store, p).unwrap().resume("r").await.unwrap();
    assert_eq!(
        report.state,
        json!({"a": 1, "kid": {"first": 1, "second": 2}, "t": true})
    );
    assert_eq!(
        report.stage_commits, 5,
        "s, kid:first, kid:second, s (join), t"
    );
}
