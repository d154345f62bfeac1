//! Where a sled call runs: inline on the async task, or on tokio's blocking pool.
//!
//! Measured on the 2-core development machine under load (`examples/blocking_cost.rs`, mean
//! per call; docs/backends.md has the table): a point read takes 0.5 µs inline and 20–26 µs
//! through `spawn_blocking`; a 3-put transaction without flush 4.5 µs inline and 27–48 µs
//! pooled; a scan of 100 records 21–25 µs inline and 37–66 µs pooled; the same transaction
//! with flush and `fsync` 0.3–1.9 ms either way. The pool's round trip costs far more than
//! in-memory work, and little next to a flush that would hold a runtime worker for
//! milliseconds. So bounded in-memory work runs inline, and anything that flushes to disk or
//! may walk an unbounded range goes to the blocking pool.

use crate::errors::from_join;
use berth_core::Result;

/// Most keys a `get_many` reads inline.
pub(crate) const INLINE_KEYS: usize = 64;
/// Most records a scan may return to run inline.
pub(crate) const INLINE_SCAN: usize = 256;
/// Most encoded value bytes a relaxed commit may carry to run inline.
pub(crate) const INLINE_BYTES: usize = 64 * 1024;

/// How long a sled call may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cost {
    /// Microseconds, in memory: run inline.
    Small,
    /// Disk syncs or unbounded ranges: run on the blocking pool.
    Large,
}

impl Cost {
    /// `Small` when `small` holds.
    pub fn small_if(small: bool) -> Self {
        if small {
            Cost::Small
        } else {
            Cost::Large
        }
    }
}

/// Runs `f` as `cost` says; outside a tokio runtime it always runs inline.
pub(crate) async fn run<T, F>(cost: Cost, f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T> + Send + 'static,
{
    if cost == Cost::Small {
        return f();
    }
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => handle.spawn_blocking(f).await.map_err(from_join)?,
        Err(_) => f(),
    }
}
