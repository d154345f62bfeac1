//! A recorded checksum that no longer matches the code, or a migration the code does not
//! know, is drift: `status`, `verify` and `up` report it and exit 3.

mod common;

use common::TestDb;
use mongodb::bson::{doc, Document};

#[tokio::test]
async fn a_changed_checksum_is_reported_as_drift() {
    let db = TestDb::new("drift");
    assert_eq!(db.run(&["up"]).code, 0);
    let migrations = db
        .driver()
        .await
        .collection::<Document>("_berth_migrations");
    migrations
        .update_one(
            doc! {"_id": "20251106-task-runner-baseline"},
            doc! {"$set": {"checksum": "fnv1a128:00000000000000000000000000000000"}},
        )
        .await
        .unwrap();

    let (code, status) = db.json(&["status"]);
    assert_eq!(code, 3, "{status}");
    assert_eq!(status["migrations"][0]["state"], "drift");
    assert!(
        status["drift"][0]
            .as_str()
            .unwrap()
            .contains("fnv1a128:0000"),
        "{status}"
    );
    let verify = db.run(&["verify"]);
    assert_eq!(verify.code, 3, "{verify:?}");
    assert!(verify.stdout.contains("drift"), "{verify:?}");
    let up = db.run(&["up"]);
    assert_eq!(up.code, 3, "{up:?}");
    assert!(up.stderr.contains("changed after it was applied"), "{up:?}");

    // A record without a checksum (an older writer) is adopted by `up`, not drift.
    migrations
        .update_one(
            doc! {"_id": "20251106-task-runner-baseline"},
            doc! {"$unset": {"checksum": ""}},
        )
        .await
        .unwrap();
    assert_eq!(db.run(&["up"]).code, 0);
    assert_eq!(db.run(&["status"]).code, 0);

    migrations
        .insert_one(doc! {"_id": "20990101-from-the-future", "checksum": "fnv1a128:1"})
        .await
        .unwrap();
    let status = db.run(&["status"]);
    assert_eq!(status.code, 3, "{status:?}");
    assert!(status.stdout.contains("newer version"), "{status:?}");
}
