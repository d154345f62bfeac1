//! Plan-marked secrets end to end: the real `berth` runs a plan whose step echoes a secret
//! literal and a `fromEnv` secret; the child gets both, and neither value appears in what
//! `berth` prints (human, `--json`, `BERTH_LOG=trace`), in `logs`, `show`, the store's files
//! or an export; and a resume (CLI or API) of a secret literal needs the plan file.

mod common;

use common::{Done, Env};
use std::path::Path;

const LITERAL: &str = "lit-s3cret-value";
const FROM_ENV: &str = "env-s3cret-value";

/// The plan: `use` echoes both secrets and says whether it got the expected values. Its
/// arguments spell the literal as `lit-s3cret-""value`, so they do not hold it.
const PLAN: &str = r#"{
  "name": "secrets",
  "steps": [
    {"kind": "run", "id": "use", "program": "/bin/sh",
     "args": ["-c", "echo token=$TOKEN; echo from=$FROM >&2; [ \"$TOKEN\" = lit-s3cret-\"\"value ] && echo literal-ok; [ \"$FROM\" = \"$BERTH_TEST_SECRET\" ] && echo from-env-ok"],
     "env": {"TOKEN": {"value": "lit-s3cret-value", "secret": true},
             "FROM": {"fromEnv": "BERTH_TEST_SECRET", "secret": true}}}
  ]
}"#;

fn env() -> Env {
    let mut env = Env::new();
    env.vars
        .push(("BERTH_TEST_SECRET".to_owned(), FROM_ENV.to_owned()));
    env
}

fn run(env: &Env, extra: &[(&str, &str)], args: &[&str]) -> Done {
    let out = env
        .cmd()
        .envs(extra.iter().copied())
        .args(args)
        .output()
        .unwrap();
    Done {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Every file under `dir` but the plan, as text, with its path.
fn files(dir: &Path, out: &mut Vec<(String, String)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files(&path, out);
        } else if path.file_name().is_some_and(|n| n != "plan.json") {
            let bytes = std::fs::read(&path).unwrap();
            out.push((
                path.display().to_string(),
                String::from_utf8_lossy(&bytes).into_owned(),
            ));
        }
    }
}

fn assert_hidden(what: &str, text: &str) {
    for secret in [LITERAL, FROM_ENV] {
        assert!(!text.contains(secret), "{secret} is in {what}:\n{text}");
    }
}

#[test]
fn secrets_reach_the_step_and_appear_nowhere_berth_prints_or_stores() {
    let env = env();
    env.write("plan.json", PLAN);
    let mut shown: Vec<(String, String)> = Vec::new();
    for (run_id, extra, json) in [
        ("human", &[][..], false),
        ("json", &[][..], true),
        ("traced", &[("BERTH_LOG", "trace")][..], false),
    ] {
        let mut args = Vec::new();
        if json {
            args.push("--json");
        }
        args.extend(["run", "plan.json", "--run-id", run_id]);
        let done = run(&env, extra, &args);
        assert_eq!(done.code, 0, "{run_id}: {}", done.stderr);
        shown.push((format!("run {run_id} stdout"), done.stdout));
        shown.push((format!("run {run_id} stderr"), done.stderr));
        let logs = env.logs(run_id);
        let lines: Vec<&str> = logs
            .iter()
            .filter(|e| e["eventType"] == "step.output")
            .filter_map(|e| e["message"].as_str())
            .collect();
        // The child got both values; what it echoed is masked.
        for line in ["token=***", "from=***", "literal-ok", "from-env-ok"] {
            assert!(lines.contains(&line), "{run_id}: {line} not in {lines:?}");
        }
        shown.push((
            format!("logs --json {run_id}"),
            serde_json::to_string(&logs).unwrap(),
        ));
        let human = env.run(&["logs", run_id]);
        assert_eq!(human.code, 0, "{}", human.stderr);
        assert!(human.stdout.contains("token=***"), "{}", human.stdout);
        shown.push((format!("logs {run_id}"), human.stdout));
        let show = env.show(run_id);
        let plan_env = &show["run"]["plan"]["steps"][0]["env"];
        assert_eq!(plan_env["TOKEN"]["value"], "***", "{show}");
        assert_eq!(plan_env["FROM"]["fromEnv"], "BERTH_TEST_SECRET", "{show}");
        shown.push((format!("show --json {run_id}"), show.to_string()));
        let show = env.run(&["show", run_id]);
        shown.push((format!("show {run_id}"), show.stdout + &show.stderr));
    }
    // Tracing was on (so its output was checked, not silenced).
    let traced = &shown
        .iter()
        .find(|(w, _)| w == "run traced stderr")
        .unwrap()
        .1;
    assert!(traced.contains("pack run created"), "{traced}");
    let exported = env.run(&["export", "--to", "exp"]);
    assert_eq!(exported.code, 0, "{}", exported.stderr);
    // Everything on disk: the SQLite database with its WAL, the export, the artifacts.
    let mut on_disk = Vec::new();
    files(env.path(), &mut on_disk);
    assert!(on_disk.iter().any(|(p, _)| p.ends_with("berth.db")));
    assert!(on_disk.iter().any(|(p, _)| p.contains("exp")));
    for (what, text) in shown.iter().chain(on_disk.iter()) {
        assert_hidden(what, text);
    }
}

