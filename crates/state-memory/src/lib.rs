//! berth-state-memory: the in-process backend and the reference semantics of every contract.
//!
//! Everything lives in ordered maps behind one lock, so batches, fences and leases are
//! trivially atomic. Nothing survives the process; use it for tests, examples and caches.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> berth_core::Result<()> {
//! use berth_core::{Batch, OpenOptions, Precondition};
//! let store = berth_state_memory::open(OpenOptions::default());
//! let mut batch = Batch::new();
//! batch.put("jobs", "j1", serde_json::json!({"state": "queued"})).when(Precondition::Absent);
//! store.commit(batch).await?;
//! assert_eq!(store.records().get("jobs", "j1").await?.map(|r| r.version), Some(1));
//! # Ok(()) }
//! ```

mod leases;
mod records;
mod sessions;
mod state;

pub use leases::MemoryLeases;
pub use records::MemoryRecords;
pub use sessions::MemorySessions;

use berth_core::{Capabilities, OpenOptions, Store};
use parking_lot::Mutex;
use state::State;
use std::sync::Arc;

/// What the memory backend declares: nothing persists, nothing is shared between processes.
pub const CAPABILITIES: Capabilities = Capabilities::new(false, true, false, false);

/// Opens a new, empty in-memory store.
pub fn open(options: OpenOptions) -> Store {
    let state = Arc::new(Mutex::new(State::default()));
    let records = Arc::new(MemoryRecords::new(state.clone(), options.clock.clone()));
    let leases = Arc::new(MemoryLeases::new(state.clone(), options.clock.clone()));
    let sessions = Arc::new(MemorySessions::new(
        state,
        options.clock.clone(),
        options.ids.clone(),
    ));
    Store::builder("memory", records, leases, CAPABILITIES, options)
        .sessions(sessions)
        .build()
}
