//! Point-in-time stats and cumulative counters of a runtime.

use crate::events::ExitReason;
use berth_core::Timestamp;
use std::collections::BTreeMap;
use std::time::Duration;

/// A point-in-time snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RuntimeStats {
    /// Tenants that passed readiness and are running.
    pub running: usize,
    /// Running plus starting.
    pub total: usize,
    /// Whether the runtime is draining.
    pub draining: bool,
    /// Keys currently refused because of failures (inside a window or at the cap).
    pub backoff: usize,
}

/// Snapshot plus counters since the runtime was created (they survive `dispose`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RuntimeMetrics {
    /// The point-in-time part.
    pub stats: RuntimeStats,
    /// Processes started.
    pub total_spawns: u64,
    /// Exits by reason (every reason present, zeros included).
    pub total_exits: BTreeMap<ExitReason, u64>,
    /// Failures counted against keys (one key failing 5 times counts 5).
    pub total_backoff_entries: u64,
    /// Spawn-to-ready time of the latest tenant that became ready.
    pub last_spawn: Option<Duration>,
    /// When that tenant was started.
    pub last_spawn_at: Option<Timestamp>,
    /// Tenants adopted from the records at start.
    pub adopted: u64,
}

/// The cumulative counters, kept in the runtime's state.
#[derive(Debug, Clone, Default)]
pub(crate) struct Counters {
    pub(crate) spawns: u64,
    pub(crate) exits: BTreeMap<ExitReason, u64>,
    pub(crate) backoff_entries: u64,
    pub(crate) last_spawn: Option<Duration>,
    pub(crate) last_spawn_at: Option<Timestamp>,
    pub(crate) adopted: u64,
}

impl Counters {
    pub(crate) fn to_metrics(&self, stats: RuntimeStats) -> RuntimeMetrics {
        let mut total_exits: BTreeMap<ExitReason, u64> =
            ExitReason::ALL.iter().map(|r| (*r, 0)).collect();
        for (reason, n) in &self.exits {
            total_exits.insert(*reason, *n);
        }
        RuntimeMetrics {
            stats,
            total_spawns: self.spawns,
            total_exits,
            total_backoff_entries: self.backoff_entries,
            last_spawn: self.last_spawn,
            last_spawn_at: self.last_spawn_at,
            adopted: self.adopted,
        }
    }
}