/// PLAN behind an approval gate.
fn gated() -> String {
    PLAN.replace(
        r#""steps": ["#,
        r#""steps": [{"kind": "approval", "id": "gate"},"#,
    )
}

#[test]
fn resuming_a_secret_literal_needs_the_plan_file() {
    let env = env();
    env.write("plan.json", &gated());
    let paused = env.run(&["run", "plan.json", "--run-id", "g"]);
    assert_eq!(paused.code, 3, "{}", paused.stderr);
    // Deciding a gate needs no secret, even with the plan file gone.
    std::fs::rename(env.path().join("plan.json"), env.path().join("kept.json")).unwrap();
    let approved = env.run(&["approve", "g", "gate", "--as", "ann", "--no-resume"]);
    assert!(approved.stdout.contains("approved"), "{approved:?}");
    let refused = env.run(&["resume", "g"]);
    assert_ne!(refused.code, 0);
    assert!(
        refused.stderr.contains("never stored"),
        "{}",
        refused.stderr
    );
    assert!(refused.stderr.contains("--plan"), "{}", refused.stderr);
    assert_eq!(env.show("g")["run"]["status"], "paused");
    let done = env.run(&["resume", "g", "--plan", "kept.json"]);
    assert_eq!(done.code, 0, "{}", done.stderr);
    let logs = env.logs("g");
    assert!(
        logs.iter().any(|e| e["message"] == "literal-ok"),
        "{logs:?}"
    );
    assert_hidden("resume output", &(done.stdout + &done.stderr));
}

#[test]
fn the_api_refuses_a_resume_without_the_secret_literal_and_never_shows_it() {
    let env = env();
    env.write("plan.json", &gated());
    let paused = env.run(&["run", "plan.json", "--run-id", "g"]);
    assert_eq!(paused.code, 3, "{}", paused.stderr);
    std::fs::remove_file(env.path().join("plan.json")).unwrap();
    let viewer = env.token("vic", "viewer", &[]);
    let approver = env.token("ann", "approver", &[]);
    let server = env.serve(&[]);
    let r = server.post("/api/v1/runs/g/resume", &approver, "{}");
    assert_eq!(r.status, 409, "{}", r.text);
    assert_eq!(r.kind(), "secret_unavailable");
    assert!(r.text.contains("TOKEN"), "{}", r.text);
    let run = server.get("/api/v1/runs/g", &viewer);
    assert_eq!(run.status, 200, "{}", run.text);
    for text in [&r.text, &run.text] {
        assert_hidden("the API's answer", text);
    }
    assert_eq!(env.show("g")["run"]["status"], "paused");
}
