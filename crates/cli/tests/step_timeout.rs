//! The default step limit through the real binary: `--step-timeout` (or
//! `BERTH_STEP_TIMEOUT`) bounds a step whose plan sets no `timeoutSeconds`, the step is
//! reported timed out and nothing of it keeps running; a step's own limit wins.

mod common;

use common::{step_status, Env};

/// Whether `pid` is a live process (a zombie awaiting its reaper is not).
fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !matches!(
            stat.rsplit_once(')')
                .and_then(|(_, rest)| rest.trim_start().chars().next()),
            Some('Z' | 'X')
        ),
        Err(_) => false,
    }
}

#[test]
fn the_default_step_timeout_is_configurable_and_kills_the_steps_group() {
    let env = Env::new();
    env.write(
        "plan.json",
        r#"{"name": "limits", "steps": [
            {"kind": "parallel", "id": "both", "continueOnError": true, "steps": [
                {"kind": "run", "id": "stuck", "program": "/bin/sh",
                 "args": ["-c", "sleep 1000 & echo \"pid $!\"; wait"]},
                {"kind": "run", "id": "own", "program": "/bin/sh", "timeoutSeconds": 60,
                 "args": ["-c", "sleep 1.5; echo done"]}
            ]}
        ]}"#,
    );
    let done = env.run(&[
        "--step-timeout",
        "1s",
        "run",
        "plan.json",
        "--run-id",
        "lim",
    ]);
    assert_eq!(done.code, 0, "{}{}", done.stdout, done.stderr);
    let shown = env.show("lim");
    assert_eq!(step_status(&shown, "stuck"), "failed");
    assert_eq!(step_status(&shown, "own"), "succeeded");
    let stuck = shown["run"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stepId"] == "stuck")
        .unwrap();
    assert!(
        stuck["lastError"]
            .as_str()
            .unwrap()
            .contains("timed out after 1 s"),
        "{stuck}"
    );
    let logs = env.logs("lim");
    assert!(logs.iter().any(|e| e["eventType"] == "step.timeout"));
    let pid: i32 = logs
        .iter()
        .find_map(|e| e["message"].as_str()?.strip_prefix("pid ")?.parse().ok())
        .expect("the step printed its background pid");
    // The group got SIGTERM and then SIGKILL before the run ended; the sleep is reaped by
    // now or about to be (a zombie is not alive).
    let deadline = std::time::Instant::now() + common::LIMIT;
    while alive(pid) {
        assert!(
            std::time::Instant::now() < deadline,
            "sleep {pid} survived its step"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}
