//! Replayable storage traces: decorators that record every operation a service makes and
//! render it as markdown (numbered steps, linked lock/release pairs, batch ids, the write that
//! commits each batch, values as JSON).
//!
//! A [`Tracer`] is one shared recording. Wrap a [`Store`](berth_core::Store) with
//! [`Tracer::store`] to record reads and commits, a [`KeyedLocks`](berth_core::KeyedLocks) with
//! [`TracedLocks`] to record locks, and report anything else — a staged batch op, a call to a
//! collaborator such as a worker manager, a log line — through the tracer's hooks. With
//! [`ManualClock`](berth_core::ManualClock), [`DeterministicIds`](berth_core::DeterministicIds) and
//! [`DeterministicRandom`] the rendering is the same on every run and every backend, so it can
//! be kept as a golden file.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> berth_core::Result<()> {
//! use berth_testkit::trace::{StagedKind, Tracer};
//! # let store = berth_testkit::trace::doc_store();
//! let tracer = Tracer::new();
//! let store = tracer.store(&store);
//! tracer.section("act");
//! let batch_id = tracer.open_batch();
//! let mut batch = berth_core::Batch::new();
//! batch.put("jobs", "j1", serde_json::json!({"state": "queued"}));
//! tracer.stage(batch_id, StagedKind::PutItem, "jobs", "j1");
//! store.commit(batch).await?;
//! assert!(tracer.render().contains("💾 write [1](#trace-1)"));
//! # Ok(()) }
//! ```

mod locks;
mod random;
mod recorder;
mod records;
mod render;
mod step;

pub use locks::{TracedGuard, TracedLocks};
pub use random::DeterministicRandom;
pub use recorder::{LockTicket, Tracer};
pub use records::TracedRecords;
pub use step::{LogLevel, StagedKind};

/// A store for the module's doc example: the trace decorator over a record store that keeps
/// nothing but accepts every batch.
#[doc(hidden)]
pub fn doc_store() -> berth_core::Store {
    records::doc_store()
}

#[cfg(test)]
mod tests;
