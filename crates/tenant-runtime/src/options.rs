//! [`RuntimeOptions`]: everything a [`Runtime`](crate::Runtime) is configured with.

use crate::backoff::BackoffPolicy;
use crate::error::{Error, Result};
use crate::events::{Callback, LogEvent, MetricEvent, Sinks, Transition};
use crate::isolation::IsolationMode;
use crate::readiness::{HttpGet, ReadinessCheck};
use berth_core::Store;
use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Where tenants' code lives.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TenantSource {
    /// One sub-directory of `root` per key; the tenant runs with that directory as its cwd.
    Directory {
        /// The root directory.
        root: PathBuf,
    },
}

impl TenantSource {
    /// Tenants in sub-directories of `root`.
    pub fn directory(root: impl Into<PathBuf>) -> Self {
        TenantSource::Directory { root: root.into() }
    }
}

/// Whether a tenant gets an already-bound listening socket instead of a port number to bind.
///
/// With hand-over the runtime binds `bind_addr:0` itself and starts the tenant with the
/// listening socket as file descriptor 3 and the systemd variables `LISTEN_FDS=1`,
/// `LISTEN_PID=<its pid>` and `LISTEN_FDNAMES=http` (plus `PORT`), so no other process can take
/// the port between choosing and binding it. (The socket travels as stdin to a `/bin/sh`
/// trampoline that moves it to fd 3, sets `LISTEN_PID=$$` and `exec`s the command, so the pid
/// matches.) Without it the tenant gets a free port in `PORT` that the runtime does not hand
/// to any other of its tenants while this one lives; another program on the host can still
/// take it in between.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SocketHandover {
    /// Never: always `PORT`.
    Never,
    /// Always hand the socket over.
    Always,
    /// Hand it over to tenants that opt in with a file of this name in their directory.
    IfMarker(String),
}

impl Default for SocketHandover {
    fn default() -> Self {
        SocketHandover::IfMarker(".berth-listen-fds".into())
    }
}

/// What a starting runtime does with tenant processes its records say are running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Recovery {
    /// Adopt each live process that is the recorded one (same start time) and passes the
    /// readiness check; stop the others (processes recorded mid-start included).
    #[default]
    Adopt,
    /// Stop every recorded live process.
    KillAll,
}

/// Options of a [`Runtime`](crate::Runtime); defaults follow the seed runtime.
#[derive(Clone)]
#[non_exhaustive]
pub struct RuntimeOptions {
    /// The store that keeps tenant records (so a restarted host can adopt or stop children).
    pub store: Store,
    /// The records' collection; give each host its own when hosts share a store.
    pub records_collection: String,
    /// Where tenants live.
    pub source: TenantSource,
    /// The command run in the tenant's directory. Default `["./start"]`.
    pub command: Vec<String>,
    /// Host environment variables passed through (only these; default `PATH`, `LANG`, `TZ`).
    pub env_allow: Vec<String>,
    /// Variables set for every tenant (`PORT` is always set by the runtime).
    pub env: BTreeMap<String, String>,
    /// Address tenants listen on (and readiness probes). Default 127.0.0.1.
    pub bind_addr: IpAddr,
    /// Stop a tenant after this long without `ensure`/`touch`. Default 5 min; zero disables.
    pub idle_after: Duration,
    /// At most this many tenants at once (starting, running or still stopping: a slot is
    /// taken before the spawn and given back once every process of the start is gone). A
    /// start at the cap evicts the least recently used running tenant, or waits for a slot.
    /// Default 100.
    pub max_concurrent: usize,
    /// How long a start waits for a slot at `max_concurrent` before failing with
    /// [`Error::AtCapacity`]. Default 30 s.
    pub admission_timeout: Duration,
    /// How often the sweeper looks for idle tenants. Default 10 s.
    pub sweep_interval: Duration,
    /// How often `/proc` CPU and RSS of every tenant's process group are reported. Default
    /// 30 s; zero disables.
    pub observe_interval: Duration,
    /// How readiness is judged. Default: HTTP GET `/` on the port every 100 ms.
    pub readiness: Arc<dyn ReadinessCheck>,
    /// How long a tenant has to become ready. Default 30 s.
    pub readiness_timeout: Duration,
    /// Back-off after failed starts and crashes.
    pub backoff: BackoffPolicy,
    /// Time between SIGTERM and SIGKILL of a tenant's process group. Default 10 s.
    pub stop_grace: Duration,
    /// Uptime after which a tenant's failure count is forgotten. Default 10 min.
    pub stable_after: Duration,
    /// Socket hand-over.
    pub handover: SocketHandover,
    /// What to do with recorded processes at start.
    pub recovery: Recovery,
    /// Whether tenants may get a cgroup of their own. Default: where the host may create one.
    pub isolation: IsolationMode,
    /// Where tenant output goes: `<log_dir>/<key>/stdout.log` and `stderr.log`. Default
    /// `<root>/.berth-logs` (keys starting with `.berth` are reserved).
    pub log_dir: PathBuf,
    /// An output file past this size is rotated (copied to `.1`, emptied) by the host that
    /// tails it. Default 10 MiB.
    pub log_max_bytes: u64,
    /// Rotated files kept per stream (`.1` newest). Default 3.
    pub log_keep: u32,
    pub(crate) sinks: Sinks,
}

