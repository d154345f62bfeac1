//! Stage atomicity, every cause, patch order, ownership and crash recovery.
mod common;

use berth_core::{Batch, Precondition};
use berth_pipeline::record::{runs_collection, RunStatus};
use berth_pipeline::{
    Cause, Engine, EventKind, Outcome, Pipeline, PipelineError, ResumeSource, Stage, StartOptions,
    Step,
};
use common::{failing, memory, patch_step};
use serde_json::json;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[tokio::test]
async fn one_failing_step_commits_nothing_of_the_stage_and_every_cause_is_reported() {
    let (store, _) = memory();
    let calls_a = Arc::new(AtomicU32::new(0));
    let calls_b = Arc::new(AtomicU32::new(0));
    let p = Pipeline::new("p")
        .stage(Stage::new("first").step(patch_step("s", json!({"first": true}))))
        .stage(
            Stage::new("second")
                .step(patch_step("ok", json!({"second_ok": true})))
                .step(failing("bad-a", "disk full", calls_a.clone()))
                .step(patch_step("ok2", json!({"second_ok2": true})))
                .step(failing("bad-b", "timeout talking to x", calls_b.clone())),
        )
        .stage(Stage::new("third").step(patch_step("s", json!({"third": true}))));
    let engine = Engine::new(store.clone(), p).unwrap();
    let report = engine.start(json!({"init": 1})).await.unwrap();
    let Outcome::Failed(failure) = &report.outcome else {
        panic!("expected failure: {:?}", report.outcome)
    };
    assert_eq!(failure.stage, "second");
    assert_eq!(
        failure.causes,
        vec![
            Cause::Step {
                step: "bad-a".into(),
                attempts: 1,
                error: "disk full".into()
            },
            Cause::Step {
                step: "bad-b".into(),
                attempts: 1,
                error: "timeout talking to x".into()
            },
        ]
    );
    assert_eq!(
        (
            calls_a.load(Ordering::SeqCst),
            calls_b.load(Ordering::SeqCst)
        ),
        (1, 1)
    );
    // Nothing of "second" is stored: state, log and cursor stop after "first".
    let (record, version) = engine.run_record(&report.run_id).await.unwrap().unwrap();
    assert_eq!(record.state, json!({"init": 1, "first": true}));
    assert_eq!(record.status, RunStatus::Failed);
    assert_eq!(record.seq, 1);
    assert_eq!(version, 3, "start, first stage, failure status");
    let log = engine.stage_log(&report.run_id).await.unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].stage, "first");
}

#[tokio::test]
async fn later_declared_step_wins_whatever_finishes_first() {
    let (store, _) = memory();
    let slow_first = Step::new("slow", |_| async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        Ok(json!({"k": "slow", "list": [1, 2], "nested": {"a": 1}}))
    });
    let p = Pipeline::new("p").stage(Stage::new("s").step(slow_first).step(patch_step(
        "fast",
        json!({"k": "fast", "list": [3], "nested": {"b": 2}}),
    )));
    let engine = Engine::new(store, p).unwrap();
    tokio::time::pause();
    let report = engine.start(json!({"nested": {"c": 3}})).await.unwrap();
    assert_eq!(
        report.state,
        json!({"k": "fast", "list": [3], "nested": {"a": 1, "b": 2, "c": 3}})
    );
}

#[tokio::test]
async fn stage_timeout_and_panicking_step_or_router_fail_the_stage() {
    tokio::time::pause();
    let (store, _) = memory();
    let p = Pipeline::new("p").stage(Stage::new("slow").timeout(Duration::from_secs(1)).step(
        Step::new("hang", |ctx| async move {
            ctx.cancelled().await;
            Ok(json!({}))
        }),
    ));
    let engine = Engine::new(store.clone(), p).unwrap();
    let report = engine.start(json!({})).await.unwrap();
    let Outcome::Failed(f) = report.outcome else {
        panic!()
    };
    assert_eq!(f.causes, vec![Cause::StageTimeout { after_ms: 1000 }]);

    let p = Pipeline::new("q").stage(Stage::new("boom").step(Step::new("p", |_| async {
        if true {
            panic!("kaboom");
        }
        Ok(json!({}))
    })));
    let engine = Engine::new(store, p).unwrap();
    let report = engine.start(json!({})).await.unwrap();
    let Outcome::Failed(f) = report.outcome else {
        panic!()
    };
    assert!(matches!(&f.causes[0], Cause::Step { error, .. } if error.contains("kaboom")));
}

