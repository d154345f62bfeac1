//! The MongoDB [`RecordStore`]: every berth collection in one MongoDB collection.

mod commit;
mod layout;
mod range;
mod read;
mod stage;

use crate::shared::Shared;
use async_trait::async_trait;
use berth_core::{limits, Batch, Committed, Record, RecordStore, Result, Scan};
use tracing::Instrument;

/// The MongoDB backend's [`RecordStore`].
#[derive(Debug, Clone)]
pub struct MongoRecords {
    shared: Shared,
}

impl MongoRecords {
    pub(crate) fn new(shared: Shared) -> Self {
        MongoRecords { shared }
    }
}

#[async_trait]
impl RecordStore for MongoRecords {
    async fn get_many(&self, collection: &str, keys: &[String]) -> Result<Vec<Option<Record>>> {
        limits::validate_collection(collection)?;
        keys.iter().try_for_each(|k| limits::validate_key(k))?;
        let span = tracing::debug_span!("mongo.get_many", collection, keys = keys.len());
        let fut = read::get_many(&self.shared, collection, keys);
        self.shared.deadline("get_many", fut).instrument(span).await
    }

    async fn scan(&self, collection: &str, scan: &Scan) -> Result<Vec<Record>> {
        limits::validate_collection(collection)?;
        let span = tracing::debug_span!("mongo.scan", collection, prefix = %scan.prefix, limit = ?scan.limit, reverse = scan.reverse);
        let fut = read::scan(&self.shared, collection, scan);
        self.shared.deadline("scan", fut).instrument(span).await
    }

    async fn count(&self, collection: &str, prefix: &str) -> Result<u64> {
        limits::validate_collection(collection)?;
        let span = tracing::debug_span!("mongo.count", collection, prefix);
        let fut = read::count(&self.shared, collection, prefix);
        self.shared.deadline("count", fut).instrument(span).await
    }

    async fn commit(&self, batch: Batch) -> Result<Committed> {
        let span = tracing::debug_span!("mongo.commit", ops = batch.len());
        let fut = commit::commit(&self.shared, batch);
        self.shared.deadline("commit", fut).instrument(span).await
    }
}
