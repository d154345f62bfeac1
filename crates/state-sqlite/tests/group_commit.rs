//! Group commit: concurrent batches share transactions, and a failing batch fails alone.

use berth_core::{Batch, ErrorKind, OpenOptions, Precondition, Scan};
use serde_json::json;
use std::time::Duration;

const TASKS: usize = 32;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_batches_commit_in_few_transactions_and_fail_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("group.db");
    let (store, stats) = berth_state_sqlite::open_with_stats(&path, OpenOptions::default())
        .await
        .unwrap();
    let mut seed = Batch::new();
    for i in (0..TASKS).filter(|i| i % 4 == 0) {
        seed.put("taken", &format!("k{i}"), json!("original"));
    }
    store.commit(seed).await.unwrap();

    // Another connection holds the write lock, so the writer waits in BEGIN IMMEDIATE
    // while all 32 batches queue up behind it.
    let blocker = rusqlite::Connection::open(&path).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    let transactions_before = stats.transactions_committed();
    let submitted_before = stats.jobs_submitted();

    let mut tasks = Vec::new();
    for i in 0..TASKS {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut b = Batch::new();
            if i % 4 == 0 {
                // Fails: the key exists.
                b.put("taken", &format!("k{i}"), json!(i))
                    .when(Precondition::Absent);
            } else {
                b.put("free", &format!("k{i:02}"), json!(i))
                    .when(Precondition::Absent);
            }
            (i, store.commit(b).await)
        }));
    }
    tokio::time::timeout(Duration::from_secs(10), async {
        while stats.jobs_submitted() < submitted_before + TASKS as u64 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("every batch reaches the writer's queue");
    blocker.execute_batch("ROLLBACK").unwrap();

    let mut successes = 0;
    for task in tasks {
        let (i, result) = task.await.unwrap();
        if i % 4 == 0 {
            let err = result.expect_err("a failing precondition");
            assert_eq!((err.kind(), err.op_index()), (ErrorKind::Conflict, Some(0)));
        } else {
            assert_eq!(result.unwrap().versions, vec![Some(1)]);
            successes += 1;
        }
    }
    let transactions = stats.transactions_committed() - transactions_before;
    assert!(
        (1..=2).contains(&transactions),
        "{TASKS} batches took {transactions} transactions"
    );

    let free = store.records().scan("free", &Scan::all()).await.unwrap();
    assert_eq!(free.len(), successes);
    for r in &free {
        let i: usize = r.key[1..].parse().unwrap();
        assert_eq!((r.value.clone(), r.version), (json!(i), 1));
    }
    for r in store.records().scan("taken", &Scan::all()).await.unwrap() {
        assert_eq!(
            (r.value, r.version),
            (json!("original"), 1),
            "{} changed",
            r.key
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_batch_inside_a_group_leaves_no_partial_write() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("group.db");
    let (store, stats) = berth_state_sqlite::open_with_stats(&path, OpenOptions::default())
        .await
        .unwrap();
    let blocker = rusqlite::Connection::open(&path).unwrap();
    blocker.execute_batch("BEGIN IMMEDIATE").unwrap();
    // A first batch makes the writer start a group and wait for the lock; the three
    // batches below then queue up together and form the next group.
    let groups_before = stats.groups_started();
    let mut first = Batch::new();
    first.put("c", "first", json!(0));
    let s0 = store.clone();
    let first = tokio::spawn(async move { s0.commit(first).await });
    tokio::time::timeout(Duration::from_secs(10), async {
        while stats.groups_started() == groups_before {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the writer takes the first batch");
    let submitted_before = stats.jobs_submitted();
    let transactions_before = stats.transactions_committed();

    // Two ops succeed before the third fails: all three must vanish, the neighbours stay.
    let mut bad = Batch::new();
    bad.put("c", "bad-1", json!(1));
    bad.put("c", "bad-2", json!(2));
    bad.put("c", "missing", json!(3)).when(Precondition::Exists);
    let mut good_a = Batch::new();
    good_a.put("c", "good-a", json!("a"));
    let mut good_b = Batch::new();
    good_b.put("c", "good-b", json!("b"));
    let (s1, s2, s3) = (store.clone(), store.clone(), store.clone());
    let a = tokio::spawn(async move { s1.commit(good_a).await });
    let b = tokio::spawn(async move { s2.commit(bad).await });
    let c = tokio::spawn(async move { s3.commit(good_b).await });
    tokio::time::timeout(Duration::from_secs(10), async {
        while stats.jobs_submitted() < submitted_before + 3 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("all three batches queue up");
    blocker.execute_batch("ROLLBACK").unwrap();

    assert!(first.await.unwrap().is_ok());
    assert!(a.await.unwrap().is_ok());
    let err = b.await.unwrap().unwrap_err();
    assert_eq!((err.kind(), err.op_index()), (ErrorKind::Conflict, Some(2)));
    assert!(c.await.unwrap().is_ok());
    let keys: Vec<String> = store
        .records()
        .scan("c", &Scan::all())
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.key)
        .collect();
    assert_eq!(keys, vec!["first", "good-a", "good-b"]);
    assert_eq!(stats.transactions_committed() - transactions_before, 2);
}
