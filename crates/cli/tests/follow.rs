//! `logs --follow` shows lines as they are written (and `run --detach` returns at once), and
//! always stops: when the run ends, pauses or loses its runner, and when its reader goes.

mod common;

use common::{wait, Env};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Stdio};

#[test]
fn follow_shows_lines_as_they_are_written() {
    let env = Env::new();
    env.write(
        "plan.json",
        r#"{"name": "slow", "steps": [{"kind": "run", "id": "w", "program": "/bin/sh",
            "args": ["-c", "echo first; while [ ! -f go.flag ]; do sleep 0.02; done; echo second"]}]}"#,
    );
    let detached = env.run(&["--json", "run", "plan.json", "--detach", "--run-id", "f1"]);
    assert_eq!(detached.code, 0, "{}{}", detached.stdout, detached.stderr);
    assert_eq!(detached.json()["runId"], "f1");

    let (mut follower, lines) = env.spawn(&["logs", "f1", "--follow"]);
    let seen = lines.until(&["step.output", "first"]);
    assert!(!seen
        .iter()
        .any(|l| l.contains("step.output") && l.contains("second")));
    // The step is still blocked on the flag: the line came while the run was running.
    assert_eq!(env.show("f1")["run"]["status"], "running");
    assert!(
        env.show("f1")["lease"]["owner"].is_string(),
        "the detached runner holds the lease"
    );

    env.write("go.flag", "");
    lines.until(&["step.output", "second"]);
    lines.until(&["run.succeeded"]);
    assert_eq!(lines.next(), None, "follow stops once the run has ended");
    assert_eq!(wait(&mut follower), 0);
    assert_eq!(env.show("f1")["run"]["status"], "succeeded");
}

/// Step `w` prints `started` and waits for `go.flag`; then gate `ship`.
const WAIT_THEN_GATE: &str = r#"{"name": "wait-then-gate", "steps": [
    {"kind": "run", "id": "w", "program": "/bin/sh",
     "args": ["-c", "echo started; while [ ! -f go.flag ]; do sleep 0.02; done; echo finished"]},
    {"kind": "approval", "id": "gate", "gate": "ship", "message": "Ship it?"}
]}"#;

/// Exit code of `logs --follow` on a paused run.
const PAUSED: i32 = 3;
/// Exit code of `logs --follow` on a run whose runner is gone.
const OWNER_GONE: i32 = 8;
/// Exit code of `logs --follow` whose standard output was closed.
const OUTPUT_CLOSED: i32 = 141;

fn stderr_of(child: &mut Child) -> String {
    let mut text = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    text
}

#[test]
fn follow_stops_with_the_resume_command_once_a_killed_runners_lease_lapses() {
    let mut env = Env::new();
    env.vars.push(("BERTH_LEASE_TTL_MS".into(), "1500".into()));
    env.write("plan.json", WAIT_THEN_GATE);
    let (mut runner, runner_lines) = env.spawn(&["--json", "run", "plan.json", "--run-id", "k1"]);
    runner_lines.until(&["step.output", "started"]);
    let (mut human, human_lines) = env.spawn(&["logs", "k1", "--follow"]);
    let (mut json, json_lines) = env.spawn(&["--json", "logs", "k1", "--follow"]);
    human_lines.until(&["step.output", "started"]);
    json_lines.until(&["step.output", "started"]);

    let pid = rustix::process::Pid::from_raw(runner.id() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::KILL).unwrap();
    wait(&mut runner);

    // `wait` gives up after 30 s: the followers must notice the lapsed lease (1.5 s) by then.
    assert_eq!(wait(&mut human), OWNER_GONE);
    let said = stderr_of(&mut human);
    assert!(
        said.contains("runner") && said.contains("is gone"),
        "{said}"
    );
    assert!(said.contains("berth resume k1"), "{said}");
    assert_eq!(human_lines.next(), None);

    assert_eq!(wait(&mut json), OWNER_GONE);
    let last: Value = serde_json::from_str(&json_lines.next().expect("a last line")).unwrap();
    assert_eq!(last["followEnd"]["reason"], "ownerGone", "{last}");
    assert_eq!(last["followEnd"]["next"], "berth resume k1");
    assert_eq!(last["followEnd"]["exitCode"], OWNER_GONE);
    assert!(last["followEnd"]["ownerGoneSince"].is_string(), "{last}");
    assert_eq!(json_lines.next(), None);

    assert_eq!(
        env.show("k1")["run"]["status"],
        "running",
        "nothing was cancelled"
    );
    // Let the killed runner's step (left running) see its flag, and take the run to its gate,
    // so nothing outlives the test.
    env.write("go.flag", "");
    let resumed = env.run(&["resume", "k1"]);
    assert_eq!(resumed.code, PAUSED, "{}{}", resumed.stdout, resumed.stderr);
}

#[test]
fn follow_stops_with_the_approve_command_when_the_run_pauses_at_a_gate() {
    let env = Env::new();
    env.write("plan.json", WAIT_THEN_GATE);
    let detached = env.run(&["run", "plan.json", "--detach", "--run-id", "g1"]);
    assert_eq!(detached.code, 0, "{}{}", detached.stdout, detached.stderr);
    let (mut follower, lines) = env.spawn(&["logs", "g1", "--follow"]);
    lines.until(&["step.output", "started"]);
    env.write("go.flag", "");
    lines.until(&["step.output", "finished"]);

    assert_eq!(wait(&mut follower), PAUSED);
    let said = stderr_of(&mut follower);
    assert!(said.contains("paused at approval gate ship"), "{said}");
    assert!(said.contains("berth approve g1 ship --as"), "{said}");
    assert_eq!(env.show("g1")["run"]["status"], "paused");

    // A follow started on the paused run stops at once, the same way.
    let again = env.run(&["--json", "logs", "g1", "--follow"]);
    assert_eq!(again.code, PAUSED, "{}", again.stderr);
    let last = again.json_lines().pop().unwrap();
    assert_eq!(last["followEnd"]["reason"], "paused");
    assert_eq!(
        last["followEnd"]["next"],
        "berth approve g1 ship --as YOUR-NAME"
    );
}

#[test]
fn follow_stops_quietly_when_its_reader_closes_the_pipe() {
    let env = Env::new();
    env.write("plan.json", WAIT_THEN_GATE);
    let detached = env.run(&["run", "plan.json", "--detach", "--run-id", "h1"]);
    assert_eq!(detached.code, 0, "{}{}", detached.stdout, detached.stderr);
    let mut follower = env
        .cmd()
        .args(["logs", "h1", "--follow"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // `| head -1`: read one line, then close the pipe. The run then writes nothing more (its
    // step waits for a flag), so only the closed pipe can end the follower.
    let mut reader = BufReader::new(follower.stdout.take().unwrap());
    let mut first = String::new();
    reader.read_line(&mut first).unwrap();
    assert!(!first.is_empty());
    drop(reader);

    assert_eq!(wait(&mut follower), OUTPUT_CLOSED);
    assert_eq!(stderr_of(&mut follower), "", "quiet: no error, no panic");
    assert_eq!(env.show("h1")["run"]["status"], "running");
    // Let the detached runner finish its step and stop at the gate, so it does not outlive
    // the test.
    env.write("go.flag", "");
    let rest = env.run(&["logs", "h1", "--follow"]);
    assert_eq!(rest.code, PAUSED, "{}", rest.stderr);
}
