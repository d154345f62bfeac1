use crate::error::Result;
use crate::fence::Fence;
use crate::time::Timestamp;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Severity of a log entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// trace
    Trace,
    /// debug
    Debug,
    /// info
    Info,
    /// warn
    Warn,
    /// error
    Error,
}

/// One log line of a run (seed 002's `pack_run_logs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogEntry {
    /// The run.
    pub run_id: String,
    /// Monotonic counter assigned by the writer.
    pub sequence: u64,
    /// When it happened.
    pub timestamp: Timestamp,
    /// Severity.
    pub level: LogLevel,
    /// Machine-friendly event id (`step.started`).
    pub event_type: String,
    /// Human-readable summary.
    pub message: String,
    /// The step, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_id: Option<String>,
    /// String-only key/value payload.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

/// Storage of run logs, idempotent on (run, sequence).
#[async_trait]
pub trait LogStore: Send + Sync {
    /// Appends entries; an entry equal to the stored one is a no-op, a different entry under a
    /// used sequence is a [`Conflict`](crate::Error::Conflict) and nothing is written.
    /// Returns how many entries were new.
    async fn append(&self, entries: &[LogEntry]) -> Result<usize>;
    /// [`append`](LogStore::append) made on behalf of the run's owner: applies only while
    /// `fence` is current, checked in the same transaction
    /// ([`StaleFence`](crate::Error::StaleFence) and nothing written otherwise).
    async fn append_fenced(&self, entries: &[LogEntry], fence: &Fence) -> Result<usize>;
    /// Entries of `run` with sequence greater than `after`, ascending, at most `limit`.
    async fn read(&self, run: &str, after: Option<u64>, limit: usize) -> Result<Vec<LogEntry>>;
    /// The highest sequence stored for `run`.
    async fn last_sequence(&self, run: &str) -> Result<Option<u64>>;
}
