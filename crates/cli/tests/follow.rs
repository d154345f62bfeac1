//! `logs --follow` shows lines as they are written (and `run --detach` returns at once).

mod common;

use common::{wait, Env};

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
