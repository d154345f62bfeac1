//! Whole-run operations: delete, copy, prune by policy, time-to-live, namespaces, reopen.

use super::{at, raw_count};
use crate::{fresh, Backend};
use berth_core::{DeterministicIds, ErrorKind, ListQuery, OpenOptions, PrunePolicy};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

const COLLECTIONS: [&str; 4] = [
    "checkpoint-heads",
    "checkpoint-history",
    "checkpoint-writes",
    "checkpoint-metadata",
];

async fn stored(store: &berth_core::Store, prefix: &str) -> u64 {
    let mut n = 0;
    for c in COLLECTIONS {
        n += raw_count(store, c, prefix).await;
    }
    n
}

async fn seed(cps: &berth_core::Checkpoints, ns: &str, run: &str, n: u64) {
    for i in 0..n {
        let id = format!("c-{i:02}");
        cps.put(&at(ns, run, &id, i).with_metadata("step", i))
            .await
            .unwrap();
        cps.put_writes(ns, run, &id, "t", &[("out".into(), json!(i))])
            .await
            .unwrap();
    }
}

pub async fn delete_run_removes_everything(backend: &dyn Backend) {
    let (_loc, store, _clock) = fresh(backend).await;
    let cps = store.checkpoints();
    seed(&cps, "p", "r", 5).await;
    seed(&cps, "p", "keep", 2).await;
    seed(&cps, "p2", "r", 2).await;
    assert!(stored(&store, "p\u{1f}r").await > 5);
    assert_eq!(cps.delete_run("p", "r").await.unwrap(), 5);
    assert_eq!(stored(&store, "p\u{1f}r\u{1f}").await, 0);
    assert_eq!(raw_count(&store, "checkpoint-heads", "p\u{1f}r").await, 0);
    assert!(cps.read("p", "r").await.unwrap().is_none());
    assert!(cps.get("p", "r", "c-01").await.unwrap().is_none());
    assert!(cps.history("p", "r").await.unwrap().is_empty());
    assert_eq!(cps.runs("p").await.unwrap(), vec!["keep".to_owned()]);
    assert_eq!(cps.history("p", "keep").await.unwrap().len(), 2);
    assert_eq!(cps.history("p2", "r").await.unwrap().len(), 2);
    assert_eq!(cps.delete_run("p", "r").await.unwrap(), 0, "idempotent");
    // A deleted run can start again.
    cps.put(&at("p", "r", "c-99", 99)).await.unwrap();
    assert_eq!(cps.history("p", "r").await.unwrap().len(), 1);
}

pub async fn copy_run_forks_atomically(backend: &dyn Backend) {
    let (_loc, store, _clock) = fresh(backend).await;
    let cps = store.checkpoints();
    seed(&cps, "p", "r", 3).await;
    cps.put(
        &at("p", "r", "c-03", 3)
            .with_parent("c-02")
            .with_metadata("source", "fork-me"),
    )
    .await
    .unwrap();
    assert_eq!(cps.copy_run("p", "r", "p", "fork").await.unwrap(), 4);
    assert_eq!(cps.copy_run("p", "r", "nested/p", "r").await.unwrap(), 4);
    for (ns, run) in [("p", "fork"), ("nested/p", "r")] {
        let history = cps.history(ns, run).await.unwrap();
        let ids: Vec<&str> = history.iter().map(|c| c.entry_id.as_str()).collect();
        assert_eq!(ids, vec!["c-03", "c-02", "c-01", "c-00"]);
        assert!(history
            .iter()
            .all(|c| c.run_id == run && c.pipeline_id == ns));
        let current = cps.read(ns, run).await.unwrap().unwrap();
        assert_eq!(current.parent_id.as_deref(), Some("c-02"));
        let found = cps
            .list(ns, run, &ListQuery::new().filter("source", "fork-me"))
            .await
            .unwrap();
        assert_eq!(found.len(), 1, "metadata index copied");
        let writes = cps.pending_writes(ns, run, "c-01").await.unwrap();
        assert_eq!(writes.len(), 1);
        assert_eq!(writes[0].value, json!(1));
    }
    // The fork is independent of its source.
    cps.put(&at("p", "fork", "c-04", 4)).await.unwrap();
    assert_eq!(cps.history("p", "r").await.unwrap().len(), 4);
    cps.delete_run("p", "r").await.unwrap();
    assert_eq!(cps.history("p", "fork").await.unwrap().len(), 5);

    let err = cps
        .copy_run("p", "fork", "nested/p", "r")
        .await
        .unwrap_err();
    assert_eq!(
        err.kind(),
        ErrorKind::Conflict,
        "the target has checkpoints"
    );
    assert_eq!(
        cps.history("nested/p", "r").await.unwrap().len(),
        4,
        "untouched"
    );
    let err = cps.copy_run("p", "r", "p", "x").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(cps.history("p", "x").await.unwrap().is_empty());
    let err = cps.copy_run("p", "fork", "p", "fork").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
}

