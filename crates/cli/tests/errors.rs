//! A malformed plan, an unknown step kind and a changed plan on resume give clear errors and
//! change nothing.

mod common;

use common::{Env, GATED_PLAN};

#[test]
fn malformed_plan_is_refused_before_anything_is_written() {
    let env = Env::new();
    env.write(
        "bad.json",
        "{\"name\": \"x\", \"steps\": [\n  {\"kind\": \"run\", \"id\": \"a\",\n",
    );
    let done = env.run(&["run", "bad.json"]);
    assert_eq!(done.code, 5, "{}", done.stderr);
    assert!(
        done.stderr.contains("invalid plan bad.json"),
        "{}",
        done.stderr
    );
    assert!(
        done.stderr.contains("line 3"),
        "names the place: {}",
        done.stderr
    );
    assert!(done.stderr.contains("what to do:"), "{}", done.stderr);
    assert!(
        !env.path().join("berth.db").exists(),
        "no store was even created"
    );

    let missing = env.run(&["run", "nope.json"]);
    assert_eq!(missing.code, 4, "{}", missing.stderr);
    assert!(missing.stderr.contains("cannot read plan nope.json"));
}

#[test]
fn unknown_step_kind_is_refused_and_named() {
    let env = Env::new();
    env.write(
        "plan.json",
        r#"{"name": "x", "steps": [{"kind": "shell", "id": "a", "program": "true"}]}"#,
    );
    let done = env.run(&["--json", "run", "plan.json"]);
    assert_eq!(done.code, 5);
    let err: serde_json::Value = serde_json::from_str(done.stderr.trim()).unwrap();
    let msg = err["error"].as_str().unwrap();
    assert!(msg.contains("unknown variant `shell`"), "{msg}");
    assert!(
        msg.contains("`run`, `approval`, `parallel`, `map`"),
        "{msg}"
    );
    assert!(err["hint"].as_str().unwrap().contains("step kinds"));
    assert_eq!(err["exitCode"], 5);
    assert!(!env.path().join("berth.db").exists());
}

#[test]
fn changed_plan_refuses_to_resume_and_changes_nothing() {
    let env = Env::new();
    env.write("plan.json", GATED_PLAN);
    assert_eq!(env.run(&["run", "plan.json", "--run-id", "c1"]).code, 3);
    let before = (env.show("c1"), env.logs("c1"));

    env.write("plan.json", &GATED_PLAN.replace("echo beta", "echo gamma"));
    let resume = env.run(&["resume", "c1"]);
    assert_eq!(resume.code, 5, "{}{}", resume.stdout, resume.stderr);
    assert!(
        resume.stderr.contains("changed since run c1 started"),
        "{}",
        resume.stderr
    );
    assert!(resume.stderr.contains("sha256:"), "{}", resume.stderr);
    let approve = env.run(&["approve", "c1", "ship", "--as", "ann"]);
    assert_eq!(approve.code, 5, "{}", approve.stderr);
    env.write("other.json", &GATED_PLAN.replace("Ship it?", "Ship?"));
    assert_eq!(env.run(&["resume", "c1", "--plan", "other.json"]).code, 5);
    assert_eq!((env.show("c1"), env.logs("c1")), before, "nothing changed");

    // Same plan back (even reformatted): the run goes on.
    let same: serde_json::Value = serde_json::from_str(GATED_PLAN).unwrap();
    env.write("plan.json", &serde_json::to_string_pretty(&same).unwrap());
    let approve = env.run(&["approve", "c1", "ship", "--as", "ann"]);
    assert_eq!(approve.code, 0, "{}{}", approve.stdout, approve.stderr);
    assert_eq!(env.show("c1")["run"]["status"], "succeeded");
}

#[test]
fn unknown_runs_and_gates_say_what_to_do() {
    let env = Env::new();
    env.write("plan.json", GATED_PLAN);
    assert_eq!(env.run(&["run", "plan.json", "--run-id", "g1"]).code, 3);
    let gate = env.run(&["approve", "g1", "nope", "--as", "ann"]);
    assert_eq!(gate.code, 4);
    assert!(
        gate.stderr.contains("gates so far: ship"),
        "{}",
        gate.stderr
    );
    let run = env.run(&["show", "missing"]);
    assert_eq!(run.code, 4);
    assert!(run.stderr.contains("berth runs"), "{}", run.stderr);
    let exists = env.run(&["run", "plan.json", "--run-id", "g1"]);
    assert_eq!(exists.code, 5);
    assert!(exists.stderr.contains("already exists"));
    let help = env.run(&["--help"]);
    assert!(help.stdout.contains("Exit codes:") && help.stdout.contains("3  the run is paused"));
}
