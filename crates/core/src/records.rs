//! The record store contract: reads and atomic batches over named collections.

use crate::batch::{Batch, Committed};
use crate::error::Result;
use crate::record::{Record, Scan};
use async_trait::async_trait;

/// Reads and atomic writes over many collections of JSON records.
///
/// Collections are only names: backends keep every collection in one table or tree, so
/// thousands of dynamic names such as `workers:<project>` cost nothing. Every call
/// validates its names and keys first and fails with
/// [`Error::InvalidInput`](crate::Error::InvalidInput) before touching storage.
///
/// ```
/// # async fn demo(records: &dyn berth_core::RecordStore) -> berth_core::Result<()> {
/// use berth_core::{Batch, Precondition, Scan};
/// let mut batch = Batch::new();
/// batch.put("jobs", "a", serde_json::json!(1)).when(Precondition::Absent);
/// records.commit(batch).await?;
/// let found = records.get_many("jobs", &["a".into(), "missing".into()]).await?;
/// assert!(found[0].is_some() && found[1].is_none());
/// let page = records.scan("jobs", &Scan::prefix("a").limit(10)).await?;
/// assert_eq!(page.len(), 1);
/// # Ok(()) }
/// ```
#[async_trait]
pub trait RecordStore: Send + Sync {
    /// Reads `keys` in one round trip; the result is aligned with `keys`.
    async fn get_many(&self, collection: &str, keys: &[String]) -> Result<Vec<Option<Record>>>;

    /// Records of `collection` in key-byte order, filtered and paged by `scan`.
    async fn scan(&self, collection: &str, scan: &Scan) -> Result<Vec<Record>>;

    /// Number of records in `collection` whose key starts with `prefix`.
    async fn count(&self, collection: &str, prefix: &str) -> Result<u64>;

    /// Applies every op of `batch` atomically, or none of them.
    ///
    /// Ops apply in order; each precondition is checked against the state left by the ops
    /// before it. A failed precondition yields [`Error::Conflict`](crate::Error::Conflict)
    /// or [`Error::StaleFence`](crate::Error::StaleFence) naming the op.
    async fn commit(&self, batch: Batch) -> Result<Committed>;

    /// Reads one key.
    async fn get(&self, collection: &str, key: &str) -> Result<Option<Record>> {
        let mut found = self.get_many(collection, &[key.to_owned()]).await?;
        Ok(found.pop().flatten())
    }
}
