//! The pack-run runner over the memory backend: failure policy (attempts, back-off, next
//! attempt, continue on error), timeouts, maps, outputs, and the one-runner lease.

use berth_core::packrun::{RunStatus, StepStatus};
use berth_packrun::{Finish, PackRunError};
use std::time::Duration;

mod common;

use common::{plan, runner, store};

fn step<'a>(run: &'a berth_core::packrun::PackRun, id: &str) -> &'a berth_core::packrun::StepState {
    run.steps.iter().find(|s| s.step_id == id).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_attempt_is_retried_and_both_attempts_are_logged() {
    let dir = tempfile::tempdir().unwrap();
    let store = store();
    let (runner, _rx) = runner(&store, &dir);
    let p = plan(
        &dir,
        r#"{"name": "retry", "failurePolicy": {"maxAttempts": 2},
        "steps": [{"kind": "run", "id": "flaky", "program": "/bin/sh", "args": ["-c",
        "if [ -f tried ]; then echo second try; else touch tried; echo broken >&2; exit 3; fi"]}]}"#,
    );
    let summary = runner.start(&p, Some("r".into())).await.unwrap();
    assert_eq!(summary.finish, Finish::Succeeded);
    let s = step(&summary.run, "flaky");
    assert_eq!((s.status, s.attempts), (StepStatus::Succeeded, 2));
    let logs = store.logs().read("r", None, 1000).await.unwrap();
    let retry = logs.iter().find(|e| e.event_type == "step.retry").unwrap();
    assert!(
        retry.message.contains("exited with status 3"),
        "{}",
        retry.message
    );
    let out: Vec<(String, String)> = logs
        .iter()
        .filter(|e| e.event_type == "step.output")
        .map(|e| (e.metadata["attempt"].clone(), e.message.clone()))
        .collect();
    assert_eq!(
        out,
        [
            ("1".into(), "broken".into()),
            ("2".into(), "second try".into())
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn back_off_is_recorded_as_next_attempt_and_a_final_failure_skips_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let store = store();
    let (runner, mut rx) = runner(&store, &dir);
    let p = plan(
        &dir,
        r#"{"name": "fail", "failurePolicy": {"maxAttempts": 2, "backoffSeconds": 1},
        "steps": [{"kind": "run", "id": "bad", "program": "/bin/sh", "args": ["-c", "exit 7"]},
                  {"kind": "run", "id": "after", "program": "/bin/true"}]}"#,
    );
    let run = tokio::spawn({
        let runner = runner.clone();
        async move { runner.start(&p, Some("f".into())).await }
    });
    // Wait for the retry event, then look at the run while it backs off.
    while let Some(e) = rx.recv().await {
        if e.event_type == "step.retry" {
            break;
        }
    }
    let waiting = store.runs().get("f").await.unwrap().unwrap();
    let s = step(&waiting, "bad");
    assert_eq!(s.status, StepStatus::Pending);
    assert_eq!(s.attempts, 1);
    let next = s.next_attempt_at.expect("next attempt recorded");
    assert!(next.since(store.clock().now()) <= Duration::from_secs(1));
    assert!(next > waiting.requested_at);
    let summary = run.await.unwrap().unwrap();
    let Finish::Failed { reason } = &summary.finish else {
        panic!("{:?}", summary.finish)
    };
    assert!(reason.contains("exited with status 7"), "{reason}");
    assert_eq!(summary.run.status, RunStatus::Failed);
    let s = step(&summary.run, "bad");
    assert_eq!(
        (s.status, s.attempts, s.next_attempt_at),
        (StepStatus::Failed, 2, None)
    );
    assert_eq!(step(&summary.run, "after").status, StepStatus::Skipped);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn continue_on_error_keeps_going_and_timeouts_fail_an_attempt() {
    let dir = tempfile::tempdir().unwrap();
    let store = store();
    let (runner, _rx) = runner(&store, &dir);
    let p = plan(
        &dir,
        r#"{"name": "tolerant", "steps": [
        {"kind": "parallel", "id": "block", "continueOnError": true, "steps": [
            {"kind": "run", "id": "ok", "program": "/bin/sh", "args": ["-c", "echo fine"]},
            {"kind": "run", "id": "slow", "program": "/bin/sh", "args": ["-c", "sleep 30"], "timeoutSeconds": 1}
        ]},
        {"kind": "run", "id": "last", "program": "/bin/sh", "args": ["-c", "echo last"]}
    ]}"#,
    );
    let started = std::time::Instant::now();
    let summary = runner.start(&p, Some("t".into())).await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the timeout killed the sleep"
    );
    assert_eq!(summary.finish, Finish::Succeeded);
    let slow = step(&summary.run, "slow");
    assert_eq!(slow.status, StepStatus::Failed);
    assert!(slow
        .last_error
        .as_deref()
        .unwrap()
        .contains("timed out after 1 s"));
    assert_eq!(step(&summary.run, "last").status, StepStatus::Succeeded);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn map_items_run_one_after_another_and_outputs_are_captured() {
    let dir = tempfile::tempdir().unwrap();
    let store = store();
    let (runner, _rx) = runner(&store, &dir);
    let p = plan(
        &dir,
        r#"{"name": "map", "steps": [
        {"kind": "map", "id": "m", "items": ["a", "b", "c"], "step": {"id": "t", "program": "/bin/sh",
         "args": ["-c", "echo {{item}} > out-{{index}}.txt; echo {{item}}"],
         "outputs": [{"name": "out-{{index}}", "path": "out-{{index}}.txt"}]}},
        {"kind": "run", "id": "none", "program": "/bin/true", "outputs": [{"name": "ghost", "path": "ghost.txt"}]}
    ]}"#,
    );
    let summary = runner.start(&p, Some("m".into())).await.unwrap();
    assert_eq!(summary.finish, Finish::Succeeded);
    let logs = store.logs().read("m", None, 1000).await.unwrap();
    let order: Vec<String> = logs
        .iter()
        .filter(|e| e.event_type == "step.started" || e.event_type == "step.succeeded")
        .map(|e| format!("{} {}", e.event_type, e.step_id.clone().unwrap()))
        .collect();
    assert_eq!(
        order[..6],
        [
            "step.started m.0",
            "step.succeeded m.0",
            "step.started m.1",
            "step.succeeded m.1",
            "step.started m.2",
            "step.succeeded m.2",
        ]
    );
    let arts = store.artifacts().list("m").await.unwrap();
    let names: Vec<(&str, String)> = arts
        .iter()
        .map(|a| (a.name.as_str(), format!("{:?}", a.status)))
        .collect();
    assert_eq!(
        names,
        [
            ("ghost", "Skipped".into()),
            ("out-0", "Copied".into()),
            ("out-1", "Copied".into()),
            ("out-2", "Copied".into())
        ]
    );
    let copied = std::fs::read_to_string(dir.path().join("artifacts/m/out-1")).unwrap();
    assert_eq!(copied, "b\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_held_by_another_live_runner_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = store();
    let (runner, _rx) = runner(&store, &dir);
    let p = plan(
        &dir,
        r#"{"name": "g", "steps": [{"kind": "approval", "id": "gate"}]}"#,
    );
    let summary = runner.start(&p, Some("g".into())).await.unwrap();
    assert!(matches!(summary.finish, Finish::Paused { .. }));
    let other = ["packrun:g".to_owned()];
    let held = store
        .leases()
        .acquire("elsewhere:1", &other, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(held.len(), 1);
    let err = runner.resume("g", None).await.unwrap_err();
    assert!(
        matches!(err, PackRunError::Busy { ref owner, .. } if owner == "elsewhere:1"),
        "{err}"
    );
    store
        .leases()
        .release("elsewhere:1", "packrun:g")
        .await
        .unwrap();
    let again = runner.resume("g", None).await.unwrap();
    assert!(
        matches!(again.finish, Finish::Paused { .. }),
        "still waiting for the gate"
    );
    assert!(
        store.leases().lease("packrun:g").await.unwrap().is_none(),
        "released after the run paused"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_killed_before_the_engine_wrote_anything_is_started_by_resume() {
    let dir = tempfile::tempdir().unwrap();
    let store = store();
    let (runner, _rx) = runner(&store, &dir);
    let p = plan(
        &dir,
        r#"{"name": "early", "steps": [{"kind": "approval", "id": "gate"},
        {"kind": "run", "id": "after", "program": "/bin/sh", "args": ["-c", "echo after"]}]}"#,
    );
    assert!(matches!(
        runner.start(&p, Some("e".into())).await.unwrap().finish,
        Finish::Paused { .. }
    ));
    // What a runner killed right after creating the run record leaves: nothing of the
    // engine (no run record, stage log or checkpoint).
    let id = berth_packrun::PIPELINE_ID;
    let engine = berth_pipeline::record::runs_collection(id);
    let stage_log = berth_pipeline::record::stage_log_collection(id);
    let mut batch = berth_core::Batch::new();
    batch.delete(&engine, "e");
    for r in store
        .records()
        .scan(&stage_log, &berth_core::Scan::all())
        .await
        .unwrap()
    {
        batch.delete(&stage_log, &r.key);
    }
    store.commit(batch).await.unwrap();
    store.checkpoints().clear(id, "e").await.unwrap();
    store.checkpoints().delete_run(id, "e").await.unwrap();
    let found = runner.check_resumable("e", None).await.unwrap();
    assert!(!found.engine_started);
    // The gate is already open; approve it, then resume starts the engine from the top.
    runner
        .decide(
            "e",
            "gate",
            berth_core::packrun::DecisionRequest {
                actor: "ann".into(),
                grants: vec![],
                decision: berth_core::packrun::Decision::Approve,
                reason: None,
            },
        )
        .await
        .unwrap();
    let done = runner.resume("e", None).await.unwrap();
    assert_eq!(done.finish, Finish::Succeeded);
    assert_eq!(step(&done.run, "after").status, StepStatus::Succeeded);
}