pub async fn prune_policy_over_many_runs(backend: &dyn Backend) {
    let (_loc, store, clock) = fresh(backend).await;
    let cps = store.checkpoints();
    // paused_on = T0 + i ms, i = 0..n
    seed(&cps, "a", "r1", 5).await;
    seed(&cps, "a", "r2", 3).await;
    seed(&cps, "b", "r1", 4).await;
    let ids = |list: Vec<berth_core::Checkpoint>| -> Vec<String> {
        list.into_iter().map(|c| c.entry_id).collect()
    };

    assert_eq!(
        cps.prune(Some("a"), &PrunePolicy::keep_latest(2))
            .await
            .unwrap(),
        3 + 1
    );
    assert_eq!(
        ids(cps.history("a", "r1").await.unwrap()),
        vec!["c-04", "c-03"]
    );
    assert_eq!(
        ids(cps.history("a", "r2").await.unwrap()),
        vec!["c-02", "c-01"]
    );
    assert_eq!(
        cps.history("b", "r1").await.unwrap().len(),
        4,
        "other namespace untouched"
    );
    assert_eq!(
        raw_count(&store, "checkpoint-writes", "a\u{1f}r1\u{1f}").await,
        2,
        "writes of pruned checkpoints go with them"
    );
    assert_eq!(
        raw_count(&store, "checkpoint-metadata", "a\u{1f}r1\u{1f}").await,
        2,
        "index entries of pruned checkpoints go with them"
    );

    // Older than: b/r1 has entries at T0+0..3 ms; at T0+10 s nothing is older than 1 min.
    clock.advance(Duration::from_secs(10));
    let policy = PrunePolicy::keep_latest(1).older_than(Duration::from_secs(60));
    assert_eq!(cps.prune(None, &policy).await.unwrap(), 0);
    cps.put(&at("b", "r1", "c-10", 120_000)).await.unwrap();
    clock.advance(Duration::from_secs(100));
    // Now (T0+110 s): c-00..c-03 are older than a minute, c-10 (T0+120 s) is not.
    assert_eq!(cps.prune(None, &policy).await.unwrap(), 4 + 1 + 1);
    assert_eq!(ids(cps.history("b", "r1").await.unwrap()), vec!["c-10"]);
    assert_eq!(ids(cps.history("a", "r1").await.unwrap()), vec!["c-04"]);

    // The current checkpoint survives any policy.
    let all = PrunePolicy::keep_latest(0).older_than(Duration::ZERO);
    cps.prune(None, &all).await.unwrap();
    for (ns, run) in [("a", "r1"), ("a", "r2"), ("b", "r1")] {
        let current = cps.read(ns, run).await.unwrap().unwrap();
        assert_eq!(
            ids(cps.history(ns, run).await.unwrap()),
            vec![current.entry_id]
        );
    }
}

