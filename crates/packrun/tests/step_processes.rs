//! A step's processes, real ones: the step ends when its main process exits even if a
//! background child holds its output, nothing of the step outlives it, and a step over its
//! limit (the plan's or the runner's default) gets SIGTERM on its whole group, then SIGKILL.

use berth_core::packrun::{LogEntry, StepStatus};
use berth_core::Store;
use berth_packrun::{Finish, PackRunner, RunSummary, RunnerOptions};
use std::time::Duration;

/// Bound of a run that should end promptly: a failure, never a pause.
const LIMIT: Duration = Duration::from_secs(30);

mod common;

use common::{options, plan, store};

fn runner(store: &Store, dir: &tempfile::TempDir, step_timeout: Duration) -> PackRunner {
    let options = RunnerOptions {
        step_timeout,
        ..options(dir)
    };
    PackRunner::new(store.clone(), options)
}

async fn run(runner: &PackRunner, dir: &tempfile::TempDir, id: &str, json: &str) -> RunSummary {
    let plan = plan(dir, json);
    tokio::time::timeout(LIMIT, runner.start(&plan, Some(id.into())))
        .await
        .unwrap_or_else(|_| panic!("run {id} did not end within {LIMIT:?}"))
        .unwrap()
}

async fn logs(store: &Store, run: &str) -> Vec<LogEntry> {
    store.logs().read(run, None, 1000).await.unwrap()
}

fn output(logs: &[LogEntry], step: &str) -> Vec<String> {
    logs.iter()
        .filter(|e| e.event_type == "step.output" && e.step_id.as_deref() == Some(step))
        .map(|e| e.message.clone())
        .collect()
}

fn status<'a>(summary: &'a RunSummary, id: &str) -> &'a berth_core::packrun::StepState {
    summary.run.steps.iter().find(|s| s.step_id == id).unwrap()
}

/// Whether `pid` is a live process (a zombie awaiting its reaper is not).
fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name.
        Ok(stat) => !matches!(
            stat.rsplit_once(')')
                .and_then(|(_, rest)| rest.trim_start().chars().next()),
            Some('Z' | 'X')
        ),
        Err(_) => false,
    }
}

/// Waits (bounded) until `pid` is no longer a live process; the kill is delivered
/// asynchronously, so it may take a moment.
async fn gone(pid: i32) -> bool {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while alive(pid) {
        if tokio::time::Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    true
}

fn pid_in(lines: &[String]) -> i32 {
    lines
        .iter()
        .find_map(|l| l.strip_prefix("pid ").and_then(|p| p.trim().parse().ok()))
        .unwrap_or_else(|| panic!("no pid in {lines:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_background_child_holding_stdout_neither_hangs_the_step_nor_outlives_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = store();
    let runner = runner(&store, &dir, Duration::from_secs(3_600));
    // The background subshell inherits stdout, writes once more shortly after the main
    // process exited (within the drain grace), then becomes `sleep 1000` under the same pid.
    let summary = run(
        &runner,
        &dir,
        "bg",
        r#"{"name": "bg", "steps": [
            {"kind": "run", "id": "spawner", "program": "/bin/sh",
             "args": ["-c", "(sleep 0.2; echo late; exec sleep 1000) & echo started; echo \"pid $!\""]},
            {"kind": "run", "id": "next", "program": "/bin/sh", "args": ["-c", "echo next"]}
        ]}"#,
    )
    .await;
    assert_eq!(summary.finish, Finish::Succeeded);
    assert_eq!(status(&summary, "spawner").status, StepStatus::Succeeded);
    let logs = logs(&store, "bg").await;
    let lines = output(&logs, "spawner");
    assert!(lines.contains(&"started".to_owned()), "{lines:?}");
    assert!(
        lines.contains(&"late".to_owned()),
        "output written within the drain grace is kept: {lines:?}"
    );
    assert_eq!(output(&logs, "next"), ["next"]);
    let pid = pid_in(&lines);
    assert!(
        gone(pid).await,
        "the step's background sleep {pid} survived it"
    );
    assert!(
        logs.iter()
            .any(|e| e.event_type == "step.orphans" && e.step_id.as_deref() == Some("spawner")),
        "closing the output is logged"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_over_its_limit_gets_sigterm_then_its_whole_group_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let store = store();
    let runner = runner(&store, &dir, Duration::from_secs(3_600));
    let summary = run(
        &runner,
        &dir,
        "slow",
        r#"{"name": "slow", "steps": [
            {"kind": "run", "id": "slow", "program": "/bin/sh", "timeoutSeconds": 1,
             "args": ["-c", "trap 'echo got-term; exit 0' TERM; sleep 1000 & echo \"pid $!\"; wait"]}
        ]}"#,
    )
    .await;
    let Finish::Failed { reason } = &summary.finish else {
        panic!("{:?}", summary.finish)
    };
    assert!(reason.contains("timed out after 1 s"), "{reason}");
    let slow = status(&summary, "slow");
    assert_eq!(slow.status, StepStatus::Failed);
    assert!(
        slow.last_error
            .as_deref()
            .unwrap()
            .contains("timed out after 1 s"),
        "{slow:?}"
    );
    let logs = logs(&store, "slow").await;
    let lines = output(&logs, "slow");
    // SIGTERM first: the shell's trap ran (and exiting 0 does not make it a success).
    assert!(lines.contains(&"got-term".to_owned()), "{lines:?}");
    assert!(logs.iter().any(|e| e.event_type == "step.timeout"));
    let pid = pid_in(&lines);
    assert!(
        gone(pid).await,
        "the step's background sleep {pid} survived it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runners_default_limit_applies_unless_the_plan_sets_one() {
    let dir = tempfile::tempdir().unwrap();
    let store = store();
    let runner = runner(&store, &dir, Duration::from_secs(1));
    let summary = run(
        &runner,
        &dir,
        "dflt",
        r#"{"name": "dflt", "steps": [
            {"kind": "parallel", "id": "both", "continueOnError": true, "steps": [
                {"kind": "run", "id": "default", "program": "/bin/sh",
                 "args": ["-c", "echo \"pid $$\"; exec sleep 1000"]},
                {"kind": "run", "id": "own", "program": "/bin/sh", "timeoutSeconds": 60,
                 "args": ["-c", "sleep 1.5; echo done"]}
            ]}
        ]}"#,
    )
    .await;
    assert_eq!(summary.finish, Finish::Succeeded);
    let default = status(&summary, "default");
    assert_eq!(default.status, StepStatus::Failed);
    assert!(
        default
            .last_error
            .as_deref()
            .unwrap()
            .contains("timed out after 1 s"),
        "{default:?}"
    );
    assert_eq!(status(&summary, "own").status, StepStatus::Succeeded);
    let logs = logs(&store, "dflt").await;
    assert_eq!(output(&logs, "own"), ["done"]);
    assert!(gone(pid_in(&output(&logs, "default"))).await);
}
