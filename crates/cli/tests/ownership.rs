//! Ownership end to end, with the real `berth` binary and real signals, on SQLite and on the
//! MongoDB test server: a runner stopped past its lease carries on when nobody took its run;
//! one whose run was taken over writes nothing more and exits with the lost-claim code; a
//! killed runner's run resumes once its lease lapsed; of concurrent resumes exactly one wins.

mod common;

use common::{wait, Env, LIMIT};
use rustix::process::{kill_process, Pid, Signal};
use serde_json::Value;
use std::process::Child;
use std::time::{Duration, Instant};

/// Run lease TTL of every runner in these tests.
const TTL_MS: &str = "1500";
/// Exit code of a runner whose claim was taken over.
const CLAIM_LOST: i32 = 7;

/// Step `w` waits for `go.flag`, then step `after` runs.
const WAITING_PLAN: &str = r#"{"name": "waits", "steps": [
    {"kind": "run", "id": "w", "program": "/bin/sh",
     "args": ["-c", "echo started; while [ ! -f go.flag ]; do sleep 0.02; done; echo finished"]},
    {"kind": "run", "id": "after", "program": "/bin/sh", "args": ["-c", "echo after"]}
]}"#;

fn signal(child: &Child, sig: Signal) {
    let pid = Pid::from_raw(child.id() as i32).expect("a child pid");
    kill_process(pid, sig).expect("signal the runner");
}

/// A store of the MongoDB test server with the short lease TTL.
fn mongo_env() -> Env {
    with_ttl(Env::mongo("berth_own"))
}

/// A store on SQLite with the short lease TTL.
fn sqlite_env() -> Env {
    with_ttl(Env::new())
}

fn with_ttl(mut env: Env) -> Env {
    env.vars.push(("BERTH_LEASE_TTL_MS".into(), TTL_MS.into()));
    env
}

trait Owned {
    fn wait_lease_lapsed(&self, run: &str) -> Value;
    fn events(&self, run: &str, kind: &str) -> usize;
}

