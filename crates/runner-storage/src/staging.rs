//! [`Staging`]: a batch being built, reported to the observer op by op.

use crate::observer::{StagedKind, StateObserver};
use berth_core::{Batch, Collection, Precondition, Result};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

/// The collection named by the fence checks of lease-backed locks (nothing is stored in it).
pub(crate) const FENCE_COLLECTION: &str = "lock-fences";

/// A batch under construction; every op is reported to the observer as it is staged.
pub(crate) struct Staging<'o> {
    batch: Batch,
    id: u64,
    observer: &'o dyn StateObserver,
}

impl<'o> Staging<'o> {
    /// Opens a batch.
    pub(crate) fn open(observer: &'o dyn StateObserver) -> Self {
        Staging {
            batch: Batch::new(),
            id: observer.batch_opened(),
            observer,
        }
    }

    fn report(&self, kind: StagedKind, collection: &str, key: &str) {
        self.observer.staged(self.id, kind, collection, key);
    }

    /// Stages a typed put.
    pub(crate) fn put_item<T: Serialize + DeserializeOwned>(
        &mut self,
        collection: &Collection<T>,
        id: &str,
        value: &T,
        when: Precondition,
    ) -> Result<()> {
        collection.put_in(&mut self.batch, id, value)?.when(when);
        self.report(StagedKind::PutItem, collection.name(), id);
        Ok(())
    }

    /// Stages a raw put.
    pub(crate) fn put_raw(&mut self, collection: &str, key: &str, value: Value) -> Result<()> {
        berth_core::limits::validate_collection(collection)?;
        berth_core::limits::validate_key(key)?;
        self.batch.put(collection, key, value);
        self.report(StagedKind::Put, collection, key);
        Ok(())
    }

    /// Stages a typed delete.
    pub(crate) fn delete_item<T: Serialize + DeserializeOwned>(
        &mut self,
        collection: &Collection<T>,
        id: &str,
        when: Option<Precondition>,
    ) -> Result<()> {
        let op = collection.delete_in(&mut self.batch, id)?;
        if let Some(p) = when {
            op.when(p);
        }
        self.report(StagedKind::DeleteItem, collection.name(), id);
        Ok(())
    }

    /// Stages a raw delete.
    pub(crate) fn delete_raw(&mut self, collection: &str, key: &str) -> Result<()> {
        berth_core::limits::validate_collection(collection)?;
        berth_core::limits::validate_key(key)?;
        self.batch.delete(collection, key);
        self.report(StagedKind::Delete, collection, key);
        Ok(())
    }

    /// Whether nothing was staged.
    pub(crate) fn is_empty(&self) -> bool {
        self.batch.is_empty()
    }

    /// The batch, with `fences` (of the locks held) added as checks.
    pub(crate) fn finish(mut self, fences: Vec<Precondition>) -> Batch {
        for fence in fences {
            if let Precondition::Fence { shard, .. } = &fence {
                let shard = shard.clone();
                self.batch.check(FENCE_COLLECTION, &shard, fence);
                self.report(StagedKind::Check, FENCE_COLLECTION, &shard);
            }
        }
        self.batch
    }
}
