//! Reads, versions, timestamps, scans and counts.

use super::{fresh, Backend, T0};
use berth_core::{Batch, Scan, Store};
use serde_json::json;
use std::time::Duration;

pub(crate) async fn put(store: &Store, collection: &str, key: &str, value: serde_json::Value) {
    let mut b = Batch::new();
    b.put(collection, key, value);
    store.commit(b).await.expect("put");
}

fn keys(records: &[berth_core::Record]) -> Vec<String> {
    records.iter().map(|r| r.key.clone()).collect()
}

pub async fn round_trip_and_versions(backend: &dyn Backend) {
    let (_loc, store, _clock) = fresh(backend).await;
    let r = store.records();
    assert!(r.get("c", "k").await.unwrap().is_none());
    put(
        &store,
        "c",
        "k",
        json!({"a": 1, "nested": {"x": [1, "two", null]}}),
    )
    .await;
    let got = r.get("c", "k").await.unwrap().expect("record exists");
    assert_eq!(got.key, "k");
    assert_eq!(
        got.value,
        json!({"a": 1, "nested": {"x": [1, "two", null]}})
    );
    assert_eq!(got.version, 1);
    put(&store, "c", "k", json!("second")).await;
    put(&store, "c", "k", json!(3.5)).await;
    let got = r.get("c", "k").await.unwrap().unwrap();
    assert_eq!((got.version, got.value), (3, json!(3.5)));
    let mut b = Batch::new();
    b.delete("c", "k");
    let done = store.commit(b).await.unwrap();
    assert_eq!(done.versions, vec![None]);
    assert!(r.get("c", "k").await.unwrap().is_none());
    // Deleting what is not there is fine.
    let mut b = Batch::new();
    b.delete("c", "never");
    store.commit(b).await.unwrap();
}

pub async fn timestamps_follow_the_clock(backend: &dyn Backend) {
    let (_loc, store, clock) = fresh(backend).await;
    put(&store, "c", "k", json!(1)).await;
    let first = store.records().get("c", "k").await.unwrap().unwrap();
    assert_eq!(first.created_at, T0);
    assert_eq!(first.updated_at, T0);
    clock.advance(Duration::from_secs(90));
    let mut b = Batch::new();
    b.put("c", "k", json!(2));
    let done = store.commit(b).await.unwrap();
    assert_eq!(done.at, T0.plus(Duration::from_secs(90)));
    assert_eq!(done.versions, vec![Some(2)]);
    let second = store.records().get("c", "k").await.unwrap().unwrap();
    assert_eq!(second.created_at, T0, "created_at is kept across puts");
    assert_eq!(second.updated_at, T0.plus(Duration::from_secs(90)));
}

