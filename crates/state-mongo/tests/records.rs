//! Record storage specifics: byte order of non-ASCII keys as MongoDB compares them, and chunked
//! large values that leave no chunks behind.

mod common;

use berth_core::{limits::MAX_VALUE, Batch, OpenOptions, Precondition, Scan};
use berth_state_mongo::LeaseClock;
use common::TestDb;
use mongodb::bson::{doc, Document};
use serde_json::{json, Value};

#[tokio::test]
async fn non_ascii_keys_scan_in_utf8_byte_order() {
    let db = TestDb::new("utf8");
    let store = db
        .open(LeaseClock::Injected, OpenOptions::default())
        .await
        .unwrap();
    // Code points on both sides of every UTF-8 length boundary, and U+FFFD against a supplementary
    // char (UTF-16 order would put the surrogate pair of 😀 first).
    let keys = [
        "z",
        "\u{7f}",
        "\u{80}",
        "\u{7ff}",
        "\u{800}",
        "\u{ffff}",
        "\u{fffd}",
        "\u{10000}",
        "😀",
        "\u{10ffff}",
        "é",
        "e\u{301}",
        "ab\u{fffd}",
        "ab\u{10000}",
        "abz",
    ];
    let mut batch = Batch::new();
    for k in keys {
        batch.put("u", k, json!(k));
    }
    store.commit(batch).await.unwrap();
    let mut expected: Vec<&str> = keys.to_vec();
    expected.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    let got: Vec<String> = store
        .records()
        .scan("u", &Scan::all())
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.key)
        .collect();
    assert_eq!(got, expected);
    let rev: Vec<String> = store
        .records()
        .scan("u", &Scan::all().reversed())
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.key)
        .collect();
    let mut reversed = expected.clone();
    reversed.reverse();
    assert_eq!(rev, reversed);
    // Prefix bounds and cursors stay right past multi-byte chars.
    let ab: Vec<String> = store
        .records()
        .scan("u", &Scan::prefix("ab"))
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.key)
        .collect();
    assert_eq!(ab, vec!["abz", "ab\u{fffd}", "ab\u{10000}"]);
    let after: Vec<String> = store
        .records()
        .scan("u", &Scan::prefix("ab").after("ab\u{fffd}"))
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.key)
        .collect();
    assert_eq!(after, vec!["ab\u{10000}"]);
    assert_eq!(store.records().count("u", "\u{10ffff}").await.unwrap(), 1);
    assert_eq!(store.records().count("u", "\u{ff}").await.unwrap(), 0);
}

async fn chunk_count(db: &TestDb) -> u64 {
    db.driver()
        .await
        .collection::<Document>("berth_record_chunks")
        .count_documents(doc! {})
        .await
        .unwrap()
}

#[tokio::test]
async fn large_values_are_chunked_and_replaced_chunks_removed() {
    let db = TestDb::new("chunks");
    let store = db
        .open(LeaseClock::Injected, OpenOptions::default())
        .await
        .unwrap();
    let big = Value::String("b".repeat(MAX_VALUE - 2));
    let mut batch = Batch::new();
    batch
        .put("c", "big", big.clone())
        .when(Precondition::Absent);
    batch.put("c", "small", json!(1));
    assert_eq!(
        store.commit(batch).await.unwrap().versions,
        vec![Some(1), Some(1)]
    );
    assert_eq!(chunk_count(&db).await, 4, "16 MiB of JSON in 4 MiB chunks");
    let raw = db
        .driver()
        .await
        .collection::<Document>("berth_records")
        .find_one(doc! {"k": "big"})
        .await
        .unwrap()
        .unwrap();
    assert!(raw.get("v").is_none() && raw.get_object_id("g").is_ok());

    // Replacing a large value with another removes the first one's chunks.
    let other = Value::String("o".repeat(9 * 1024 * 1024));
    let mut batch = Batch::new();
    batch
        .put("c", "big", other.clone())
        .when(Precondition::Version(1));
    store.commit(batch).await.unwrap();
    assert_eq!(chunk_count(&db).await, 3);
    let got = store
        .records()
        .get_many("c", &["small".into(), "big".into()])
        .await
        .unwrap();
    assert!(got[1].as_ref().unwrap().value == other);
    assert_eq!(got[1].as_ref().unwrap().version, 2);
    let scanned = store.records().scan("c", &Scan::all()).await.unwrap();
    assert!(scanned[0].value == other && scanned[1].value == json!(1));

    // A failed batch leaves no chunks; a small value or a delete removes them.
    let mut batch = Batch::new();
    batch.put("c", "big2", big.clone());
    batch
        .put("c", "small", json!(2))
        .when(Precondition::Version(7));
    assert!(store.commit(batch).await.is_err());
    assert_eq!(chunk_count(&db).await, 3);
    let mut batch = Batch::new();
    batch.put("c", "big", json!("tiny"));
    store.commit(batch).await.unwrap();
    assert_eq!(chunk_count(&db).await, 0);
    let mut batch = Batch::new();
    batch.put("c", "big", other);
    store.commit(batch).await.unwrap();
    let mut batch = Batch::new();
    batch.delete("c", "big");
    store.commit(batch).await.unwrap();
    assert_eq!(chunk_count(&db).await, 0);
    assert!(store.records().get("c", "big").await.unwrap().is_none());
}
