//! [`Jitter`]: random delays before every storage call, to widen race windows.

use async_trait::async_trait;
use berth_core::{Batch, Committed, Record, RecordStore, Result, Scan};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Sleeps 0–2 ms (drawn from a seeded sequence) before each call of the store it wraps.
pub struct Jitter {
    inner: Arc<dyn RecordStore>,
    state: AtomicU64,
}

impl Jitter {
    /// `inner` with delays drawn from a sequence seeded by `seed`.
    pub fn new(inner: Arc<dyn RecordStore>, seed: u64) -> Self {
        Jitter {
            inner,
            state: AtomicU64::new(seed),
        }
    }

    async fn pause(&self) {
        let mut x = self
            .state
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::SeqCst);
        x ^= x >> 31;
        x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x ^= x >> 29;
        let micros = x % 2_000;
        if micros > 200 {
            tokio::time::sleep(Duration::from_micros(micros)).await;
        } else {
            tokio::task::yield_now().await;
        }
    }
}

#[async_trait]
impl RecordStore for Jitter {
    async fn get_many(&self, c: &str, keys: &[String]) -> Result<Vec<Option<Record>>> {
        self.pause().await;
        self.inner.get_many(c, keys).await
    }
    async fn scan(&self, c: &str, scan: &Scan) -> Result<Vec<Record>> {
        self.pause().await;
        self.inner.scan(c, scan).await
    }
    async fn count(&self, c: &str, prefix: &str) -> Result<u64> {
        self.pause().await;
        self.inner.count(c, prefix).await
    }
    async fn commit(&self, batch: Batch) -> Result<Committed> {
        self.pause().await;
        self.inner.commit(batch).await
    }
}
