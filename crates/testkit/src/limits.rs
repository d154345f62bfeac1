//! Invalid input and size limits: typed errors, nothing written.

use super::{fresh, Backend};
use berth_core::limits::MAX_VALUE;
use berth_core::{Batch, ErrorKind, Scan};
use serde_json::{json, Value};

pub async fn invalid_names_and_keys_are_rejected(backend: &dyn Backend) {
    let (_loc, store, _clock) = fresh(backend).await;
    let long_name = "n".repeat(256);
    let long_key = "k".repeat(1025);
    let cases: Vec<(&str, &str)> = vec![
        ("", "k"),
        ("bad\0name", "k"),
        (long_name.as_str(), "k"),
        ("c", ""),
        ("c", "nul\0key"),
        ("c", long_key.as_str()),
    ];
    for (collection, key) in cases {
        let mut b = Batch::new();
        b.put("c", "good", json!(1));
        b.put(collection, key, json!(2));
        let err = store.commit(b).await.expect_err("invalid input must fail");
        assert_eq!(
            err.kind(),
            ErrorKind::InvalidInput,
            "{collection:?}/{key:?}: {err}"
        );
        if !collection.is_empty() && !collection.contains('\0') && collection.len() <= 255 {
            let got = store
                .records()
                .get_many(collection, &[key.to_owned()])
                .await;
            assert_eq!(got.unwrap_err().kind(), ErrorKind::InvalidInput);
        } else {
            assert_eq!(
                store
                    .records()
                    .scan(collection, &Scan::all())
                    .await
                    .unwrap_err()
                    .kind(),
                ErrorKind::InvalidInput
            );
            assert_eq!(
                store
                    .records()
                    .count(collection, "")
                    .await
                    .unwrap_err()
                    .kind(),
                ErrorKind::InvalidInput
            );
        }
    }
    assert!(
        store.records().get("c", "good").await.unwrap().is_none(),
        "nothing of a rejected batch is written"
    );
    // The limits themselves are allowed.
    let mut b = Batch::new();
    b.put(&"n".repeat(255), &"é".repeat(512), json!("edge"));
    store.commit(b).await.unwrap();
    assert!(store
        .records()
        .get(&"n".repeat(255), &"é".repeat(512))
        .await
        .unwrap()
        .is_some());
}

fn value_of_encoded_size(size: usize) -> Value {
    // A JSON string of n ASCII chars encodes to n + 2 bytes.
    Value::String("x".repeat(size - 2))
}

pub async fn oversized_value_rejected_and_nothing_written(backend: &dyn Backend) {
    let (_loc, store, _clock) = fresh(backend).await;
    let mut b = Batch::new();
    b.put("c", "small", json!(1));
    b.put("c", "big", value_of_encoded_size(MAX_VALUE + 1));
    let err = store.commit(b).await.expect_err("value over 16 MiB");
    assert_eq!(err.kind(), ErrorKind::TooLarge);
    assert!(store.records().get("c", "small").await.unwrap().is_none());
    assert!(store.records().get("c", "big").await.unwrap().is_none());
}

pub async fn largest_value_round_trips(backend: &dyn Backend) {
    let (_loc, store, _clock) = fresh(backend).await;
    let value = value_of_encoded_size(MAX_VALUE);
    let mut b = Batch::new();
    b.put("c", "big", value.clone());
    store
        .commit(b)
        .await
        .expect("a value of exactly 16 MiB is allowed");
    let got = store.records().get("c", "big").await.unwrap().unwrap();
    assert!(got.value == value, "the 16 MiB value came back changed");
}

/// `depth` arrays/objects around a string, built without recursion.
fn nested(depth: usize) -> Value {
    let mut v = json!("leaf");
    for i in 0..depth {
        v = if i % 2 == 0 {
            Value::Array(vec![v])
        } else {
            Value::Object(serde_json::Map::from_iter([("k".to_owned(), v)]))
        };
    }
    v
}

pub async fn deepest_value_round_trips(backend: &dyn Backend) {
    let (_loc, store, _clock) = fresh(backend).await;
    let value = nested(berth_core::limits::MAX_DEPTH);
    let mut b = Batch::new();
    b.put("c", "deep", value.clone());
    store
        .commit(b)
        .await
        .expect("a value at the depth limit is accepted");
    let got = store.records().get("c", "deep").await.unwrap().unwrap();
    assert_eq!(got.value, value, "and read back identical");
    let page = store.records().scan("c", &Scan::all()).await.unwrap();
    assert_eq!(page.len(), 1);
}

pub async fn too_deep_value_rejected_and_nothing_written(backend: &dyn Backend) {
    let (_loc, store, _clock) = fresh(backend).await;
    // One level over the limit, and far deeper than any recursive walk could survive.
    for depth in [berth_core::limits::MAX_DEPTH + 1, 500_000] {
        let mut b = Batch::new();
        b.put("c", "good", json!(1));
        b.put("c", "deep", nested(depth));
        let err = store.commit(b).await.expect_err("too deep must fail");
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{depth}: {err}");
        assert!(err.to_string().contains("nested"), "{err}");
    }
    assert_eq!(store.records().count("c", "").await.unwrap(), 0);
}
