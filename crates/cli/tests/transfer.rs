//! `export` then `import` into a new store reproduces runs, logs, artifacts and approvals
//! exactly, versions included; importing again changes nothing; a run the target refuses is
//! imported not at all and named.

mod common;

use common::{Env, GATED_PLAN};
use serde_json::Value;

fn snapshot(env: &Env, store: &str, ids: &[&str]) -> Vec<(Value, Vec<Value>, Value)> {
    ids.iter()
        .map(|id| {
            let mut show = env.json(&["--store", store, "show", id]);
            // The lease is live state, not data; the version is kept by import.
            show["lease"] = Value::Null;
            let logs = env
                .run(&["--json", "--store", store, "logs", id])
                .json_lines();
            let arts = env.json(&["--store", store, "artifacts", id]);
            (show, logs, arts)
        })
        .collect()
}

#[test]
fn export_then_import_reproduces_everything() {
    let env = Env::new();
    env.write("plan.json", GATED_PLAN);
    assert_eq!(
        env.run(&["run", "plan.json", "--run-id", "done", "--tenant", "acme"])
            .code,
        3
    );
    assert_eq!(env.run(&["approve", "done", "ship", "--as", "ann"]).code, 0);
    assert_eq!(
        env.run(&["run", "plan.json", "--run-id", "waiting"]).code,
        3
    );
    assert_eq!(
        env.run(&["run", "plan.json", "--run-id", "rejected"]).code,
        3
    );
    assert_eq!(
        env.run(&["reject", "rejected", "ship", "--as", "bo", "--reason", "no"])
            .code,
        1
    );
    let ids = ["done", "waiting", "rejected"];

    let exported = env.run(&["--json", "export", "--to", "exp"]);
    assert_eq!(exported.code, 0, "{}", exported.stderr);
    assert_eq!(exported.json()["exported"]["runs"], 3);
    assert_eq!(
        env.run(&["export", "--to", "exp"]).code,
        5,
        "an existing export is not overwritten"
    );

    let target = format!("sqlite:{}", env.path().join("copy.db").display());
    let imported = env.run(&["--json", "--store", &target, "import", "--from", "exp"]);
    assert_eq!(imported.code, 0, "{}", imported.stderr);
    assert_eq!(
        snapshot(&env, &env.store, &ids),
        snapshot(&env, &target, &ids)
    );
    let runs = |store: &str| env.json(&["--store", store, "runs", "--tenant", "acme"]);
    assert_eq!(
        runs(&env.store),
        runs(&target),
        "tenant index, times and versions carried over"
    );

    // Idempotent: again, nothing changes.
    assert_eq!(
        env.run(&["--store", &target, "import", "--from", "exp"])
            .code,
        0
    );
    assert_eq!(
        snapshot(&env, &env.store, &ids),
        snapshot(&env, &target, &ids)
    );

    // Exports carry records, not execution state: an imported paused run is refused
    // clearly, and the refusal records nothing.
    let approve = env.run(&[
        "--store", &target, "approve", "waiting", "ship", "--as", "cy",
    ]);
    assert_eq!(approve.code, 5, "{}", approve.stderr);
    assert!(approve.stderr.contains("imported"), "{}", approve.stderr);
    assert_eq!(
        snapshot(&env, &env.store, &ids),
        snapshot(&env, &target, &ids)
    );

    let bad = env.run(&["--store", &target, "import", "--from", "nowhere"]);
    assert_eq!(bad.code, 4, "{}", bad.stderr);
}

/// GATED_PLAN whose first step prints more lines than one log append takes.
const CHATTY_PLAN: &str = r#"{
  "name": "chatty",
  "steps": [
    {"kind": "run", "id": "a", "program": "/bin/sh", "args": ["-c", "seq 1 700"]},
    {"kind": "approval", "id": "gate", "gate": "ship", "message": "Ship it?"},
    {"kind": "run", "id": "b", "program": "/bin/sh", "args": ["-c", "echo beta > b.txt"],
     "outputs": [{"name": "b.txt", "path": "b.txt"}]}
  ]
}"#;

/// Everything `store` holds of run `id`: the run, its logs, artifacts and approvals.
fn held(store: &berth::Store, id: &str) -> berth::packrun::RunBundle {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        berth::packrun::RunBundle {
            run: store.runs().get(id).await.unwrap().unwrap_or_else(|| {
                berth::packrun::PackRun::new("(absent)", "", serde_json::json!(null))
            }),
            logs: store.logs().read(id, None, 10_000).await.unwrap(),
            artifacts: store.artifacts().list(id).await.unwrap(),
            approvals: store.approvals().list(id).await.unwrap(),
        }
    })
}

fn open(url: &str) -> berth::Store {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(berth::open(url)).unwrap()
}

#[test]
fn a_refused_run_is_imported_not_at_all_and_named() {
    let env = Env::new();
    env.write("plan.json", GATED_PLAN);
    env.write("chatty.json", CHATTY_PLAN);
    for (plan, id) in [("plan.json", "done"), ("chatty.json", "chatty")] {
        assert_eq!(env.run(&["run", plan, "--run-id", id]).code, 3);
        let approved = env.run(&["approve", id, "ship", "--as", "ann"]);
        assert_eq!(approved.code, 0, "{}", approved.stderr);
    }
    assert_eq!(
        env.run(&["run", "plan.json", "--run-id", "waiting"]).code,
        3
    );
    assert_eq!(env.run(&["export", "--to", "exp"]).code, 0);
    let source = open(&env.store);
    let chatty = held(&source, "chatty");
    assert!(chatty.logs.len() > 500, "{} lines", chatty.logs.len());
    assert!(!chatty.artifacts.is_empty() && !chatty.approvals.is_empty());
    assert!(chatty.run.version > 1 && held(&source, "done").run.version > 1);

    // The target holds a different line under the last sequence of `chatty`.
    let target = format!("sqlite:{}", env.path().join("copy.db").display());
    let store = open(&target);
    let mut clash = chatty.logs.last().unwrap().clone();
    clash.message = "written here first".into();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(store.logs().append(std::slice::from_ref(&clash)))
        .unwrap();
    let before = held(&store, "chatty");

    let imported = env.run(&["--store", &target, "import", "--from", "exp"]);
    assert_eq!(imported.code, 5, "{}", imported.stderr);
    assert!(
        imported
            .stderr
            .contains("1 run(s) were refused and NOT imported: chatty ("),
        "{}",
        imported.stderr
    );
    assert!(imported.stderr.contains("conflict"), "{}", imported.stderr);

    let after = held(&store, "chatty");
    assert_eq!(
        (
            after.logs.len(),
            after.artifacts.len(),
            after.approvals.len()
        ),
        (1, 0, 0),
        "nothing of the refused run was written"
    );
    assert_eq!(after, before);
    assert_eq!(after.run.id, "(absent)");
    assert_eq!(after.logs, vec![clash]);
    for id in ["done", "waiting"] {
        assert_eq!(
            held(&store, id),
            held(&source, id),
            "{id} imported whole, version kept"
        );
    }
}
