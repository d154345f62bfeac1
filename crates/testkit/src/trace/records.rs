//! [`TracedRecords`]: the record store decorator.

use super::Tracer;
use async_trait::async_trait;
use berth_core::RecordStore;
use berth_core::Result;
use berth_core::{Batch, Committed};
use berth_core::{Record, Scan};
use std::sync::Arc;

/// Records every read and commit of the record store it wraps, then passes it on unchanged.
///
/// A scan over a whole collection (no prefix, no cursor, forwards) that returns everything in
/// one page is recorded as `getAllItems`; other scans as `scan`.
pub struct TracedRecords {
    inner: Arc<dyn RecordStore>,
    tracer: Tracer,
}

impl TracedRecords {
    /// `inner`, recorded into `tracer`.
    pub fn new(inner: Arc<dyn RecordStore>, tracer: Tracer) -> Self {
        TracedRecords { inner, tracer }
    }
}

fn describe(scan: &Scan) -> String {
    let mut parts = vec![format!("prefix {:?}", scan.prefix)];
    if let Some(after) = &scan.start_after {
        parts.push(format!("after {after:?}"));
    }
    if let Some(limit) = scan.limit {
        parts.push(format!("limit {limit}"));
    }
    if scan.reverse {
        parts.push("reverse".to_owned());
    }
    parts.join(", ")
}

#[async_trait]
impl RecordStore for TracedRecords {
    async fn get_many(&self, collection: &str, keys: &[String]) -> Result<Vec<Option<Record>>> {
        let found = self.inner.get_many(collection, keys).await?;
        let result = found.iter().flatten().cloned().collect();
        self.tracer.get_many(collection, keys, result);
        Ok(found)
    }

    async fn scan(&self, collection: &str, scan: &Scan) -> Result<Vec<Record>> {
        let page = self.inner.scan(collection, scan).await?;
        let whole = scan.prefix.is_empty()
            && scan.start_after.is_none()
            && !scan.reverse
            && scan.limit.map_or(true, |limit| page.len() < limit);
        self.tracer
            .scan(collection, whole, describe(scan), page.clone());
        Ok(page)
    }

    async fn count(&self, collection: &str, prefix: &str) -> Result<u64> {
        let n = self.inner.count(collection, prefix).await?;
        self.tracer.count(collection, prefix, n);
        Ok(n)
    }

    async fn commit(&self, batch: Batch) -> Result<Committed> {
        let outcome = self.inner.commit(batch.clone()).await;
        self.tracer
            .committed(&batch, outcome.as_ref().err().map(ToString::to_string));
        outcome
    }

    async fn get(&self, collection: &str, key: &str) -> Result<Option<Record>> {
        let found = self.inner.get(collection, key).await?;
        self.tracer.get_item(collection, key, found.clone());
        Ok(found)
    }
}

/// A record store that keeps nothing: every read is empty, every commit succeeds.
struct Nothing;

#[async_trait]
impl RecordStore for Nothing {
    async fn get_many(&self, _: &str, keys: &[String]) -> Result<Vec<Option<Record>>> {
        Ok(vec![None; keys.len()])
    }
    async fn scan(&self, _: &str, _: &Scan) -> Result<Vec<Record>> {
        Ok(Vec::new())
    }
    async fn count(&self, _: &str, _: &str) -> Result<u64> {
        Ok(0)
    }
    async fn commit(&self, batch: Batch) -> Result<Committed> {
        Ok(Committed {
            versions: vec![None; batch.len()],
            at: berth_core::Timestamp::from_millis(0),
        })
    }
}

pub(super) fn doc_store() -> berth_core::Store {
    use berth_core::LeaseStore;
    struct NoLeases;
    #[async_trait]
    impl LeaseStore for NoLeases {
        async fn register(&self, _: &str, _: &str, _: bool) -> Result<berth_core::MachineId> {
            Ok(berth_core::MachineId(1))
        }
        async fn unregister(&self, _: &str) -> Result<()> {
            Ok(())
        }
        async fn runners(&self) -> Result<Vec<berth_core::RunnerEntry>> {
            Ok(Vec::new())
        }
        async fn set_health(&self, _: &str, _: bool) -> Result<()> {
            Ok(())
        }
        async fn acquire(
            &self,
            _: &str,
            _: &[String],
            _: std::time::Duration,
        ) -> Result<Vec<berth_core::Lease>> {
            Ok(Vec::new())
        }
        async fn refresh(
            &self,
            _: &str,
            _: &[String],
            _: std::time::Duration,
        ) -> Result<Vec<berth_core::Lease>> {
            Ok(Vec::new())
        }
        async fn release(&self, _: &str, _: &str) -> Result<()> {
            Ok(())
        }
        async fn release_all(&self, _: &str) -> Result<()> {
            Ok(())
        }
        async fn lease(&self, _: &str) -> Result<Option<berth_core::Lease>> {
            Ok(None)
        }
        async fn held_by(&self, _: &str) -> Result<Vec<berth_core::Lease>> {
            Ok(Vec::new())
        }
    }
    berth_core::Store::builder(
        "nothing",
        Arc::new(Nothing),
        Arc::new(NoLeases),
        berth_core::Capabilities::new(false, true, false, false),
        berth_core::OpenOptions::default(),
    )
    .build()
}
