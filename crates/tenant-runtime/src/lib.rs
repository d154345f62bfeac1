//! berth-tenant-runtime: supervised tenant processes for a multi-tenant host (a PaaS node).
//!
//! A [`Runtime`] runs one server process per tenant key, started on demand in the key's
//! directory and stopped when idle:
//!
//! - [`Runtime::ensure`] returns the tenant's port: reusing its running process, joining a
//!   start in flight (single flight: 200 concurrent callers, one process), or starting one and
//!   waiting for readiness (HTTP GET by default, pluggable via [`ReadinessCheck`]).
//! - Each tenant runs in a cgroup of its own where the host may create one, and leads its
//!   own session; every process of a start is also tracked through `/proc` (session, group,
//!   descendants, the `BERTH_TENANT_START_ID` marker), so helpers that call `setsid` or
//!   `setpgid` are found. Stopping is SIGTERM to all of them, one grace for all, SIGKILL to
//!   the rest, and a fixed deadline after which the survivors are reported: it always ends.
//!   A key never has two live processes (a replacement waits for the old start's exit).
//! - Admission: a slot is taken before the spawn (at `max_concurrent` the least recently
//!   used running tenant is evicted, or the start waits, bounded); idle tenants are stopped;
//!   failing starts and crashes after readiness back off exponentially up to a failure cap;
//!   failures decay after a stable period.
//! - Output goes to rotated files the tenant appends to, so tenants outlive their host.
//! - The port race is closed by handing the tenant a bound listening socket (systemd's
//!   `LISTEN_FDS` convention, fd 3) when it opts in ([`SocketHandover`]).
//! - `drain`/`drained`, `dispose` (which waits for starts in flight and leaves no child),
//!   metrics from `/proc` summed over each process group, log lines, and [`Transition`]s with
//!   an [`ExitReason`] for every exit.
//! - Tenant records ([`TenantRecord`]) live in a berth collection and are written before the
//!   spawn (write-ahead), so a restarted host adopts live children or stops every process of
//!   an unfinished start, quarantines undecodable records, and back-off survives restarts.
//!
//! Guarantees under faults, and the systemd/Kubernetes settings they map to:
//! `docs/tenant-runtime.md`.
//!
//! Linux only (cgroups, sessions, `/proc`). The crate's `berth-test-tenant` binary is a tiny
//! tenant for trying it out and for the tests.
//!
//! ```no_run
//! # #[tokio::main] async fn main() -> Result<(), berth_tenant_runtime::Error> {
//! use berth_tenant_runtime::{Runtime, RuntimeOptions, Transition};
//! use std::time::Duration;
//!
//! let store = berth_state_memory::open(berth_core::OpenOptions::default());
//! let mut options = RuntimeOptions::new(store, "/srv/tenants")
//!     .command(["./start"])
//!     .on_transition(|t| {
//!         if let Transition::Exit { key, reason, .. } = t {
//!             println!("{key} exited: {reason}");
//!         }
//!     });
//! options.idle_after = Duration::from_secs(300);
//! let runtime = Runtime::new(options).await?;
//!
//! // Starts /srv/tenants/tenant-42/start with PORT set, waits for it to answer HTTP.
//! let tenant = runtime.ensure("tenant-42").await?;
//! println!("tenant-42 serves on port {}", tenant.port);
//! runtime.touch("tenant-42");
//! println!("{:?}", runtime.stats());
//! runtime.dispose().await;
//! # Ok(()) }
//! ```

mod admission;
mod adopt;
mod backoff;
mod error;
mod events;
mod group;
mod isolation;
mod logs;
mod members;
mod metrics;
mod options;
mod port;
mod procfs;
mod readiness;
mod records;
mod runtime;
mod spawn;
mod start;
mod state;
mod supervisor;
mod sweep;

pub use backoff::{BackoffPolicy, BackoffState};
pub use error::{Error, Result};
pub use events::{Callback, ExitReason, LogEvent, LogStream, MetricEvent, Transition};
pub use isolation::{Isolation, IsolationMode};
pub use metrics::{RuntimeMetrics, RuntimeStats};
pub use options::{validate_env_name, Recovery, RuntimeOptions, SocketHandover, TenantSource};
pub use readiness::{HttpGet, ReadinessCheck, ReadyTarget};
pub use records::{ProcessRecord, ProcessState, TenantRecord, TenantTotals};
pub use runtime::{validate_key, Runtime};
pub use state::Tenant;
