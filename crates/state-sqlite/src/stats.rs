//! Counters of the writer thread, for tests and monitoring.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// What the writer thread has done since the store was opened; cheap to clone.
///
/// Holding it does not keep the database open.
#[derive(Debug, Clone, Default)]
pub struct WriterStats {
    inner: Arc<Counters>,
}

#[derive(Debug, Default)]
struct Counters {
    submitted: AtomicU64,
    groups: AtomicU64,
    committed_jobs: AtomicU64,
    transactions: AtomicU64,
}

impl WriterStats {
    /// Write requests (batches, lease calls, …) handed to the writer so far.
    pub fn jobs_submitted(&self) -> u64 {
        self.inner.submitted.load(Ordering::SeqCst)
    }

    /// Commit groups the writer has started (one transaction attempt each).
    pub fn groups_started(&self) -> u64 {
        self.inner.groups.load(Ordering::SeqCst)
    }

    /// Write requests that succeeded and were committed.
    pub fn jobs_committed(&self) -> u64 {
        self.inner.committed_jobs.load(Ordering::SeqCst)
    }

    /// SQLite transactions committed: one per commit group, however many requests it held.
    pub fn transactions_committed(&self) -> u64 {
        self.inner.transactions.load(Ordering::SeqCst)
    }

    pub(crate) fn submitted(&self) {
        self.inner.submitted.fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn group_started(&self) {
        self.inner.groups.fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn committed(&self, jobs: u64) {
        self.inner.transactions.fetch_add(1, Ordering::SeqCst);
        self.inner.committed_jobs.fetch_add(jobs, Ordering::SeqCst);
    }
}
