//! Get by id, caller-chosen ids, parents, metadata filters and `before` paging.

use super::at;
use crate::{fresh, Backend};
use berth_core::{Batch, ErrorKind, ListQuery};
use serde_json::json;

fn ids(list: &[berth_core::Checkpoint]) -> Vec<&str> {
    list.iter().map(|c| c.entry_id.as_str()).collect()
}

pub async fn get_by_id_and_caller_ids(backend: &dyn Backend) {
    let (_loc, store, _clock) = fresh(backend).await;
    let cps = store.checkpoints();
    let first = cps.put(&at("p", "r", "c-01", 1)).await.unwrap();
    assert_eq!(first, "c-01", "the caller's id is kept");
    let second = cps
        .put(&at("p", "r", "c-02", 2).with_parent("c-01"))
        .await
        .unwrap();
    let got = cps.get("p", "r", "c-01").await.unwrap().unwrap();
    assert_eq!(
        (got.entry_id.as_str(), got.data.clone()),
        ("c-01", json!({"id": "c-01"}))
    );
    assert_eq!(got.parent_id, None);
    let got = cps.get("p", "r", &second).await.unwrap().unwrap();
    assert_eq!(got.parent_id.as_deref(), Some("c-01"));
    assert!(cps.get("p", "r", "c-99").await.unwrap().is_none());
    assert!(cps.get("p", "other", "c-01").await.unwrap().is_none());

    // Writing an id again replaces that entry: no second entry, the new content wins.
    cps.put(&at("p", "r", "c-01", 1).with_data(json!({"again": true})))
        .await
        .unwrap();
    let history = cps.history("p", "r").await.unwrap();
    assert_eq!(ids(&history), vec!["c-02", "c-01"]);
    assert_eq!(history[1].data, json!({"again": true}));
    assert_eq!(cps.read("p", "r").await.unwrap().unwrap().entry_id, "c-02");

    // An empty id gets a generated one, which sorts after the earlier generated ones.
    let g1 = cps.put(&at("p", "g", "", 1)).await.unwrap();
    let g2 = cps.put(&at("p", "g", "", 2)).await.unwrap();
    assert!(!g1.is_empty() && g1 < g2);
    assert_eq!(cps.read("p", "g").await.unwrap().unwrap().entry_id, g2);

    for bad in ["", "a\u{1f}b", &"x".repeat(201)] {
        let mut batch = Batch::new();
        let cp = at("p", "r", "ok", 1).with_parent(bad);
        let err = cps.write(&mut batch, &cp).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "parent {bad:?}");
        assert!(batch.is_empty(), "nothing staged for an invalid checkpoint");
    }
    let mut batch = Batch::new();
    let err = cps
        .write(&mut batch, &at("p", "r", "a\u{1f}b", 1))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(batch.is_empty());
    assert_eq!(
        cps.get("p", "r", "a\u{1f}b").await.unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
}

pub async fn metadata_filter_and_before_paging(backend: &dyn Backend) {
    let (_loc, store, _clock) = fresh(backend).await;
    let cps = store.checkpoints();
    for i in 0..12u64 {
        let source = if i % 3 == 0 { "input" } else { "loop" };
        let cp = at("p", "r", &format!("c-{i:02}"), i)
            .with_metadata("source", source)
            .with_metadata("step", i)
            .with_metadata("writes", json!({"node": i % 2}));
        cps.put(&cp).await.unwrap();
    }
    // Another run with the same metadata must not leak into this one's results.
    cps.put(&at("p", "other", "c-50", 50).with_metadata("source", "input"))
        .await
        .unwrap();

    let all = cps.list("p", "r", &ListQuery::new()).await.unwrap();
    assert_eq!(all.len(), 12);
    assert_eq!(all[0].entry_id, "c-11", "newest first");
    assert_eq!(all[0].metadata.get("step"), Some(&json!(11)));

    let page = cps
        .list("p", "r", &ListQuery::new().before("c-05").limit(3))
        .await
        .unwrap();
    assert_eq!(ids(&page), vec!["c-04", "c-03", "c-02"]);
    let rest = cps
        .list("p", "r", &ListQuery::new().before("c-02"))
        .await
        .unwrap();
    assert_eq!(ids(&rest), vec!["c-01", "c-00"]);

    let inputs = cps
        .list("p", "r", &ListQuery::new().filter("source", "input"))
        .await
        .unwrap();
    assert_eq!(ids(&inputs), vec!["c-09", "c-06", "c-03", "c-00"]);
    let paged = cps
        .list(
            "p",
            "r",
            &ListQuery::new()
                .filter("source", "input")
                .before("c-09")
                .limit(2),
        )
        .await
        .unwrap();
    assert_eq!(ids(&paged), vec!["c-06", "c-03"]);
    let both = cps
        .list(
            "p",
            "r",
            &ListQuery::new()
                .filter("source", "loop")
                .filter("writes", json!({"node": 1})),
        )
        .await
        .unwrap();
    assert_eq!(ids(&both), vec!["c-11", "c-07", "c-05", "c-01"]);
    let typed = cps
        .list("p", "r", &ListQuery::new().filter("step", "4"))
        .await
        .unwrap();
    assert!(typed.is_empty(), "the string \"4\" is not the number 4");
    let step = cps
        .list("p", "r", &ListQuery::new().filter("step", 4))
        .await
        .unwrap();
    assert_eq!(ids(&step), vec!["c-04"]);

    // Rewriting an entry with other metadata: the old value no longer matches it.
    cps.put(&at("p", "r", "c-09", 9).with_metadata("source", "update"))
        .await
        .unwrap();
    let inputs = cps
        .list("p", "r", &ListQuery::new().filter("source", "input"))
        .await
        .unwrap();
    assert_eq!(ids(&inputs), vec!["c-06", "c-03", "c-00"]);
    let updates = cps
        .list("p", "r", &ListQuery::new().filter("source", "update"))
        .await
        .unwrap();
    assert_eq!(ids(&updates), vec!["c-09"]);
    let none = cps
        .list(
            "p",
            "r",
            &ListQuery::new().filter("source", "input").limit(0),
        )
        .await
        .unwrap();
    assert!(none.is_empty());
}
