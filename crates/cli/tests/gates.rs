//! `run` → pause at the gate → `approve` → completes; `reject` → fails with the reason.

mod common;

use common::{step_status, Env, GATED_PLAN};

#[test]
fn run_pauses_at_the_gate_and_approve_completes_it() {
    let env = Env::new();
    env.write("plan.json", GATED_PLAN);
    let run = env.run(&["run", "plan.json", "--run-id", "r1"]);
    assert_eq!(
        run.code, 3,
        "paused is exit 3: {}{}",
        run.stdout, run.stderr
    );
    assert!(run.stdout.contains("alpha"), "live output: {}", run.stdout);
    assert!(
        run.stdout.contains("berth approve r1 ship --as"),
        "{}",
        run.stdout
    );

    let paused = env.show("r1");
    assert_eq!(paused["run"]["status"], "paused");
    assert_eq!(step_status(&paused, "a"), "succeeded");
    assert_eq!(step_status(&paused, "gate"), "waiting_approval");
    assert_eq!(step_status(&paused, "b"), "pending");
    assert_eq!(paused["approvals"][0]["status"], "pending");
    assert_eq!(paused["approvals"][0]["message"], "Ship it?");
    assert!(paused["lease"].is_null(), "a paused run holds no lease");

    let approve = env.run(&["approve", "r1", "ship", "--as", "ann"]);
    assert_eq!(approve.code, 0, "{}{}", approve.stdout, approve.stderr);
    assert!(approve.stdout.contains("beta"), "{}", approve.stdout);

    let done = env.show("r1");
    assert_eq!(done["run"]["status"], "succeeded");
    for step in ["a", "gate", "b"] {
        assert_eq!(step_status(&done, step), "succeeded", "{step}");
    }
    let approval = &done["approvals"][0];
    assert_eq!(approval["status"], "approved");
    assert_eq!(approval["decisions"][0]["actor"], "ann");
    assert_eq!(approval["decisions"][0]["decision"], "approve");

    // Output lines, levels and increasing sequences.
    let logs = env.logs("r1");
    let seqs: Vec<u64> = logs
        .iter()
        .map(|e| e["sequence"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>());
    let after = env
        .run(&["--json", "logs", "r1", "--after", "3"])
        .json_lines();
    assert_eq!(after.len(), logs.len() - 3);
    assert_eq!(after[0]["sequence"], 4);
    let line = |msg: &str| {
        logs.iter()
            .find(|e| e["eventType"] == "step.output" && e["message"] == msg)
            .cloned()
    };
    assert_eq!(line("alpha").unwrap()["level"], "info");
    assert_eq!(line("beware").unwrap()["level"], "warn");
    assert_eq!(line("beware").unwrap()["metadata"]["stream"], "stderr");
    assert_eq!(line("beta").unwrap()["stepId"], "b");

    // The declared output was copied; the missing one is recorded as skipped.
    let arts = env.json(&["artifacts", "r1"]);
    let arts = arts.as_array().unwrap();
    assert_eq!(arts.len(), 2);
    let copied = arts.iter().find(|a| a["name"] == "b.txt").unwrap();
    assert_eq!(copied["status"], "copied");
    let stored = copied["storedPath"].as_str().unwrap();
    assert_eq!(std::fs::read_to_string(stored).unwrap(), "beta\n");
    assert!(stored.starts_with(env.path().join("artifacts").join("r1").to_str().unwrap()));
    let missing = arts.iter().find(|a| a["name"] == "missing.txt").unwrap();
    assert_eq!(missing["status"], "skipped");

    // Deciding again is refused and says so.
    let again = env.run(&["approve", "r1", "ship", "--as", "bob"]);
    assert_eq!(again.code, 5, "{}", again.stderr);
}

#[test]
fn reject_fails_the_run_with_the_reason() {
    let env = Env::new();
    env.write("plan.json", GATED_PLAN);
    assert_eq!(env.run(&["run", "plan.json", "--run-id", "r2"]).code, 3);
    let reject = env.run(&[
        "reject",
        "r2",
        "ship",
        "--as",
        "carol",
        "--reason",
        "not on a friday",
    ]);
    assert_eq!(reject.code, 1, "{}{}", reject.stdout, reject.stderr);
    assert!(
        reject.stdout.contains("not on a friday"),
        "{}",
        reject.stdout
    );

    let shown = env.show("r2");
    assert_eq!(shown["run"]["status"], "failed");
    assert_eq!(step_status(&shown, "gate"), "failed");
    assert_eq!(step_status(&shown, "b"), "skipped");
    let gate = shown["run"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["stepId"] == "gate")
        .unwrap()
        .clone();
    assert!(gate["lastError"]
        .as_str()
        .unwrap()
        .contains("rejected by carol: not on a friday"));
    assert_eq!(shown["approvals"][0]["status"], "rejected");
    assert_eq!(
        shown["approvals"][0]["decisions"][0]["reason"],
        "not on a friday"
    );

    let logs = env.logs("r2");
    let failed = logs
        .iter()
        .find(|e| e["eventType"] == "run.failed")
        .unwrap();
    assert!(failed["message"]
        .as_str()
        .unwrap()
        .contains("not on a friday"));
    assert!(!logs.iter().any(|e| e["stepId"] == "b"), "b never ran");

    // The run has ended: resuming is refused with a pointer to what happened.
    let resume = env.run(&["resume", "r2"]);
    assert_eq!(resume.code, 5);
    assert!(
        resume.stderr.contains("already failed"),
        "{}",
        resume.stderr
    );
}
