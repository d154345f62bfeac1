//! One source of truth: the current checkpoint is the newest history entry whatever the order
//! commits arrive in, and under concurrent writers, pruners and whole-run operations.

use super::at;
use crate::{fresh, Backend};
use berth_core::{Error, PrunePolicy, Scan, Store};

/// The run's current checkpoint is its newest history entry.
async fn assert_one_truth(store: &Store, ns: &str, run: &str) -> usize {
    let cps = store.checkpoints();
    let history = cps.history(ns, run).await.unwrap();
    let current = cps.read(ns, run).await.unwrap();
    assert_eq!(
        current.as_ref().map(|c| &c.entry_id),
        history.first().map(|c| &c.entry_id),
        "{ns}/{run}: current is the newest history entry"
    );
    assert!(
        history.windows(2).all(|w| w[0].entry_id > w[1].entry_id),
        "history is newest first, without repeats"
    );
    // No pending write outlives its checkpoint.
    let prefix = format!("{ns}\u{1f}{run}\u{1f}");
    let writes = store
        .records()
        .scan("checkpoint-writes", &Scan::prefix(prefix.clone()))
        .await
        .unwrap();
    for w in writes {
        let id = w.key[prefix.len()..].split('\u{1f}').next().unwrap();
        assert!(
            history.iter().any(|c| c.entry_id == id),
            "{ns}/{run}: pending write {:?} has no checkpoint",
            w.key
        );
    }
    history.len()
}

pub async fn current_is_newest_under_reordered_commits(backend: &dyn Backend) {
    let (_loc, store, _clock) = fresh(backend).await;
    let cps = store.checkpoints();
    // Commits arrive out of order: an older checkpoint committed after a newer one must not
    // become current, and pruning keeps the newest, not the last committed.
    for (n, i) in [5u64, 2, 9, 1, 7, 3].into_iter().enumerate() {
        cps.put(&at("p", "r", &format!("c-{i}"), i)).await.unwrap();
        assert_one_truth(&store, "p", "r").await;
        assert_eq!(cps.history("p", "r").await.unwrap().len(), n + 1);
    }
    assert_eq!(cps.read("p", "r").await.unwrap().unwrap().entry_id, "c-9");
    cps.prune_run("p", "r", &PrunePolicy::keep_latest(1))
        .await
        .unwrap();
    assert_eq!(cps.read("p", "r").await.unwrap().unwrap().entry_id, "c-9");
    cps.put(&at("p", "r", "c-4", 4)).await.unwrap();
    assert_eq!(cps.read("p", "r").await.unwrap().unwrap().entry_id, "c-9");
    // A clear then a later write: the run is current again, at its newest entry.
    cps.clear("p", "r").await.unwrap();
    assert!(cps.read("p", "r").await.unwrap().is_none());
    cps.put(&at("p", "r", "c-6", 6)).await.unwrap();
    assert_eq!(cps.read("p", "r").await.unwrap().unwrap().entry_id, "c-9");
}

pub async fn current_is_newest_under_concurrent_writers(backend: &dyn Backend) {
    let (_loc, store, _clock) = fresh(backend).await;
    if !store.capabilities().atomic_batches {
        return;
    }
    let cps = store.checkpoints();
    let runs = ["r0", "r1", "r2"];
    let writers = 4;
    let per_writer = 24;
    let mut tasks = Vec::new();
    for w in 0..writers {
        let cps = cps.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..per_writer {
                let run = runs[(w + i) % runs.len()];
                // Ids interleave across writers, so commits land out of id order.
                let id = format!("c-{:03}-{w}", (i * 7 + w * 13) % 100);
                cps.put(&at("p", run, &id, i as u64)).await.unwrap();
                let task = format!("w{w}");
                match cps
                    .put_writes("p", run, &id, &task, &[("n".into(), i.into())])
                    .await
                {
                    Ok(()) => {}
                    // Another writer's prune may have removed this (older-id) checkpoint.
                    Err(Error::NotFound(_)) => {
                        assert!(cps.get("p", run, &id).await.unwrap().is_none());
                    }
                    Err(e) => panic!("put_writes failed: {e}"),
                }
                if i % 8 == 7 {
                    cps.prune_run("p", run, &PrunePolicy::keep_latest(3))
                        .await
                        .unwrap();
                }
            }
        }));
    }
    // Whole-run operations race the writers too.
    let copier = {
        let cps = cps.clone();
        tokio::spawn(async move {
            for i in 0..6 {
                let target = format!("copy-{i}");
                // The source may not exist yet: that is the only acceptable failure.
                match cps.copy_run("p", "r0", "p", &target).await {
                    Ok(_) | Err(Error::NotFound(_)) => {}
                    Err(e) => panic!("copy failed: {e}"),
                }
                tokio::task::yield_now().await;
            }
        })
    };
    let deleter = {
        let cps = cps.clone();
        tokio::spawn(async move {
            for _ in 0..6 {
                cps.delete_run("p", "r2").await.unwrap();
                tokio::task::yield_now().await;
            }
        })
    };
    for t in tasks {
        t.await.unwrap();
    }
    copier.await.unwrap();
    deleter.await.unwrap();
    for run in runs {
        // r2 may have been deleted last; the others keep every run's newest entries.
        let kept = assert_one_truth(&store, "p", run).await;
        assert!(kept >= 1 || run == "r2");
    }
    for i in 0..6 {
        let target = format!("copy-{i}");
        assert_one_truth(&store, "p", &target).await;
        // Each copy is a snapshot: every copied checkpoint kept its pending writes' owner.
        for cp in cps.history("p", &target).await.unwrap() {
            assert_eq!(cp.run_id, target);
        }
    }
    cps.delete_run("p", "r1").await.unwrap();
    assert_eq!(assert_one_truth(&store, "p", "r1").await, 0);
}