pub async fn get_many_aligns_and_skips_missing(backend: &dyn Backend) {
    let (_loc, store, _clock) = fresh(backend).await;
    put(&store, "c", "a", json!("A")).await;
    put(&store, "c", "c", json!("C")).await;
    put(&store, "other", "b", json!("not this one")).await;
    let ks: Vec<String> = ["c", "b", "a", "zz"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let got = store.records().get_many("c", &ks).await.unwrap();
    assert_eq!(got.len(), 4);
    assert_eq!(got[0].as_ref().map(|r| r.value.clone()), Some(json!("C")));
    assert!(got[1].is_none());
    assert_eq!(got[2].as_ref().map(|r| r.key.as_str()), Some("a"));
    assert!(got[3].is_none());
    assert!(store.records().get_many("c", &[]).await.unwrap().is_empty());
    let unknown = store.records().get_many("nothing-here", &ks).await.unwrap();
    assert!(unknown.iter().all(Option::is_none));
}

pub async fn scan_orders_by_key_bytes(backend: &dyn Backend) {
    let (_loc, store, _clock) = fresh(backend).await;
    // Byte order: "Z" < "a" < "ab" < "abc" < "b" < "é" (0xC3 0xA9) < "😀" (0xF0 …).
    let words = ["b", "é", "a", "abc", "😀", "ab", "Z", "a b", "a\u{1f}x"];
    let mut batch = Batch::new();
    for w in words {
        batch.put("c", w, json!(w));
    }
    store.commit(batch).await.unwrap();
    let mut expected: Vec<String> = words.iter().map(|s| s.to_string()).collect();
    expected.sort_by(|x, y| x.as_bytes().cmp(y.as_bytes()));
    let all = store.records().scan("c", &Scan::all()).await.unwrap();
    assert_eq!(keys(&all), expected);
    let rev = store
        .records()
        .scan("c", &Scan::all().reversed())
        .await
        .unwrap();
    expected.reverse();
    assert_eq!(keys(&rev), expected);
    assert!(all.iter().all(|r| r.value == json!(r.key)));
}

pub async fn scan_prefix_cursor_limit_reverse(backend: &dyn Backend) {
    let (_loc, store, _clock) = fresh(backend).await;
    let mut batch = Batch::new();
    for k in ["a", "ab", "abc", "abd", "ac", "b", "ab\u{7f}", "abé"] {
        batch.put("c", k, json!(k));
    }
    store.commit(batch).await.unwrap();
    let r = store.records();
    let k = |v: Vec<berth_core::Record>| keys(&v);
    // A key equal to the prefix is included; keys the prefix is a prefix of are included.
    assert_eq!(
        k(r.scan("c", &Scan::prefix("ab")).await.unwrap()),
        vec!["ab", "abc", "abd", "ab\u{7f}", "abé"]
    );
    assert_eq!(
        k(r.scan("c", &Scan::prefix("ab").reversed()).await.unwrap()),
        vec!["abé", "ab\u{7f}", "abd", "abc", "ab"]
    );
    assert_eq!(
        k(r.scan("c", &Scan::prefix("ab").after("abc").limit(2))
            .await
            .unwrap()),
        vec!["abd", "ab\u{7f}"]
    );
    assert_eq!(
        k(r.scan("c", &Scan::prefix("ab").after("abd").reversed())
            .await
            .unwrap()),
        vec!["abc", "ab"]
    );
    // A cursor outside the prefix range.
    assert_eq!(
        k(r.scan("c", &Scan::prefix("ab").after("a")).await.unwrap()).len(),
        5
    );
    assert!(r
        .scan("c", &Scan::prefix("ab").after("b"))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        k(r.scan("c", &Scan::prefix("ab").after("b").reversed())
            .await
            .unwrap())
        .len(),
        5
    );
    assert!(r
        .scan("c", &Scan::prefix("ab").after("a").reversed())
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        k(r.scan("c", &Scan::all().limit(3)).await.unwrap()),
        vec!["a", "ab", "abc"]
    );
    assert_eq!(
        k(r.scan("c", &Scan::all().reversed().limit(1)).await.unwrap()),
        vec!["b"]
    );
    assert!(r.scan("c", &Scan::all().limit(0)).await.unwrap().is_empty());
    assert!(r.scan("c", &Scan::prefix("zzz")).await.unwrap().is_empty());
    assert!(r.scan("missing", &Scan::all()).await.unwrap().is_empty());
}

pub async fn pagination_neither_repeats_nor_skips_under_inserts(backend: &dyn Backend) {
    let (_loc, store, _clock) = fresh(backend).await;
    // Existing keys are even numbers; a writer inserts odd ones while we page.
    let mut batch = Batch::new();
    for i in (0..400).step_by(2) {
        batch.put("c", &format!("k{i:04}"), json!(i));
    }
    store.commit(batch).await.unwrap();
    let writer = {
        let store = store.clone();
        tokio::spawn(async move {
            for i in (1..400).step_by(2) {
                let mut b = Batch::new();
                b.put("c", &format!("k{i:04}"), json!(i));
                store.commit(b).await.unwrap();
            }
        })
    };
    let mut seen: Vec<String> = Vec::new();
    let mut scan = Scan::all().limit(7);
    loop {
        let page = store.records().scan("c", &scan).await.unwrap();
        if page.is_empty() {
            break;
        }
        scan.start_after = page.last().map(|r| r.key.clone());
        seen.extend(page.into_iter().map(|r| r.key));
        tokio::task::yield_now().await;
    }
    writer.await.unwrap();
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted, seen, "pages came in order and never repeated a key");
    for i in (0..400).step_by(2) {
        assert!(
            seen.contains(&format!("k{i:04}")),
            "k{i:04} existed all along and was skipped"
        );
    }
}

pub async fn count_by_prefix(backend: &dyn Backend) {
    let (_loc, store, _clock) = fresh(backend).await;
    let mut batch = Batch::new();
    for k in ["x1", "x2", "x3", "y1", "x"] {
        batch.put("c", k, json!(null));
    }
    batch.put("d", "x9", json!(null));
    store.commit(batch).await.unwrap();
    assert_eq!(store.records().count("c", "").await.unwrap(), 5);
    assert_eq!(store.records().count("c", "x").await.unwrap(), 4);
    assert_eq!(store.records().count("c", "y").await.unwrap(), 1);
    assert_eq!(store.records().count("c", "z").await.unwrap(), 0);
    assert_eq!(store.records().count("none", "").await.unwrap(), 0);
}

pub async fn collections_are_independent(backend: &dyn Backend) {
    let (_loc, store, _clock) = fresh(backend).await;
    // Names that are prefixes of one another must not leak into each other.
    put(&store, "workers:p", "k", json!(1)).await;
    put(&store, "workers:p2", "k", json!(2)).await;
    put(&store, "workers", "p:k", json!(3)).await;
    let r = store.records();
    assert_eq!(
        r.get("workers:p", "k").await.unwrap().unwrap().value,
        json!(1)
    );
    assert_eq!(
        r.get("workers:p2", "k").await.unwrap().unwrap().value,
        json!(2)
    );
    assert_eq!(r.scan("workers:p", &Scan::all()).await.unwrap().len(), 1);
    assert_eq!(r.scan("workers", &Scan::all()).await.unwrap().len(), 1);
    assert_eq!(r.count("workers:p", "").await.unwrap(), 1);
}
