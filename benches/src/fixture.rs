//! What every bench needs: a fresh store per backend, small JSON values, preloaded records.
//!
//! These helpers panic on failure: they run inside benches, where a failed setup must stop
//! the run loudly rather than produce a figure.

use crate::Backend;
use berth_core::{Batch, Clock, ManualClock, OpenOptions, Store, SystemClock};
use serde_json::{json, Value};
use std::sync::Arc;
use tokio::runtime::Runtime;

/// A store opened for one bench, with the directory that holds its files.
pub struct Open {
    /// The store.
    pub store: Store,
    _dir: tempfile::TempDir,
}

/// Opens `backend` fresh and empty in a new temporary directory.
pub fn open(rt: &Runtime, backend: &Backend) -> Open {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = rt
        .block_on(backend.open(dir.path()))
        .unwrap_or_else(|e| panic!("open {}: {e}", backend.name));
    Open { store, _dir: dir }
}

/// Opens `backend` fresh and empty with a clock the bench moves itself (set to the system's
/// time at first), for workloads whose writes must change what is stored every time.
pub fn open_clocked(rt: &Runtime, backend: &Backend) -> (Open, Arc<ManualClock>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let clock = Arc::new(ManualClock::new(SystemClock.now()));
    let options = OpenOptions::default().with_clock(clock.clone());
    let store = rt
        .block_on(backend.open_with(dir.path(), options))
        .unwrap_or_else(|e| panic!("open {}: {e}", backend.name));
    (Open { store, _dir: dir }, clock)
}

/// The record value of every workload: a small JSON object (~70 bytes).
pub fn value(i: u64) -> Value {
    json!({"id": i, "status": "running", "owner": "10.0.0.1:4000", "attempts": 1})
}

/// The key of preloaded record `i` (`k000042`).
pub fn key(i: u64) -> String {
    format!("k{i:06}")
}

/// Commits `n` records `key(0..n)` into collection `bench`, in batches of 10 000.
pub fn preload(rt: &Runtime, store: &Store, n: u64) {
    rt.block_on(async {
        let mut i = 0;
        while i < n {
            let mut batch = Batch::new();
            for j in i..(i + 10_000).min(n) {
                batch.put("bench", &key(j), value(j));
            }
            store.commit(batch).await.expect("preload");
            i += 10_000;
        }
    });
}

/// Shard names `prefix:0` … `prefix:n-1`.
pub fn shards(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}:{i}")).collect()
}
