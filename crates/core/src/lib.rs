//! berth-core: the contracts every berth backend implements, and the suite that checks them.
//!
//! berth keeps the durable state of job orchestration. This crate defines it once:
//!
//! - [`RecordStore`]: collections of JSON [`Record`]s with `version`, `created_at` and
//!   `updated_at`; `get_many`, ordered [`Scan`]s with a cursor, `count`, and atomic [`Batch`]es
//!   of puts and deletes guarded by [`Precondition`]s (`Absent`, `Exists`, `Version`, `Fence`).
//! - [`Collection<T>`] and [`Item<T>`]: the typed layer over it.
//! - [`LeaseStore`]: the runner registry and shard [`Lease`]s with fencing tokens.
//! - [`SessionStore`]: owner [`Session`]s kept alive with one write; leases attached to them.
//! - [`KeyedLocks`]: several keys locked in sorted order, in process.
//! - [`Checkpoints`]: pipeline checkpoints written in the caller's batch, with history.
//! - [`packrun`]: runs, logs, artifacts and approvals of task-runner pack runs.
//! - [`Error`] with actionable [`ErrorKind`]s, an injected [`Clock`] and [`IdGenerator`].
//!
//! A backend hands its parts to [`Store::builder`]; users get one [`Store`] handle to all of
//! them, usually from `berth::open(url)`. The conformance suite that checks a backend against
//! these contracts is the `berth-testkit` crate.
//!
//! ```
//! use berth_core::{Batch, ErrorKind, ManualClock, Clock, Precondition, Timestamp};
//! use std::time::Duration;
//!
//! let clock = ManualClock::new(Timestamp::from_millis(1_000));
//! clock.advance(Duration::from_secs(1));
//! assert_eq!(clock.now(), Timestamp::from_millis(2_000));
//!
//! let mut batch = Batch::new();
//! batch.put("workers:demo", "w-1", serde_json::json!({"status": "starting"}))
//!     .when(Precondition::Absent);
//! batch.put("worker-registration-index:demo:w-1", "reg-1", serde_json::Value::Null);
//! assert!(batch.validate().is_ok());
//!
//! let mut bad = Batch::new();
//! bad.put("", "k", serde_json::json!(1));
//! assert_eq!(bad.validate().unwrap_err().kind(), ErrorKind::InvalidInput);
//! ```

mod backoff;
mod batch;
mod checkpoint;
pub mod codec;
mod collection;
mod error;
mod fence;
pub mod ident;
mod ids;
mod lease;
mod lease_slot;
pub mod limits;
mod locks;
pub mod packrun;
mod record;
mod records;
mod secret;
mod session;
mod store;
mod time;

pub use backoff::Backoff;
pub use batch::{Batch, Committed, Op, OpKind, OpRef, Precondition};
pub use checkpoint::{
    validate_namespace, validate_pipeline_id, Checkpoint, Checkpoints, ListQuery, PendingWrite,
    PrunePolicy, MAX_NAMESPACE,
};
pub use collection::{Collection, Item, Meta};
pub use error::{Error, ErrorKind, Result};
pub use fence::{write_fenced, Claim, Fence, FENCE_COLLECTION};
pub use ids::{DeterministicIds, IdGenerator, UuidV7};
pub use lease::{
    validate_lease_name, validate_lease_request, Lease, LeaseStore, MachineId, RunnerEntry,
};
pub use lease_slot::{Claimant, LeaseSlot};
pub use locks::{KeyedGuard, KeyedLocks};
pub use record::{prefix_upper_bound, Record, Scan};
pub use records::RecordStore;
pub use secret::{redact_url, scrub as scrub_secret, Secret, REDACTED};
pub use session::{
    expiry_after, session_expired, session_not_found, validate_ttl, Session, SessionId,
    SessionStore,
};
pub use store::{Access, Capabilities, Durability, OpenOptions, Store, StoreBuilder};
pub use time::{Clock, ManualClock, SharedClock, SystemClock, Timestamp};
