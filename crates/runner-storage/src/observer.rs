//! [`StateObserver`]: what the services of this crate report as they work.

use serde_json::Value;
use std::fmt;

/// How a staged batch op was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StagedKind {
    /// A typed item put.
    PutItem,
    /// A raw put (an index entry).
    Put,
    /// A typed item delete.
    DeleteItem,
    /// A raw delete (an index entry).
    Delete,
    /// A check that writes nothing (the fence of a lease-backed lock).
    Check,
}

/// Receives what the worker registry and instance secrets do besides storage calls: the
/// batches they open, each op as it is staged (its value is not passed: it may be secret), and
/// their log lines with structured data. Every method does nothing by default.
///
/// Audit trails and replayable traces hang off this; production code needs none.
pub trait StateObserver: Send + Sync + fmt::Debug {
    /// A batch was opened; returns an id for it.
    fn batch_opened(&self) -> u64 {
        0
    }

    /// `kind` on `collection`/`key` was staged into batch `batch`.
    fn staged(&self, batch: u64, kind: StagedKind, collection: &str, key: &str) {
        let _ = (batch, kind, collection, key);
    }

    /// An info line was logged with `data` (field order kept).
    fn logged(&self, message: &str, data: &[(&'static str, Value)]) {
        let _ = (message, data);
    }
}

/// The observer that observes nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoObserver;

impl StateObserver for NoObserver {}

/// Logs `message` through `tracing` (data as JSON) and reports it to `observer`.
pub(crate) fn info(observer: &dyn StateObserver, message: &str, data: &[(&'static str, Value)]) {
    if tracing::enabled!(tracing::Level::INFO) {
        let fields: serde_json::Map<String, Value> = data
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
        let data = Value::Object(fields);
        tracing::info!(%data, "{message}");
    }
    observer.logged(message, data);
}