impl Owned for Env {
    /// Waits until no live lease holds `run`; its `show --json`.
    fn wait_lease_lapsed(&self, run: &str) -> Value {
        let deadline = Instant::now() + LIMIT;
        loop {
            let shown = self.show(run);
            if shown["lease"].is_null() {
                return shown;
            }
            assert!(Instant::now() < deadline, "the lease of {run} never lapsed");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn events(&self, run: &str, kind: &str) -> usize {
        self.logs(run)
            .iter()
            .filter(|e| e["eventType"] == kind)
            .count()
    }
}

fn paused_runner_carries_on(env: &Env) {
    env.write("plan.json", WAITING_PLAN);
    let (mut runner, lines) = env.spawn(&["--json", "run", "plan.json", "--run-id", "p1"]);
    lines.until(&["step.output", "started"]);
    signal(&runner, Signal::STOP);
    let shown = env.wait_lease_lapsed("p1");
    assert_eq!(shown["run"]["status"], "running");
    assert!(
        shown["ownerGoneSince"].is_string(),
        "show says since when the owner is gone: {shown}"
    );
    env.write("go.flag", "");
    signal(&runner, Signal::CONT);
    assert_eq!(
        wait(&mut runner),
        0,
        "the paused runner finishes its own run"
    );
    let shown = env.show("p1");
    assert_eq!(shown["run"]["status"], "succeeded");
    assert_eq!(
        env.events("p1", "run.cancelled"),
        0,
        "a lapse never cancels"
    );
    assert_eq!(env.events("p1", "run.succeeded"), 1);
    let finished = env
        .logs("p1")
        .iter()
        .filter(|e| e["message"] == "finished")
        .count();
    assert_eq!(finished, 1, "the step ran once");
}

fn taken_over_runner_writes_nothing(env: &Env) {
    env.write("plan.json", WAITING_PLAN);
    let (mut stale, lines) = env.spawn(&["--json", "run", "plan.json", "--run-id", "p2"]);
    lines.until(&["step.output", "started"]);
    signal(&stale, Signal::STOP);
    env.wait_lease_lapsed("p2");
    let plain = env.run(&["show", "p2"]);
    assert!(
        plain.stdout.contains("owner gone since"),
        "{}",
        plain.stdout
    );
    let listed = env.run(&["runs"]);
    assert!(
        listed.stdout.contains("owner gone since"),
        "{}",
        listed.stdout
    );
    env.write("go.flag", "");
    let resumed = env.run(&["resume", "p2"]);
    assert_eq!(resumed.code, 0, "{}{}", resumed.stdout, resumed.stderr);
    let before = env.logs("p2");
    let run_before = env.show("p2")["run"].clone();
    assert_eq!(run_before["status"], "succeeded");

    signal(&stale, Signal::CONT);
    let code = wait(&mut stale);
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut stale.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(code, CLAIM_LOST, "{stderr}");
    assert!(stderr.contains("taken over by another runner"), "{stderr}");
    assert_eq!(env.logs("p2"), before, "the stale runner logged nothing");
    assert_eq!(
        env.show("p2")["run"],
        run_before,
        "the stale runner changed nothing of the run"
    );
    assert_eq!(env.events("p2", "run.succeeded"), 1);
}

fn killed_runner_resumes_after_ttl(env: &Env) {
    env.write("plan.json", WAITING_PLAN);
    let (mut runner, lines) = env.spawn(&["--json", "run", "plan.json", "--run-id", "p3"]);
    lines.until(&["step.output", "started"]);
    signal(&runner, Signal::KILL);
    wait(&mut runner);
    let shown = env.wait_lease_lapsed("p3");
    assert_eq!(
        shown["run"]["status"], "running",
        "a dead owner cancels nothing"
    );
    assert!(shown["ownerGoneSince"].is_string(), "{shown}");
    env.write("go.flag", "");
    let resumed = env.run(&["resume", "p3"]);
    assert_eq!(resumed.code, 0, "{}{}", resumed.stdout, resumed.stderr);
    let shown = env.show("p3");
    assert_eq!(shown["run"]["status"], "succeeded");
    assert!(shown["ownerGoneSince"].is_null());
}

fn one_of_concurrent_resumes_wins(env: &Env) {
    env.write("plan.json", common::GATED_PLAN);
    let started = env.run(&["run", "plan.json", "--run-id", "p4"]);
    assert_eq!(started.code, 3, "{}{}", started.stdout, started.stderr);
    let approved = env.run(&["approve", "p4", "ship", "--as", "ann", "--no-resume"]);
    assert_eq!(approved.code, 3, "{}{}", approved.stdout, approved.stderr);
    let mut resumers: Vec<Child> = (0..6)
        .map(|_| {
            env.cmd()
                .args(["resume", "p4"])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    let codes: Vec<i32> = resumers.iter_mut().map(wait).collect();
    assert_eq!(
        codes.iter().filter(|c| **c == 0).count(),
        1,
        "exactly one resume wins: {codes:?}"
    );
    assert!(
        codes.iter().all(|c| *c == 0 || *c == 5),
        "the others are refused (busy or already ended): {codes:?}"
    );
    assert_eq!(env.show("p4")["run"]["status"], "succeeded");
    assert_eq!(env.events("p4", "run.resumed"), 1, "resumed logged once");
    assert_eq!(
        env.events("p4", "run.succeeded"),
        1,
        "succeeded logged once"
    );
    let b_lines = env
        .logs("p4")
        .iter()
        .filter(|e| e["stepId"] == "b" && e["eventType"] == "step.output")
        .count();
    assert_eq!(b_lines, 1, "step b ran once");
}

#[test]
fn sqlite_paused_runner_carries_on() {
    paused_runner_carries_on(&sqlite_env());
}

#[test]
fn sqlite_taken_over_runner_writes_nothing() {
    taken_over_runner_writes_nothing(&sqlite_env());
}

#[test]
fn sqlite_killed_runner_resumes_after_ttl() {
    killed_runner_resumes_after_ttl(&sqlite_env());
}

#[test]
fn sqlite_one_of_concurrent_resumes_wins() {
    one_of_concurrent_resumes_wins(&sqlite_env());
}

#[test]
fn mongo_paused_runner_carries_on() {
    paused_runner_carries_on(&mongo_env());
}

#[test]
fn mongo_taken_over_runner_writes_nothing() {
    taken_over_runner_writes_nothing(&mongo_env());
}

#[test]
fn mongo_killed_runner_resumes_after_ttl() {
    killed_runner_resumes_after_ttl(&mongo_env());
}

#[test]
fn mongo_one_of_concurrent_resumes_wins() {
    one_of_concurrent_resumes_wins(&mongo_env());
}
