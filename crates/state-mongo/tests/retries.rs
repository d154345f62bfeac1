//! Transient transaction errors are retried; network errors surface as retryable. Uses a
//! SecantusDB of the test's own started with `--enable-test-commands` for `failCommand`.

mod common;

use berth_core::{Batch, OpenOptions, Precondition};
use berth_state_mongo::{LeaseClock, MongoConfig};
use mongodb::bson::{doc, Document};
use serde_json::json;
use std::time::Duration;

async fn fail_next(client: &mongodb::Client, times: i32, data: Document) {
    client
        .database("admin")
        .run_command(
            doc! {"configureFailPoint": "failCommand", "mode": {"times": times}, "data": data},
        )
        .await
        .expect("configureFailPoint");
}

#[tokio::test]
async fn transient_errors_are_retried_and_network_errors_are_retryable() {
    let server = common::Server::start(&["--enable-test-commands"]);
    let config = MongoConfig::new(server.uri.clone())
        .database("berth_retries")
        .auto_migrate(true)
        .lease_clock(LeaseClock::Server)
        .op_timeout(Duration::from_secs(20));
    let store = common::open_when_up(config, OpenOptions::default()).await;
    let client = mongodb::Client::with_uri_str(&server.uri).await.unwrap();

    // Twice a write conflict labelled transient: the batch's transaction runs again and commits.
    fail_next(
        &client,
        2,
        doc! {"failCommands": ["insert"], "errorCode": 112, "errorLabels": ["TransientTransactionError"]},
    )
    .await;
    let mut batch = Batch::new();
    batch.put("c", "a", json!(1)).when(Precondition::Absent);
    batch.put("c", "b", json!(2));
    assert_eq!(
        store.commit(batch).await.unwrap().versions,
        vec![Some(1), Some(1)]
    );
    assert_eq!(
        store
            .records()
            .get("c", "a")
            .await
            .unwrap()
            .unwrap()
            .version,
        1
    );

    // A dropped connection under a single op: a retryable error, and nothing half-done that a
    // retry would trip over.
    fail_next(
        &client,
        1,
        doc! {"failCommands": ["update"], "closeConnection": true},
    )
    .await;
    let put = |v| {
        let mut b = Batch::new();
        b.put("c", "a", json!(v)).when(Precondition::Version(1));
        b
    };
    let err = store.commit(put(10)).await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert_eq!(store.commit(put(10)).await.unwrap().versions, vec![Some(2)]);

    // A server error that is not transient is final.
    fail_next(
        &client,
        1,
        doc! {"failCommands": ["update"], "errorCode": 2, "errmsg": "bad value"},
    )
    .await;
    let mut b = Batch::new();
    b.put("c", "b", json!(3));
    let err = store.commit(b).await.unwrap_err();
    assert!(!err.is_retryable(), "{err}");
    assert_eq!(
        store.records().get("c", "b").await.unwrap().unwrap().value,
        json!(2)
    );
}
