//! `berth demo` on a fresh directory completes and leaves a run with logs, an artifact and a
//! decided approval in the default store (`sqlite:./berth.db`).

mod common;

use common::Env;

#[test]
fn demo_completes_and_leaves_logs_an_artifact_and_a_decided_approval() {
    let env = Env::new();
    let mut cmd = env.cmd();
    // The default store and artifacts directory, relative to the working directory.
    cmd.env_remove("BERTH_STORE")
        .env_remove("BERTH_ARTIFACTS")
        .arg("demo");
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        env.path().join("berth.db").exists(),
        "the default store is ./berth.db"
    );
    for needle in [
        "test 3 passed",
        "waits for approval",
        "approves it as demo",
        "succeeded",
        "where to look next",
        "berth logs",
    ] {
        assert!(stdout.contains(needle), "missing {needle:?} in:\n{stdout}");
    }

    let store = format!("sqlite:{}", env.path().join("berth.db").display());
    let listed = env.json(&["--store", &store, "runs"]);
    assert_eq!(listed["damaged"], serde_json::json!([]));
    let runs = listed["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1);
    let id = runs[0]["id"].as_str().unwrap();
    assert_eq!(runs[0]["status"], "succeeded");

    let shown = env.json(&["--store", &store, "show", id]);
    for s in shown["run"]["steps"].as_array().unwrap() {
        assert_eq!(s["status"], "succeeded", "{s}");
    }
    let approval = &shown["approvals"][0];
    assert_eq!(approval["status"], "approved");
    assert_eq!(approval["decisions"][0]["actor"], "demo");

    let logs = env
        .run(&["--json", "--store", &store, "logs", id])
        .json_lines();
    assert!(
        logs.iter()
            .filter(|e| e["eventType"] == "step.output")
            .count()
            >= 10
    );
    assert!(
        logs.iter()
            .any(|e| e["level"] == "warn" && e["eventType"] == "step.output"),
        "stderr line logged as warn"
    );

    let arts = env.json(&["--store", &store, "artifacts", id]);
    let art = &arts[0];
    assert_eq!(art["status"], "copied");
    let stored = art["storedPath"].as_str().unwrap();
    assert!(stored.starts_with(env.path().join("berth-artifacts").to_str().unwrap()));
    assert!(std::fs::read_to_string(stored)
        .unwrap()
        .starts_with("berth demo report"));
}
