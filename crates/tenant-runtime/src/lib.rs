//! berth-tenant-runtime: supervised tenant processes for a multi-tenant host (a PaaS node).
//!
//! A [`Runtime`] runs one server process per tenant key, started on demand in the key's
//! directory and stopped when idle:
//!
//! - [`Runtime::ensure`] returns the tenant's port: reusing its running process, joining a
//!   start in flight (single flight: 200 concurrent callers, one process), or starting one and
//!   waiting for readiness (HTTP GET by default, pluggable via [`ReadinessCheck`]).
//! - Each tenant leads its own process group. Stopping is SIGTERM to the group, a grace
//!   period, then SIGKILL to the group, so grandchildren die too; a key never has two live
//!   processes (a replacement waits for the old group's confirmed exit).
//! - Idle tenants are stopped, the least recently used one is evicted at `max_concurrent`,
//!   failing starts and crashes after readiness back off exponentially up to a failure cap,
//!   forgotten after a stable period.
//! - The port race is closed by handing the tenant a bound listening socket (systemd's
//!   `LISTEN_FDS` convention, fd 3) when it opts in ([`SocketHandover`]).
//! - `drain`/`drained`, `dispose` (which waits for starts in flight and leaves no child),
//!   metrics from `/proc` summed over each process group, log lines, and [`Transition`]s with
//!   an [`ExitReason`] for every exit.
//! - Tenant records ([`TenantRecord`]) live in a berth collection, so a restarted host adopts
//!   live children or stops orphans, and back-off survives restarts.
//!
//! Linux only (process groups, `/proc`). The crate's `berth-test-tenant` binary is a tiny
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
