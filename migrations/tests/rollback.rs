//! `down` keeps collections and data by default; `down --drop` removes them, only when
//! confirmed with the database name.

mod common;

use common::TestDb;
use mongodb::bson::{doc, DateTime, Document};

fn run_doc(id: &str) -> Document {
    let now = DateTime::now();
    doc! {
        "_id": id, "planHash": "sha256:1", "plan": {}, "failurePolicy": {},
        "requestedAt": now, "createdAt": now, "updatedAt": now, "steps": [],
    }
}

#[tokio::test]
async fn down_keeps_the_data_and_down_drop_removes_it() {
    let db = TestDb::new("down");
    assert_eq!(db.run(&["up"]).code, 0);
    let d = db.driver().await;
    d.collection::<Document>("pack_runs")
        .insert_one(run_doc("r1"))
        .await
        .unwrap();

    let down = db.run(&["down", "--to", "0"]);
    assert_eq!(down.code, 0, "{down:?}");
    assert!(down.stdout.contains("kept"), "{down:?}");
    assert!(db.records().await.is_empty());
    assert!(db.collections().await.contains(&"pack_runs".to_owned()));
    let kept = d
        .collection::<Document>("pack_runs")
        .count_documents(doc! {})
        .await
        .unwrap();
    assert_eq!(kept, 1, "the run is still there");
    assert_eq!(db.run(&["status"]).code, 5, "pending again");
    let again = db.run(&["down", "--to", "0"]);
    assert!(again.stdout.contains("nothing to roll back"), "{again:?}");

    // Applying again only records it: every object is there.
    let (code, up) = db.json(&["up"]);
    assert_eq!(code, 0);
    assert_eq!(up["commands"].as_array().unwrap().len(), 0, "{up}");
    assert_eq!(up["applied"][0], "20251106-task-runner-baseline");

    let unconfirmed = db.run(&["down", "--to", "0", "--drop"]);
    assert_eq!(unconfirmed.code, 2, "{unconfirmed:?}");
    assert!(unconfirmed
        .stderr
        .contains(&format!("--confirm {}", db.name)));
    let wrong = db.run(&["down", "--to", "0", "--drop", "--confirm", "another_db"]);
    assert_eq!(wrong.code, 2, "{wrong:?}");
    assert_eq!(db.records().await.len(), 1, "nothing happened");

    let (code, dry) = db.json(&[
        "down",
        "--to",
        "0",
        "--drop",
        "--confirm",
        &db.name,
        "--dry-run",
    ]);
    assert_eq!(code, 0);
    let planned = dry["commands"].as_array().unwrap();
    assert_eq!(
        planned
            .iter()
            .filter(|c| c["command"].get("drop").is_some())
            .count(),
        9,
        "{dry}"
    );
    assert!(db.collections().await.contains(&"pack_runs".to_owned()));

    let dropped = db.run(&["down", "--to", "0", "--drop", "--confirm", &db.name]);
    assert_eq!(dropped.code, 0, "{dropped:?}");
    let left = db.collections().await;
    assert!(
        left.iter().all(|c| c.starts_with("_berth_migrations")),
        "only the migration bookkeeping stays: {left:?}"
    );
    assert!(db.records().await.is_empty());
    assert_eq!(db.run(&["verify"]).code, 5);
    assert_eq!(db.run(&["up"]).code, 0);
    assert_eq!(db.run(&["verify"]).code, 0);
}

#[tokio::test]
async fn an_unknown_target_is_a_usage_error() {
    let db = TestDb::new("unknown");
    let down = db.run(&["down", "--to", "20990101-nope"]);
    assert_eq!(down.code, 2, "{down:?}");
    assert!(down.stderr.contains("unknown migration"), "{down:?}");
    let up = db.run(&["up", "--to", "nope"]);
    assert_eq!(up.code, 2, "{up:?}");
    let up = db.run(&["up", "--to", "20251106-task-runner-baseline"]);
    assert_eq!(up.code, 0, "{up:?}");
}
