//! After `up`, the server itself refuses documents that break the seed's field tables, and the
//! backend opens the database without auto-migration.

mod common;

use berth_core::OpenOptions;
use berth_state_mongo::MongoConfig;
use common::{uri, TestDb};
use mongodb::bson::{doc, DateTime, Document};

fn validation_code(e: &mongodb::error::Error) -> Option<i32> {
    use mongodb::error::{ErrorKind, WriteFailure};
    match e.kind.as_ref() {
        ErrorKind::Write(WriteFailure::WriteError(w)) => Some(w.code),
        ErrorKind::Command(c) => Some(c.code),
        _ => None,
    }
}

#[tokio::test]
async fn the_server_refuses_documents_that_break_a_validator() {
    let db = TestDb::new("valid");
    assert_eq!(db.run(&["up"]).code, 0);
    let d = db.driver().await;
    let logs = d.collection::<Document>("pack_run_logs");
    let now = DateTime::now();
    let good = doc! {"runId": "r1", "sequence": 1_i64, "timestamp": now, "level": "info",
    "eventType": "step.started", "message": "go", "metadata": {}};
    logs.insert_one(good).await.unwrap();

    let bad_level = doc! {"runId": "r1", "sequence": 2_i64, "timestamp": now, "level": "loud",
    "eventType": "x", "message": "m"};
    let err = logs.insert_one(bad_level).await.unwrap_err();
    assert_eq!(validation_code(&err), Some(121), "{err}");
    let missing_run = doc! {"sequence": 3_i64, "timestamp": now, "level": "info",
    "eventType": "x", "message": "m"};
    assert_eq!(
        validation_code(&logs.insert_one(missing_run).await.unwrap_err()),
        Some(121)
    );
    let string_date = doc! {"_id": "r2", "planHash": "h", "plan": {}, "failurePolicy": {},
    "requestedAt": "yesterday", "createdAt": now, "updatedAt": now, "steps": []};
    let err = d
        .collection::<Document>("pack_runs")
        .insert_one(string_date)
        .await
        .unwrap_err();
    assert_eq!(validation_code(&err), Some(121), "{err}");
    let dup = doc! {"runId": "r1", "sequence": 1_i64, "timestamp": now, "level": "info",
    "eventType": "step.started", "message": "again"};
    assert_eq!(
        validation_code(&logs.insert_one(dup).await.unwrap_err()),
        Some(11000)
    );

    // The backend opens the migrated database strictly (no auto-migration).
    let config = MongoConfig::new(uri()).database(db.name.clone());
    let store = berth_state_mongo::open(config, OpenOptions::default())
        .await
        .expect("berth opens a database migrated by berth-migrate");
    assert_eq!(store.backend(), "mongo");
}
