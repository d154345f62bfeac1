//! Where a sled call runs: inline on the async task, or on tokio's blocking pool.
//!
//! Measured on the 2-core development machine (`examples/blocking_cost.rs`, see
//! docs/backends.md): a point read or a small relaxed commit takes a few microseconds inline
//! while a round trip through `spawn_blocking` adds tens of microseconds, whereas an
//! immediate commit spends milliseconds in `fsync`. So work that is bounded and in memory runs
//! inline, and anything that flushes to disk, or may walk an unbounded range, goes to the
//! blocking pool where it cannot stall the runtime's worker threads.

use crate::errors::from_join;
use berth_core::Result;

/// Most keys a `get_many` reads inline.
pub(crate) const INLINE_KEYS: usize = 64;
/// Most records a scan may return to run inline.
pub(crate) const INLINE_SCAN: usize = 256;

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