#[tokio::test]
async fn two_engines_never_both_commit_a_stage() {
    let (store, _) = memory();
    let gate = Arc::new(tokio::sync::Notify::new());
    let entered = Arc::new(tokio::sync::Notify::new());
    let (g, e) = (gate.clone(), entered.clone());
    let p = Pipeline::new("p").stage(Stage::new("s").step(Step::new("wait", move |_| {
        let (g, e) = (g.clone(), e.clone());
        async move {
            e.notify_one();
            g.notified().await;
            Ok(json!({"done": true}))
        }
    })));
    let engine = Engine::new(store.clone(), p.clone()).unwrap();
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
    // Another writer moves the run record on behind the engine's back.
    let (record, version) = engine.run_record("r").await.unwrap().unwrap();
    let mut batch = Batch::new();
    batch
        .put(
            &runs_collection("p"),
            "r",
            serde_json::to_value(&record).unwrap(),
        )
        .when(Precondition::Version(version));
    store.commit(batch).await.unwrap();
    gate.notify_one();
    let result = run.await.unwrap();
    assert!(
        matches!(result, Err(PipelineError::LostOwnership(_))),
        "{result:?}"
    );
    assert!(engine.stage_log("r").await.unwrap().is_empty());
}

#[tokio::test]
async fn an_interrupted_run_resumes_at_its_last_committed_stage() {
    let (store, _) = memory();
    let calls = Arc::new(AtomicU32::new(0));
    let entered = Arc::new(tokio::sync::Notify::new());
    let (c, e) = (calls.clone(), entered.clone());
    let p = Pipeline::new("p")
        .stage(Stage::new("a").step(patch_step("s", json!({"a": 1}))))
        .stage(Stage::new("b").step(Step::new("once", move |ctx| {
            let (c, e) = (c.clone(), e.clone());
            async move {
                // The first process dies while this step runs.
                if c.fetch_add(1, Ordering::SeqCst) == 0 {
                    e.notify_one();
                    std::future::pending::<()>().await;
                }
                Ok(json!({"b": ctx.idempotency_key()}))
            }
        })))
        .stage(Stage::new("c").step(patch_step("s", json!({"c": 1}))));
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
    handle.abort(); // the process is killed: nothing more is written
    assert!(handle.await.unwrap_err().is_cancelled());
    let (record, _) = first.run_record("r").await.unwrap().unwrap();
    assert_eq!(record.status, RunStatus::Running);
    assert_eq!(record.seq, 1);

    let second = Engine::new(store, p).unwrap();
    assert_eq!(
        second.interrupted_runs().await.unwrap(),
        vec!["r".to_string()]
    );
    let mut rx = second.subscribe();
    let report = second.resume("r").await.unwrap();
    assert_eq!(report.outcome, Outcome::Completed);
    // Same stage commit number and attempt as the interrupted try: same idempotency key.
    assert_eq!(report.state, json!({"a": 1, "b": "r/1/b/once/1", "c": 1}));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    let log = second.stage_log("r").await.unwrap();
    let stages: Vec<_> = log.iter().map(|e| (e.seq, e.stage.as_str())).collect();
    assert_eq!(stages, [(1, "a"), (2, "b"), (3, "c")]);
    let first_event = rx.try_recv().unwrap();
    assert_eq!(
        first_event.kind,
        EventKind::PipelineResumed {
            from: ResumeSource::Record
        }
    );
    // A finished run cannot be resumed again.
    assert!(matches!(
        second.resume("r").await,
        Err(PipelineError::NotResumable { .. })
    ));
    assert!(matches!(
        second.resume("nope").await,
        Err(PipelineError::RunNotFound(_))
    ));
}
