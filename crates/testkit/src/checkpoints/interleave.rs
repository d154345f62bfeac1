//! Whole-run operations meeting a write that commits between their read and their commit.
//!
//! The store is the backend's real one, wrapped so that the first commit of a whole-run
//! operation (one that deletes, or creates a run's head) lets a prepared concurrent batch
//! commit first — the interleaving a race produces, made deterministic.

use super::at;
use crate::{fresh, Backend};
use async_trait::async_trait;
use berth_core::{
    Batch, Checkpoints, Committed, OpKind, Precondition, PrunePolicy, Record, RecordStore, Result,
    Scan, Store,
};
use parking_lot::Mutex;
use serde_json::json;
use std::sync::Arc;

struct Interleaved {
    inner: Arc<dyn RecordStore>,
    cut_in: Mutex<Option<Batch>>,
}

#[async_trait]
impl RecordStore for Interleaved {
    async fn get_many(&self, collection: &str, keys: &[String]) -> Result<Vec<Option<Record>>> {
        self.inner.get_many(collection, keys).await
    }
    async fn scan(&self, collection: &str, scan: &Scan) -> Result<Vec<Record>> {
        self.inner.scan(collection, scan).await
    }
    async fn count(&self, collection: &str, prefix: &str) -> Result<u64> {
        self.inner.count(collection, prefix).await
    }
    async fn commit(&self, batch: Batch) -> Result<Committed> {
        // Deletes (prune, delete) or a new head where none may be (copy): a whole-run commit.
        let guarded = batch.ops().iter().any(|op| {
            matches!(op.kind, OpKind::Delete)
                || (op.collection == "checkpoint-heads"
                    && op.precondition == Some(Precondition::Absent))
        });
        let cut_in = if guarded {
            self.cut_in.lock().take()
        } else {
            None
        };
        if let Some(other) = cut_in {
            self.inner.commit(other).await.unwrap();
        }
        self.inner.commit(batch).await
    }
}

/// Checkpoints over `store` whose next whole-run commit lets `cut_in` commit first.
fn interleaved(store: &Store, cut_in: Batch) -> Checkpoints {
    let records = Arc::new(Interleaved {
        inner: store.records().clone(),
        cut_in: Mutex::new(Some(cut_in)),
    });
    Checkpoints::new(records, store.ids().clone(), store.clock().clone())
}

/// What `put_writes` commits, built by hand: a pending write and the head rewritten as is.
async fn pending_write_batch(store: &Store, id: &str) -> Batch {
    let head = store
        .records()
        .get("checkpoint-heads", "p\u{1f}r")
        .await
        .unwrap()
        .unwrap();
    let mut batch = Batch::new();
    batch.put("checkpoint-heads", "p\u{1f}r", head.value);
    let key = format!("p\u{1f}r\u{1f}{id}\u{1f}late\u{1f}0000000000");
    let write = json!({"taskId": "late", "index": 0, "channel": "x", "value": 1});
    batch.put("checkpoint-writes", &key, write);
    batch
}

async fn stored(store: &Store, collection: &str) -> u64 {
    store
        .records()
        .count(collection, "p\u{1f}r\u{1f}")
        .await
        .unwrap()
}

pub async fn whole_run_operations_see_writes_that_cut_in(backend: &dyn Backend) {
    let (_loc, store, _clock) = fresh(backend).await;
    if !store.capabilities().atomic_batches {
        return;
    }
    let cps = store.checkpoints();
    for i in 0..3u64 {
        cps.put(&at("p", "r", &format!("c-{i}"), i)).await.unwrap();
    }

    // A checkpoint written while the copy is being made: the copy starts again and has it.
    let mut late = Batch::new();
    cps.write(&mut late, &at("p", "r", "c-3", 3)).unwrap();
    let copied = interleaved(&store, late)
        .copy_run("p", "r", "p", "fork")
        .await
        .unwrap();
    assert_eq!(copied, 4, "the copy includes the checkpoint that cut in");
    assert_eq!(cps.history("p", "fork").await.unwrap().len(), 4);

    // Pending writes to a checkpoint being pruned: the prune starts again and takes them too.
    let cut_in = pending_write_batch(&store, "c-0").await;
    let removed = interleaved(&store, cut_in)
        .prune_run("p", "r", &PrunePolicy::keep_latest(2))
        .await
        .unwrap();
    assert_eq!(removed, 2);
    assert_eq!(
        stored(&store, "checkpoint-writes").await,
        0,
        "no orphaned writes"
    );

    // A checkpoint written while the run is being deleted: the delete starts again.
    let mut late = Batch::new();
    cps.write(&mut late, &at("p", "r", "c-9", 9)).unwrap();
    let deleted = interleaved(&store, late)
        .delete_run("p", "r")
        .await
        .unwrap();
    assert_eq!(deleted, 3, "c-2, c-3 and the one that cut in");
    assert_eq!(
        stored(&store, "checkpoint-history").await,
        0,
        "nothing left behind"
    );
    assert!(cps.read("p", "r").await.unwrap().is_none());
}
