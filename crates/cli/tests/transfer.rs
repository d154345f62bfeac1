//! `export` then `import` into a new store reproduces runs, logs, artifacts and approvals
//! exactly; importing again changes nothing.

mod common;

use common::{Env, GATED_PLAN};
use serde_json::Value;

fn snapshot(env: &Env, store: &str, ids: &[&str]) -> Vec<(Value, Vec<Value>, Value)> {
    ids.iter()
        .map(|id| {
            let mut show = env.json(&["--store", store, "show", id]);
            // The store's compare-and-set counter is not data; the lease is live state.
            show["run"]["version"] = Value::Null;
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
    let runs = |store: &str| {
        let mut v = env.json(&["--store", store, "runs", "--tenant", "acme"]);
        v["runs"][0]["version"] = Value::Null;
        v
    };
    assert_eq!(
        runs(&env.store),
        runs(&target),
        "tenant index and times carried over"
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
