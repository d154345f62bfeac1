//! One damaged run document on the SQLite file: `runs` and `export` carry on with every other
//! run, name the damaged one and exit 6.

mod common;

use common::{Env, GATED_PLAN};
use serde_json::Value;

/// Runs `one`, `two` and `three` (each paused at its gate), then `two`'s document truncated
/// on the file with raw SQL, as a torn write or a bad disk would leave it.
fn store_with_a_damaged_run() -> Env {
    let env = Env::new();
    env.write("plan.json", GATED_PLAN);
    for id in ["one", "two", "three"] {
        let done = env.run(&["run", "plan.json", "--run-id", id]);
        assert_eq!(done.code, 3, "{id}: {done:?}");
    }
    let conn = rusqlite::Connection::open(env.path().join("berth.db")).unwrap();
    let changed = conn
        .execute(
            "UPDATE pack_runs SET doc = '{\"id\": \"two\", \"sta' WHERE id = 'two'",
            [],
        )
        .unwrap();
    assert_eq!(changed, 1);
    env
}

fn ids(runs: &Value) -> Vec<&str> {
    runs.as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect()
}

#[test]
fn runs_lists_the_readable_runs_names_the_damaged_one_and_exits_6() {
    let env = store_with_a_damaged_run();

    let done = env.run(&["runs"]);
    assert_eq!(done.code, 6, "{done:?}");
    let listed: Vec<&str> = done
        .stdout
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert!(
        listed.contains(&"one") && listed.contains(&"three"),
        "{}",
        done.stdout
    );
    assert!(!listed.contains(&"two"), "{}", done.stdout);
    assert!(
        done.stderr.contains("1 run(s) could not be read"),
        "{}",
        done.stderr
    );
    assert!(done.stderr.contains("two ("), "{}", done.stderr);

    let done = env.run(&["--json", "runs"]);
    assert_eq!(done.code, 6, "{done:?}");
    let out = done.json();
    assert_eq!(ids(&out["runs"]), vec!["three", "one"]);
    assert_eq!(out["damaged"].as_array().unwrap().len(), 1, "{out}");
    assert_eq!(out["damaged"][0]["key"], "two");
    assert!(!out["damaged"][0]["reason"].as_str().unwrap().is_empty());
    let err: Value = serde_json::from_str(done.stderr.trim()).unwrap();
    assert_eq!(err["exitCode"], 6);
    assert!(err["error"].as_str().unwrap().contains("two"), "{err}");

    // The damaged run itself is a typed failure, not a crash or "not found".
    let done = env.run(&["show", "two"]);
    assert_eq!(done.code, 6, "{done:?}");
    assert!(done.stderr.contains("corrupt"), "{}", done.stderr);
}

#[test]
fn export_writes_every_readable_run_names_the_damaged_one_and_exits_6() {
    let env = store_with_a_damaged_run();

    let done = env.run(&["export", "--to", "exp"]);
    assert_eq!(done.code, 6, "{done:?}");
    assert!(done.stderr.contains("NOT in the export"), "{}", done.stderr);
    assert!(done.stderr.contains("two ("), "{}", done.stderr);

    let done = env.run(&["--json", "export", "--to", "exp2"]);
    assert_eq!(done.code, 6, "{done:?}");
    let out = done.json();
    assert_eq!(out["exported"]["runs"], 2, "{out}");
    assert_eq!(out["unreadable"][0]["runId"], "two", "{out}");

    // What was written is a whole export: it imports, with exactly the readable runs.
    let target = format!("sqlite:{}", env.path().join("copy.db").display());
    let done = env.run(&["--store", &target, "import", "--from", "exp"]);
    assert_eq!(done.code, 0, "{done:?}");
    let copied = env.json(&["--store", &target, "runs"]);
    assert_eq!(ids(&copied["runs"]), vec!["three", "one"]);
    assert_eq!(copied["damaged"], serde_json::json!([]));
}

#[test]
fn serve_lists_the_readable_runs_and_names_the_damaged_one_on_every_page_size() {
    let env = store_with_a_damaged_run();
    let viewer = env.token("vic", "viewer", &[]);
    let s = env.serve(&[]);

    let all = s.get("/api/v1/runs?limit=500", &viewer).json();
    assert_eq!(ids(&all["runs"]), vec!["three", "one"]);
    assert_eq!(all["damaged"][0]["key"], "two", "{all}");
    assert!(all["nextCursor"].is_null());

    for limit in 1..=3 {
        let (mut seen, mut damaged, mut cursor) = (Vec::new(), Vec::new(), None::<String>);
        for page in 0.. {
            assert!(page < 5, "limit {limit}: paging does not end");
            let path = match &cursor {
                Some(c) => format!("/api/v1/runs?limit={limit}&cursor={c}"),
                None => format!("/api/v1/runs?limit={limit}"),
            };
            let v = s.get(&path, &viewer).json();
            seen.extend(ids(&v["runs"]).into_iter().map(str::to_owned));
            for d in v["damaged"].as_array().unwrap() {
                damaged.push(d["key"].as_str().unwrap().to_owned());
            }
            match v["nextCursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
        }
        assert_eq!(seen, vec!["three", "one"], "limit {limit}");
        // A page cut short after a run may name the damaged one again on the next page.
        damaged.dedup();
        assert_eq!(damaged, vec!["two"], "limit {limit}");
    }
}
