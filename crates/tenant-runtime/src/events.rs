//! What the runtime reports: transitions (with exit reasons), metrics and log lines.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use berth_core::Timestamp;

/// Why a tenant process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExitReason {
    /// It exited on its own with a non-zero code or a signal nobody here sent.
    Crashed,
    /// It exited on its own with code 0.
    ExitedClean,
    /// The sweeper stopped it after `idle_after` without `ensure`/`touch`.
    IdleKilled,
    /// A start of another tenant at `max_concurrent` evicted it (least recently used).
    LruEvicted,
    /// [`Runtime::kill`](crate::Runtime::kill) stopped it.
    Killed,
    /// It did not pass the readiness check in time (or the check gave up); stopped during start.
    ReadinessTimeout,
    /// [`Runtime::dispose`](crate::Runtime::dispose) stopped it.
    Disposed,
    /// [`Runtime::restart`](crate::Runtime::restart) stopped it to start a fresh one.
    Restarted,
    /// A restarted host found it running but could not adopt it, and stopped it.
    Orphaned,
}

impl ExitReason {
    /// Every reason, in a stable order.
    pub const ALL: [ExitReason; 9] = [
        ExitReason::Crashed,
        ExitReason::ExitedClean,
        ExitReason::IdleKilled,
        ExitReason::LruEvicted,
        ExitReason::Killed,
        ExitReason::ReadinessTimeout,
        ExitReason::Disposed,
        ExitReason::Restarted,
        ExitReason::Orphaned,
    ];

    /// The kebab-case name (`readiness-timeout`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            ExitReason::Crashed => "crashed",
            ExitReason::ExitedClean => "exited-clean",
            ExitReason::IdleKilled => "idle-killed",
            ExitReason::LruEvicted => "lru-evicted",
            ExitReason::Killed => "killed",
            ExitReason::ReadinessTimeout => "readiness-timeout",
            ExitReason::Disposed => "disposed",
            ExitReason::Restarted => "restarted",
            ExitReason::Orphaned => "orphaned",
        }
    }
}

impl fmt::Display for ExitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A change in a tenant's (or the runtime's) life.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Transition {
    /// A process was started for `key`.
    Spawn {
        /// The key.
        key: String,
        /// Its pid (also its process group id).
        pid: u32,
        /// Its port.
        port: u16,
        /// Whether it was handed a bound listening socket (`LISTEN_FDS`).
        handover: bool,
    },
    /// The process passed its readiness check.
    Ready {
        /// The key.
        key: String,
        /// Its pid.
        pid: u32,
        /// Its port.
        port: u16,
        /// From spawn to ready.
        duration: Duration,
    },
    /// The sweeper decided to stop an idle tenant (an `Exit` with `IdleKilled` follows).
    IdleKill {
        /// The key.
        key: String,
        /// Its pid.
        pid: u32,
        /// Time since it was last used.
        idle: Duration,
    },
    /// A start at `max_concurrent` evicts this tenant (an `Exit` with `LruEvicted` follows).
    LruEvict {
        /// The key.
        key: String,
        /// Its pid.
        pid: u32,
    },
    /// The process (and its whole process group) is gone.
    Exit {
        /// The key.
        key: String,
        /// Its pid.
        pid: u32,
        /// Its exit code, if it exited normally (unknown for adopted processes).
        exit_code: Option<i32>,
        /// The signal that ended it, if any.
        signal: Option<i32>,
        /// Why it ended.
        reason: ExitReason,
    },
    /// Stopping a tenant's processes ended with some still alive after SIGKILL and its
    /// deadline (a process in uninterruptible sleep, one outside the runtime's reach).
    StopIncomplete {
        /// The key.
        key: String,
        /// The leader's pid.
        pid: u32,
        /// The processes left alive.
        survivors: Vec<u32>,
    },
    /// The write-ahead record of a start is stored; the process is spawned next.
    Starting {
        /// The key.
        key: String,
        /// The start's id (its processes carry it as `BERTH_TENANT_START_ID`).
        start_id: String,
    },
    /// A tenant record could not be decoded at recovery; it was moved to the quarantine
    /// collection (`<records_collection>-quarantine`) and the rest recovered.
    Quarantined {
        /// The record's key.
        key: String,
        /// Why it could not be decoded.
        error: String,
    },
    /// A failure was counted against `key`; `ensure` refuses it until `retry_after` has passed.
    Backoff {
        /// The key.
        key: String,
        /// Consecutive failures.
        attempt: u32,
        /// Length of the window (`None` when `max_failures` is reached: refused until cleared).
        retry_after: Option<Duration>,
        /// What failed.
        error: String,
    },
    /// `drain` was called.
    Drain,
    /// Draining finished: no tenant process is left.
    Drained,
    /// A restarted host adopted a live tenant process from the records.
    Adopted {
        /// The key.
        key: String,
        /// Its pid.
        pid: u32,
        /// Its port.
        port: u16,
    },
}

/// A measurement.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum MetricEvent {
    /// A tenant became ready; `duration` is spawn to ready.
    Spawn {
        /// The key.
        key: String,
        /// Its pid.
        pid: u32,
        /// Its port.
        port: u16,
        /// From spawn to ready.
        duration: Duration,
    },
    /// A periodic `/proc` observation of a running tenant's whole process group.
    Observation {
        /// The key.
        key: String,
        /// The group leader's pid.
        pid: u32,
        /// CPU time used by the group since spawn (user + system, reaped children included).
        cpu_ms: u64,
        /// Resident memory summed over the group's live processes.
        rss_bytes: u64,
        /// Live processes in the group.
        processes: u32,
        /// When it was taken.
        at: Timestamp,
    },
}

/// Which output stream a log line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LogStream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// One line a tenant wrote, without its line ending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEvent {
    /// The key.
    pub key: String,
    /// The writing process group's leader.
    pub pid: u32,
    /// The stream.
    pub stream: LogStream,
    /// The line (invalid UTF-8 replaced; very long lines are cut in pieces).
    pub line: String,
    /// When it was read.
    pub at: Timestamp,
}

/// A callback receiving events; it must not block (send into a channel if work is needed).
pub type Callback<T> = Arc<dyn Fn(&T) + Send + Sync>;

/// Where the runtime sends its events.
#[derive(Clone, Default)]
pub(crate) struct Sinks {
    pub(crate) log: Option<Callback<LogEvent>>,
    pub(crate) metrics: Option<Callback<MetricEvent>>,
    pub(crate) transition: Option<Callback<Transition>>,
}

/// Calls `cb` and keeps a panicking callback from taking the runtime down.
fn call<T>(cb: &Option<Callback<T>>, event: &T) {
    if let Some(cb) = cb {
        if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cb(event))).is_err() {
            tracing::warn!("tenant runtime event callback panicked");
        }
    }
}

impl Sinks {
    pub(crate) fn log(&self, event: LogEvent) {
        call(&self.log, &event);
    }

    pub(crate) fn metric(&self, event: MetricEvent) {
        call(&self.metrics, &event);
    }

    pub(crate) fn transition(&self, event: Transition) {
        tracing::debug!(?event, "tenant transition");
        call(&self.transition, &event);
    }
}