pub async fn ttl_expires_runs(backend: &dyn Backend) {
    let (_loc, store, clock) = fresh(backend).await;
    let cps = store.checkpoints();
    let short = cps.clone().with_ttl(Duration::from_secs(60));
    short.put(&at("p", "t", "c-1", 0)).await.unwrap();
    short
        .put_writes("p", "t", "c-1", "task", &[("x".into(), json!(1))])
        .await
        .unwrap();
    cps.put(&at("p", "forever", "c-1", 0)).await.unwrap();
    clock.advance(Duration::from_secs(45));
    short.put(&at("p", "t", "c-2", 1)).await.unwrap(); // refreshes the run's TTL
    clock.advance(Duration::from_secs(45));
    assert_eq!(cps.read("p", "t").await.unwrap().unwrap().entry_id, "c-2");
    assert_eq!(
        cps.sweep_expired().await.unwrap(),
        0,
        "refreshed, not expired"
    );
    clock.advance(Duration::from_secs(16));
    assert!(
        cps.read("p", "t").await.unwrap().is_none(),
        "expired reads as absent"
    );
    assert!(cps.get("p", "t", "c-1").await.unwrap().is_none());
    assert!(cps.history("p", "t").await.unwrap().is_empty());
    assert!(cps
        .pending_writes("p", "t", "c-1")
        .await
        .unwrap()
        .is_empty());
    assert_eq!(cps.runs("p").await.unwrap(), vec!["forever".to_owned()]);
    assert_eq!(
        cps.put_writes("p", "t", "c-2", "x", &[])
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
    assert!(
        stored(&store, "p\u{1f}t").await > 0,
        "still stored until swept"
    );
    assert_eq!(cps.sweep_expired().await.unwrap(), 1);
    assert_eq!(stored(&store, "p\u{1f}t").await, 0);
    assert_eq!(
        raw_count(&store, "checkpoint-expiry", "").await,
        0,
        "index emptied"
    );
    assert!(cps.read("p", "forever").await.unwrap().is_some());
    assert_eq!(cps.sweep_expired().await.unwrap(), 0);

    // The background sweeper does the same on its own.
    short.put(&at("p", "bg", "c-1", 0)).await.unwrap();
    clock.advance(Duration::from_secs(61));
    let sweeper = cps.spawn_sweeper(Duration::from_millis(10));
    let mut waited = 0;
    while stored(&store, "p\u{1f}bg").await > 0 {
        assert!(waited < 1_000, "the sweeper deleted the expired run");
        tokio::time::sleep(Duration::from_millis(10)).await;
        waited += 1;
    }
    sweeper.abort();
}

pub async fn namespaces_nested_and_long(backend: &dyn Backend) {
    let (_loc, store, _clock) = fresh(backend).await;
    let cps = store.checkpoints();
    let deep: String = (0..2_000).map(|i| format!("stage-{i}:task|")).collect();
    assert!(deep.len() > 20_000);
    let spaces = [
        "flow",
        "flow/child",
        "flow/child/grandchild",
        deep.as_str(),
        "flow ",
    ];
    for (i, ns) in spaces.iter().enumerate() {
        cps.put(&at(ns, "r", &format!("c-{i}"), i as u64))
            .await
            .unwrap();
    }
    for (i, ns) in spaces.iter().enumerate() {
        let current = cps.read(ns, "r").await.unwrap().unwrap();
        assert_eq!(
            current.entry_id,
            format!("c-{i}"),
            "namespace {i} is separate"
        );
        assert_eq!(current.pipeline_id, *ns);
        assert_eq!(cps.runs(ns).await.unwrap(), vec!["r".to_owned()]);
    }
    let mut listed = cps.namespaces().await.unwrap();
    listed.sort();
    let mut expected: Vec<String> = spaces.iter().map(|s| s.to_string()).collect();
    expected.sort();
    assert_eq!(listed, expected, "every namespace listed by its full name");
    assert_eq!(cps.delete_run(&deep, "r").await.unwrap(), 1);
    assert!(!cps.namespaces().await.unwrap().contains(&deep));
    for bad in ["", "a\u{1f}b", "a\u{1e}b", "a\0b"] {
        let err = cps.read(bad, "r").await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "namespace {bad:?}");
    }
    let too_long = "x".repeat(berth_core::MAX_NAMESPACE + 1);
    assert_eq!(
        cps.read(&too_long, "r").await.unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
}

pub async fn survive_reopen(backend: &dyn Backend) {
    let (location, store, clock) = fresh(backend).await;
    if !store.capabilities().persistent {
        return;
    }
    let cps = store.checkpoints();
    let deep = "outer/".repeat(100);
    seed(&cps, "p", "r", 3).await;
    cps.put(
        &at(&deep, "r", "c-1", 1)
            .with_metadata("source", "input")
            .with_parent("c-0"),
    )
    .await
    .unwrap();
    cps.clear("p", "r").await.unwrap();
    cps.clone()
        .with_ttl(Duration::from_secs(60))
        .put(&at("p", "ttl", "c-1", 1))
        .await
        .unwrap();
    drop(cps);
    drop(store);

    let options = OpenOptions::default()
        .with_clock(Arc::new(clock.clone()))
        .with_ids(Arc::new(DeterministicIds::new(43)));
    let store = location.open(options).await.expect("reopen");
    let cps = store.checkpoints();
    assert!(cps.read("p", "r").await.unwrap().is_none(), "still cleared");
    assert_eq!(cps.history("p", "r").await.unwrap().len(), 3);
    assert_eq!(cps.pending_writes("p", "r", "c-02").await.unwrap().len(), 1);
    let found = cps
        .list(&deep, "r", &ListQuery::new().filter("source", "input"))
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].parent_id.as_deref(), Some("c-0"));
    assert!(cps.namespaces().await.unwrap().contains(&deep));
    assert!(cps.read("p", "ttl").await.unwrap().is_some());
    clock.advance(Duration::from_secs(61));
    assert!(
        cps.read("p", "ttl").await.unwrap().is_none(),
        "the TTL survived too"
    );
    assert_eq!(cps.sweep_expired().await.unwrap(), 1);
}