impl RuntimeOptions {
    /// Defaults for tenants under `root`, recorded in `store`.
    pub fn new(store: Store, root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        RuntimeOptions {
            log_dir: root.join(".berth-logs"),
            log_max_bytes: 10 * 1024 * 1024,
            log_keep: 3,
            isolation: IsolationMode::default(),
            admission_timeout: Duration::from_secs(30),
            store,
            records_collection: "tenant-runtime".into(),
            source: TenantSource::directory(root),
            command: vec!["./start".into()],
            env_allow: vec!["PATH".into(), "LANG".into(), "TZ".into()],
            env: BTreeMap::new(),
            bind_addr: IpAddr::V4(Ipv4Addr::LOCALHOST),
            idle_after: Duration::from_secs(5 * 60),
            max_concurrent: 100,
            sweep_interval: Duration::from_secs(10),
            observe_interval: Duration::from_secs(30),
            readiness: Arc::new(HttpGet::default()),
            readiness_timeout: Duration::from_secs(30),
            backoff: BackoffPolicy::default(),
            stop_grace: Duration::from_secs(10),
            stable_after: Duration::from_secs(10 * 60),
            handover: SocketHandover::default(),
            recovery: Recovery::default(),
            sinks: Sinks::default(),
        }
    }

    /// These options with `command` (program and arguments).
    pub fn command<I, S>(mut self, command: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.command = command.into_iter().map(Into::into).collect();
        self
    }

    /// Calls `f` with every line a tenant writes to stdout or stderr.
    pub fn on_log(mut self, f: impl Fn(&LogEvent) + Send + Sync + 'static) -> Self {
        self.sinks.log = Some(Arc::new(f) as Callback<LogEvent>);
        self
    }

    /// Calls `f` with spawn durations and periodic observations.
    pub fn on_metrics(mut self, f: impl Fn(&MetricEvent) + Send + Sync + 'static) -> Self {
        self.sinks.metrics = Some(Arc::new(f) as Callback<MetricEvent>);
        self
    }

    /// Calls `f` with every transition.
    pub fn on_transition(mut self, f: impl Fn(&Transition) + Send + Sync + 'static) -> Self {
        self.sinks.transition = Some(Arc::new(f) as Callback<Transition>);
        self
    }
}

impl fmt::Debug for RuntimeOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RuntimeOptions")
            .field("store", &self.store)
            .field("records_collection", &self.records_collection)
            .field("source", &self.source)
            .field("command", &self.command)
            .field("env_allow", &self.env_allow)
            .field("env", &self.env.keys().collect::<Vec<_>>())
            .field("idle_after", &self.idle_after)
            .field("max_concurrent", &self.max_concurrent)
            .field("admission_timeout", &self.admission_timeout)
            .field("isolation", &self.isolation)
            .field("log_dir", &self.log_dir)
            .field("readiness_timeout", &self.readiness_timeout)
            .field("backoff", &self.backoff)
            .field("stop_grace", &self.stop_grace)
            .field("handover", &self.handover)
            .field("recovery", &self.recovery)
            .finish_non_exhaustive()
    }
}

/// Checks one environment variable name: not empty, no `=`, no NUL.
pub fn validate_env_name(name: &str) -> Result<()> {
    let reason = if name.is_empty() {
        "empty"
    } else if name.contains('=') {
        "contains '='"
    } else if name.contains('\0') {
        "contains NUL"
    } else {
        return Ok(());
    };
    Err(Error::InvalidEnv {
        name: name.to_owned(),
        reason,
    })
}

impl RuntimeOptions {
    /// Checks what the options hold (environment names and values); values never appear in
    /// errors.
    pub(crate) fn validate(&self) -> Result<()> {
        for name in self.env.keys().chain(self.env_allow.iter()) {
            validate_env_name(name)?;
        }
        for (name, value) in &self.env {
            if value.contains('\0') {
                return Err(Error::InvalidEnv {
                    name: name.clone(),
                    reason: "its value contains NUL",
                });
            }
        }
        Ok(())
    }

    /// The directory of `key`.
    pub(crate) fn tenant_dir(&self, key: &str) -> PathBuf {
        match &self.source {
            TenantSource::Directory { root } => root.join(key),
        }
    }
}
