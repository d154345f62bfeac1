//! Environment values a plan marks secret: the child gets them unchanged; the run's record,
//! logs, step errors, failure reason and the store's files never hold them; a resume gets a
//! secret literal only from the plan file.

use berth_core::packrun::{Decision, DecisionRequest, LogEntry, RunStatus};
use berth_core::OpenOptions;
use berth_packrun::{Finish, LoadedPlan, PackRunError};

mod common;

use common::{runner, store};

const LITERAL: &str = "hunter2-literal";
/// The literal as a shell word that does not contain it (`hunter2-""literal`), so the plan's
/// arguments can check what the child got without holding the secret themselves.
const LITERAL_WORD: &str = r#"hunter2-\"\"literal"#;

fn outputs(logs: &[LogEntry]) -> Vec<&str> {
    logs.iter()
        .filter(|e| e.event_type == "step.output")
        .map(|e| e.message.as_str())
        .collect()
}

/// Every file of the SQLite store (database, WAL, shared memory) as text.
fn store_files(dir: &std::path::Path) -> String {
    let mut all = String::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() && path.to_string_lossy().contains("berth.db") {
            all.push_str(&String::from_utf8_lossy(&std::fs::read(&path).unwrap()));
        }
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secret_values_reach_the_child_and_nothing_the_run_stores_holds_them() {
    // `fromEnv` reads berth's own environment: PATH is set wherever tests run.
    let path_value = std::env::var("PATH").unwrap();
    assert!(path_value.len() >= berth_packrun::mask::MIN_MASKED_LEN);
    let dir = tempfile::tempdir().unwrap();
    let store = berth_state_sqlite::open(dir.path().join("berth.db"), OpenOptions::default())
        .await
        .unwrap();
    let (runner, mut rx) = runner(&store, &dir);
    let plan = LoadedPlan::from_json(
        &format!(
            r#"{{"name": "secrets", "steps": [
            {{"kind": "run", "id": "use", "program": "/bin/sh", "args": ["-c",
              "echo token=$TOKEN; echo $TOKEN >&2; echo path=$FROM; [ \"$TOKEN\" = {LITERAL_WORD} ] && echo literal-ok; [ \"$FROM\" = \"$PATH\" ] && echo from-env-ok; echo plain=$PLAIN"],
              "env": {{"TOKEN": {{"value": "{LITERAL}", "secret": true}},
                       "FROM": {{"fromEnv": "PATH", "secret": true}},
                       "PLAIN": "visible-value"}}}}
        ]}}"#
        ),
        dir.path().to_owned(),
        "test",
    )
    .unwrap();
    let summary = runner.start(&plan, Some("r".into())).await.unwrap();
    assert_eq!(summary.finish, Finish::Succeeded);
    let logs = store.logs().read("r", None, 1000).await.unwrap();
    let out = outputs(&logs);
    for line in [
        "token=***",
        "***",
        "path=***",
        "literal-ok",
        "from-env-ok",
        "plain=visible-value",
    ] {
        assert!(out.contains(&line), "{line} not in {out:?}");
    }
    let mut observed = Vec::new();
    while let Ok(e) = rx.try_recv() {
        observed.push(e);
    }
    assert_eq!(observed.len(), logs.len());
    let run = store.runs().get("r").await.unwrap().unwrap();
    assert_eq!(run.plan["steps"][0]["env"]["FROM"]["fromEnv"], "PATH");
    assert_eq!(run.plan["steps"][0]["env"]["TOKEN"]["value"], "***");
    drop((runner, store));
    for (what, text) in [
        ("the run", serde_json::to_string(&run).unwrap()),
        ("the summary", format!("{summary:?}")),
        ("the logs", serde_json::to_string(&logs).unwrap()),
        (
            "the observed entries",
            serde_json::to_string(&observed).unwrap(),
        ),
        ("the store's files", store_files(dir.path())),
    ] {
        assert!(!text.contains(LITERAL), "the literal secret is in {what}");
        assert!(
            !text.contains(&path_value),
            "the fromEnv secret is in {what}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn step_errors_and_the_failure_reason_are_masked() {
    let dir = tempfile::tempdir().unwrap();
    // The spawn error names the working directory; make its name the secret.
    let name = dir.path().file_name().unwrap().to_str().unwrap().to_owned();
    assert!(name.len() >= berth_packrun::mask::MIN_MASKED_LEN);
    let store = store();
    let (runner, _rx) = runner(&store, &dir);
    let plan = LoadedPlan::from_json(
        &format!(
            r#"{{"name": "p", "steps": [{{"kind": "run", "id": "broken", "program": "/nonexistent/tool",
            "env": {{"K": {{"value": "{name}", "secret": true}}}}}}]}}"#
        ),
        dir.path().to_owned(),
        "test",
    )
    .unwrap();
    let summary = runner.start(&plan, Some("e".into())).await.unwrap();
    let Finish::Failed { reason } = &summary.finish else {
        panic!("{:?}", summary.finish)
    };
    assert!(reason.contains("could not start"), "{reason}");
    assert!(reason.contains("/***"), "{reason}");
    let last_error = summary.run.steps[0].last_error.clone().unwrap();
    assert!(last_error.contains("/***"), "{last_error}");
    let logs = store.logs().read("e", None, 1000).await.unwrap();
    let failed = logs.iter().find(|e| e.event_type == "step.failed").unwrap();
    assert!(failed.message.contains("/***"), "{}", failed.message);
    for text in [
        reason.clone(),
        last_error,
        serde_json::to_string(&logs).unwrap(),
    ] {
        assert!(!text.contains(&name), "{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resume_takes_a_secret_literal_from_the_plan_file_or_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let store = store();
    let (runner, _rx) = runner(&store, &dir);
    let file = dir.path().join("plan.json");
    std::fs::write(
        &file,
        format!(
            r#"{{"name": "gated", "steps": [
            {{"kind": "approval", "id": "gate"}},
            {{"kind": "run", "id": "use", "program": "/bin/sh",
              "args": ["-c", "[ \"$TOKEN\" = {LITERAL_WORD} ] && echo match"],
              "env": {{"TOKEN": {{"value": "{LITERAL}", "secret": true}}}}}}
        ]}}"#
        ),
    )
    .unwrap();
    let plan = LoadedPlan::from_file(&file).unwrap();
    let paused = runner.start(&plan, Some("g".into())).await.unwrap();
    assert!(matches!(paused.finish, Finish::Paused { .. }));
    runner
        .decide(
            "g",
            "gate",
            DecisionRequest {
                actor: "ann".into(),
                grants: vec![],
                decision: Decision::Approve,
                reason: None,
            },
        )
        .await
        .unwrap();

    // The file is gone and the stored plan has `***`: refused before anything is written.
    let stored_file = std::fs::read_to_string(&file).unwrap();
    std::fs::remove_file(&file).unwrap();
    let logged = store.logs().read("g", None, 1000).await.unwrap().len();
    let e = runner.resume("g", None).await.unwrap_err();
    let PackRunError::SecretNotStored { run_id, step, key } = &e else {
        panic!("{e:?}")
    };
    assert_eq!((&run_id[..], &step[..], &key[..]), ("g", "use", "TOKEN"));
    assert!(!e.to_string().contains(LITERAL));
    assert_eq!(
        store.logs().read("g", None, 1000).await.unwrap().len(),
        logged
    );
    assert_eq!(
        store.runs().get("g").await.unwrap().unwrap().status,
        RunStatus::Paused
    );

    // With the plan file back, the child gets the literal.
    std::fs::write(&file, stored_file).unwrap();
    let plan = LoadedPlan::from_file(&file).unwrap();
    let done = runner.resume("g", Some(&plan)).await.unwrap();
    assert_eq!(done.finish, Finish::Succeeded);
    let logs = store.logs().read("g", None, 1000).await.unwrap();
    assert_eq!(outputs(&logs), ["match"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unset_from_env_variable_is_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let store = store();
    let (runner, _rx) = runner(&store, &dir);
    let plan = LoadedPlan::from_json(
        r#"{"name": "p", "steps": [{"kind": "run", "id": "use", "program": "/bin/true",
            "env": {"TOKEN": {"fromEnv": "BERTH_TEST_SURELY_UNSET_VARIABLE", "secret": true}}}]}"#,
        dir.path().to_owned(),
        "test",
    )
    .unwrap();
    let e = runner.start(&plan, Some("m".into())).await.unwrap_err();
    let PackRunError::MissingVariable { step, source } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(step, "use");
    assert_eq!(source.key, "TOKEN");
    assert_eq!(source.variable, "BERTH_TEST_SURELY_UNSET_VARIABLE");
    assert!(store.runs().get("m").await.unwrap().is_none());
}
