//! A runner killed (SIGKILL) mid-step at random points resumes to completion, and no step's
//! output is stored twice under different sequences.
//!
//! Each round starts a run whose steps print numbered lines over time, reads the runner's
//! JSON-lines output until a random number of entries were stored, kills it, and resumes
//! (in some rounds the first resume is killed as well). The final log must hold every
//! expected output line exactly once, with sequences 1..=n.

mod common;

use common::{wait, Env};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

const ROUNDS: usize = 12;
const LINES: usize = 8;

/// A small deterministic generator (xorshift), seeded from the clock and printed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

fn printer(id: &str, stream: &str) -> String {
    let redirect = if stream == "stderr" { " >&2" } else { "" };
    format!(
        r#"{{"kind": "run", "id": "{id}", "program": "/bin/sh", "args": ["-c",
            "i=1; while [ $i -le {LINES} ]; do echo \"{id} line $i\"{redirect}; sleep 0.01; i=$((i+1)); done"]}}"#
    )
}

fn plan() -> String {
    format!(
        r#"{{"name": "crashy", "steps": [
            {},
            {{"kind": "parallel", "id": "both", "steps": [{}, {}]}},
            {{"kind": "map", "id": "each", "items": ["x", "y"], "step":
                {{"id": "t", "program": "/bin/sh", "args": ["-c", "echo \"each {{{{item}}}} 1\"; sleep 0.02; echo \"each {{{{item}}}} 2\""]}}}},
            {}
        ]}}"#,
        printer("first", "stdout"),
        printer("left", "stdout"),
        printer("right", "stderr"),
        printer("last", "stdout"),
    )
}

fn expected() -> BTreeMap<String, Vec<String>> {
    let mut m = BTreeMap::new();
    for id in ["first", "left", "right", "last"] {
        m.insert(
            id.to_owned(),
            (1..=LINES).map(|i| format!("{id} line {i}")).collect(),
        );
    }
    m.insert("each.0".into(), vec!["each x 1".into(), "each x 2".into()]);
    m.insert("each.1".into(), vec!["each y 1".into(), "each y 2".into()]);
    m
}

/// Starts `args`, kills it after `entries` JSON lines (if it has not ended by then).
fn kill_after(env: &Env, args: &[&str], entries: u64) -> bool {
    let (mut child, lines) = env.spawn(args);
    let mut read = 0;
    while read < entries {
        match lines.next() {
            Some(_) => read += 1,
            None => break,
        }
    }
    let killed = child.try_wait().unwrap().is_none();
    let _ = child.kill();
    wait(&mut child);
    killed
}

#[test]
fn killed_runner_resumes_without_duplicate_output() {
    let env = Env::new();
    env.write("plan.json", &plan());
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    println!("seed {seed}");
    let mut rng = Rng(seed);
    // A whole run stores 52 entries (36 output lines, 16 events); kill well before the end.
    let total = 45;
    let mut kills = 0;
    for round in 0..ROUNDS {
        let id = format!("crash-{round}");
        let at = 1 + rng.below(total - 5);
        if kill_after(&env, &["--json", "run", "plan.json", "--run-id", &id], at) {
            kills += 1;
        }
        if round % 2 == 1 {
            let at = 1 + rng.below(20);
            if kill_after(&env, &["--json", "resume", &id], at) {
                kills += 1;
            }
        }
        let resumed = env.run(&["resume", &id]);
        let shown = env.show(&id);
        if resumed.code != 0 {
            // Only acceptable if the killed process had already finished the run.
            assert_eq!(
                shown["run"]["status"], "succeeded",
                "round {round} (seed {seed}): {}{}",
                resumed.stdout, resumed.stderr
            );
        }
        assert_eq!(
            shown["run"]["status"], "succeeded",
            "round {round} (seed {seed})"
        );
        for s in shown["run"]["steps"].as_array().unwrap() {
            assert_eq!(s["status"], "succeeded", "round {round}: {s}");
        }
        check_log(&env.logs(&id), round, seed);
    }
    println!("{kills} kills landed while the runner was working");
    assert!(
        kills >= 10,
        "only {kills} kills landed while the runner was working (seed {seed})"
    );
}

fn check_log(logs: &[Value], round: usize, seed: u64) {
    let seqs: Vec<u64> = logs
        .iter()
        .map(|e| e["sequence"].as_u64().unwrap())
        .collect();
    assert_eq!(
        seqs,
        (1..=seqs.len() as u64).collect::<Vec<_>>(),
        "round {round} (seed {seed})"
    );
    let mut got: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for e in logs.iter().filter(|e| e["eventType"] == "step.output") {
        got.entry(e["stepId"].as_str().unwrap().to_owned())
            .or_default()
            .push(e["message"].as_str().unwrap().to_owned());
    }
    for (step, want) in expected() {
        let mut have = got.remove(&step).unwrap_or_default();
        have.sort();
        let mut want = want;
        want.sort();
        assert_eq!(
            have, want,
            "round {round} (seed {seed}): output of {step} (each line exactly once)"
        );
    }
    assert!(got.is_empty(), "unexpected output: {got:?}");
}

#[test]
fn ctrl_c_kills_the_commands_releases_the_lease_and_the_run_resumes() {
    let env = Env::new();
    env.write(
        "plan.json",
        r#"{"name": "int", "steps": [{"kind": "run", "id": "w", "program": "/bin/sh",
            "args": ["-c", "echo started; while [ ! -f go.flag ]; do sleep 0.02; done; echo finished"]}]}"#,
    );
    let (mut child, lines) = env.spawn(&["--json", "run", "plan.json", "--run-id", "i1"]);
    lines.until(&["step.output", "started"]);
    let pid = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::INT).unwrap();
    assert_eq!(wait(&mut child), 130);
    assert_eq!(
        env.json(&["leases"]),
        serde_json::json!([]),
        "lease released"
    );
    assert_eq!(env.show("i1")["run"]["status"], "running");

    env.write("go.flag", "");
    let resumed = env.run(&["resume", "i1"]);
    assert_eq!(resumed.code, 0, "{}{}", resumed.stdout, resumed.stderr);
    let out: Vec<String> = env
        .logs("i1")
        .iter()
        .filter(|e| e["eventType"] == "step.output")
        .map(|e| e["message"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(out, ["started", "finished"]);
}
