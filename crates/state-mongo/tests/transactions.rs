//! Servers without transactions: multi-op batches fail with a typed error saying a replica set
//! is required; single ops still work. Once simulated on the test server, once on a real
//! `--standalone` SecantusDB the test starts itself.

mod common;

use berth_core::{Batch, ErrorKind, OpenOptions, Precondition, Store};
use berth_state_mongo::{LeaseClock, MongoConfig, Transactions};
use common::TestDb;
use serde_json::json;
use std::time::Duration;

async fn assert_no_multi_op_batches(store: &Store) {
    assert!(!store.capabilities().atomic_batches);
    let mut b = Batch::new();
    b.put("c", "1", json!(1));
    b.put("c", "2", json!(2));
    let err = store
        .commit(b)
        .await
        .expect_err("two ops need a transaction");
    assert_eq!(err.kind(), ErrorKind::Unsupported);
    assert!(err.to_string().contains("replica set"), "{err}");
    assert!(store.records().get("c", "1").await.unwrap().is_none());

    let mut b = Batch::new();
    b.put("c", "1", json!(1)).when(Precondition::Fence {
        shard: "g:1".into(),
        token: 1,
    });
    assert_eq!(
        store.commit(b).await.unwrap_err().kind(),
        ErrorKind::Unsupported,
        "a fence needs a transaction too"
    );

    // Single ops work, preconditions included.
    let mut b = Batch::new();
    b.put("c", "1", json!(1)).when(Precondition::Absent);
    assert_eq!(store.commit(b).await.unwrap().versions, vec![Some(1)]);
    let mut b = Batch::new();
    b.put("c", "1", json!(2)).when(Precondition::Absent);
    assert_eq!(
        store.commit(b).await.unwrap_err().kind(),
        ErrorKind::Conflict
    );
    let mut b = Batch::new();
    b.put("c", "1", json!(3)).when(Precondition::Version(1));
    assert_eq!(store.commit(b).await.unwrap().versions, vec![Some(2)]);
    // A large (chunked) value is one op as well.
    let big = json!("y".repeat(6 * 1024 * 1024));
    let mut b = Batch::new();
    b.put("c", "big", big.clone());
    store.commit(b).await.unwrap();
    assert!(
        store
            .records()
            .get("c", "big")
            .await
            .unwrap()
            .unwrap()
            .value
            == big
    );
    // Leases and pack runs need no transaction.
    let held = store
        .leases()
        .acquire(
            "h:1",
            &["g:1".into(), "g:2".into()],
            Duration::from_secs(30),
        )
        .await
        .unwrap();
    assert_eq!(held.len(), 2);
    store
        .logs()
        .append(&[berth_core::packrun::LogEntry {
            run_id: "r".into(),
            sequence: 1,
            timestamp: berth_core::Timestamp::from_millis(1),
            level: berth_core::packrun::LogLevel::Info,
            event_type: "e".into(),
            message: "m".into(),
            step_id: None,
            metadata: Default::default(),
        }])
        .await
        .unwrap();

    // A run with its records needs a transaction, and nothing of it is written; the run
    // document alone is one write.
    let mut run = berth_core::packrun::PackRun::new("imported", "h", json!({}));
    run.version = 4;
    let mut bundle = berth_core::packrun::RunBundle::of_run(run.clone());
    bundle
        .approvals
        .push(berth_core::packrun::Approval::pending(
            "imported", "gate", 1,
        ));
    let err = store.runs().restore_bundle(&bundle).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
    assert!(err.to_string().contains("replica set"), "{err}");
    assert_eq!(store.runs().get("imported").await.unwrap(), None);
    assert!(store.approvals().list("imported").await.unwrap().is_empty());
    assert_eq!(store.runs().restore(run).await.unwrap().version, 4);
}

#[tokio::test]
async fn simulated_standalone_refuses_multi_op_batches() {
    let db = TestDb::new("txoff");
    let config = db
        .config(LeaseClock::Server)
        .transactions(Transactions::Never);
    let store = berth_state_mongo::open(config, OpenOptions::default())
        .await
        .unwrap();
    assert_no_multi_op_batches(&store).await;
}

#[tokio::test]
async fn real_standalone_server_refuses_multi_op_batches() {
    let server = common::Server::start(&["--standalone"]);
    let config = MongoConfig::new(server.uri.clone())
        .database("berth_standalone")
        .auto_migrate(true)
        .op_timeout(Duration::from_secs(2));
    let store = common::open_when_up(config, OpenOptions::default()).await;
    assert_no_multi_op_batches(&store).await;
}
