//! A `parallel` or `map` child whose success was committed never runs again: the runner is
//! killed (SIGKILL) while siblings of a succeeded child still run, the run is resumed to its
//! end, and a ledger every child appends to when it starts shows each child that `show`
//! reported succeeded before the kill exactly once.

mod common;

use common::{wait, Env, LIMIT};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Instant;

const TRIALS: usize = 4;

/// Children of the parallel block `par` and the map `m`; in each stage one child is slow,
/// so the stage is still open when a sibling has succeeded.
fn plan(ledger: &str) -> String {
    let child = |id: &str, sleep: &str| {
        format!(
            r#"{{"kind": "run", "id": "{id}", "program": "/bin/sh",
                "args": ["-c", "echo {id} >> {ledger}; sleep {sleep}"]}}"#
        )
    };
    format!(
        r#"{{"name": "ledger", "steps": [
            {{"kind": "parallel", "id": "par", "steps": [{}, {}, {}]}},
            {{"kind": "map", "id": "m", "items": ["0", "0.2", "3", "0.1"], "maxParallel": 2,
              "step": {{"id": "t", "program": "/bin/sh",
                        "args": ["-c", "echo m.{{{{index}}}} >> {ledger}; sleep {{{{item}}}}"]}}}}
        ]}}"#,
        child("p-fast", "0"),
        child("p-mid", "0.2"),
        child("p-slow", "3"),
    )
}

const CHILDREN: [&str; 7] = ["p-fast", "p-mid", "p-slow", "m.0", "m.1", "m.2", "m.3"];

/// Steps of `show --json` by status.
fn succeeded(shown: &Value) -> Vec<String> {
    shown["run"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["status"] == "succeeded")
        .map(|s| s["stepId"].as_str().unwrap().to_owned())
        .collect()
}

/// Polls `show` until a child of `stage` (a step id prefix) is committed as succeeded while
/// the run is still going; the children it reported succeeded.
fn committed_in(env: &Env, run: &str, stage: &str) -> Option<Vec<String>> {
    let deadline = Instant::now() + LIMIT;
    while Instant::now() < deadline {
        let done = env.run(&["--json", "show", run]);
        if done.code == 0 {
            let shown = done.json();
            // Still pending (the runner has not started it yet) is worth waiting for; a run
            // that already ended or paused is not.
            if !matches!(shown["run"]["status"].as_str(), Some("pending" | "running")) {
                return None;
            }
            let ok = succeeded(&shown);
            if ok.iter().any(|s| s.starts_with(stage)) {
                return Some(ok);
            }
        }
    }
    panic!("no child of {stage} of {run} succeeded within {LIMIT:?}")
}

#[test]
fn children_committed_as_succeeded_do_not_run_again_after_a_kill() {
    let env = Env::new();
    let started = Instant::now();
    let mut landed = 0;
    for trial in 0..TRIALS {
        let run = format!("led-{trial}");
        let ledger = env.path().join(format!("ledger-{trial}"));
        let plan_file = format!("plan-{trial}.json");
        env.write(&plan_file, &plan(&ledger.display().to_string()));
        let stage = if trial % 2 == 0 { "p-" } else { "m." };
        let (mut child, _lines) = env.spawn(&["--json", "run", &plan_file, "--run-id", &run]);
        let before = committed_in(&env, &run, stage);
        child.kill().unwrap();
        wait(&mut child);
        let before = before.unwrap_or_default();
        if !before.is_empty() {
            landed += 1;
        }
        for _ in 0..3 {
            if env.show(&run)["run"]["status"] == "succeeded" {
                break;
            }
            let resumed = env.run(&["resume", &run]);
            assert!(
                matches!(resumed.code, 0 | 5),
                "trial {trial}: {}{}",
                resumed.stdout,
                resumed.stderr
            );
        }
        let shown = env.show(&run);
        assert_eq!(shown["run"]["status"], "succeeded", "trial {trial}");
        let text = std::fs::read_to_string(&ledger).unwrap();
        let mut runs: BTreeMap<&str, usize> = BTreeMap::new();
        for line in text.lines() {
            *runs.entry(line.trim()).or_default() += 1;
        }
        for c in CHILDREN {
            assert!(
                runs.get(c).copied().unwrap_or(0) >= 1,
                "trial {trial}: {c} never ran: {runs:?}"
            );
        }
        for c in &before {
            assert_eq!(
                runs.get(c.as_str()).copied(),
                Some(1),
                "trial {trial}: {c} was reported succeeded before the kill, yet ran again: {runs:?}"
            );
        }
    }
    assert!(
        landed >= TRIALS / 2,
        "only {landed} of {TRIALS} kills landed after a child succeeded"
    );
    println!("{TRIALS} trials in {:?}", started.elapsed());
}
