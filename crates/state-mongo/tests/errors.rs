//! Driver errors map to berth's kinds: duplicate keys in every form the driver reports them
//! are conflicts; an unreachable server is retryable.

mod common;

use berth_core::ErrorKind;
use berth_state_mongo::map_driver_error;
use common::TestDb;
use mongodb::bson::{doc, Document};
use mongodb::options::{ClientOptions, InsertOneModel};
use std::time::Duration;

#[tokio::test]
async fn duplicate_keys_are_conflicts_in_every_form() {
    let db = TestDb::new("errs");
    let d = db.driver().await;
    let coll = d.collection::<Document>("dups");
    coll.insert_one(doc! {"_id": 1}).await.unwrap();

    let single = coll.insert_one(doc! {"_id": 1}).await.unwrap_err();
    let many = coll
        .insert_many(vec![doc! {"_id": 2}, doc! {"_id": 1}])
        .await
        .unwrap_err();
    coll.create_index(
        mongodb::IndexModel::builder()
            .keys(doc! {"u": 1})
            .options(
                mongodb::options::IndexOptions::builder()
                    .unique(true)
                    .sparse(true)
                    .build(),
            )
            .build(),
    )
    .await
    .unwrap();
    coll.insert_one(doc! {"_id": 3, "u": 1}).await.unwrap();
    let upsert = coll
        .update_one(doc! {"_id": 4}, doc! {"$set": {"u": 1}})
        .upsert(true)
        .await
        .unwrap_err();
    let find_and_modify = coll
        .find_one_and_update(doc! {"_id": 5}, doc! {"$set": {"u": 1}})
        .upsert(true)
        .await
        .unwrap_err();
    let client = mongodb::Client::with_uri_str(common::uri()).await.unwrap();
    let bulk = client
        .bulk_write(vec![InsertOneModel::builder()
            .namespace(coll.namespace())
            .document(doc! {"_id": 1})
            .build()])
        .await
        .unwrap_err();
    for (form, e) in [
        ("insert_one", single),
        ("insert_many", many),
        ("upsert", upsert),
        ("findAndModify", find_and_modify),
        ("bulkWrite", bulk),
    ] {
        let mapped = map_driver_error("test", e);
        assert_eq!(mapped.kind(), ErrorKind::Conflict, "{form}: {mapped}");
    }
}

#[tokio::test]
async fn an_unreachable_server_is_retryable() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut options = ClientOptions::parse(format!("mongodb://127.0.0.1:{port}/"))
        .await
        .unwrap();
    options.server_selection_timeout = Some(Duration::from_millis(200));
    let client = mongodb::Client::with_options(options).unwrap();
    let e = client
        .database("x")
        .run_command(doc! {"ping": 1})
        .await
        .unwrap_err();
    let mapped = map_driver_error("ping", e);
    assert_eq!(mapped.kind(), ErrorKind::Backend);
    assert!(mapped.is_retryable(), "{mapped}");
    // And so is opening a store there.
    let config = berth_state_mongo::MongoConfig::new(format!("mongodb://127.0.0.1:{port}/"))
        .op_timeout(Duration::from_millis(200));
    let err = berth_state_mongo::open(config, berth_core::OpenOptions::default())
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err}");
}
