//! The steps a [`Tracer`](super::Tracer) records.

use berth_core::Record;
use serde_json::Value;

/// How a staged batch op was made, as the caller saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StagedKind {
    /// A typed item put (`Collection::put_in`): rendered with its id and meta.
    PutItem,
    /// A raw put (`Collection::put_raw_in`), such as an empty index entry.
    Put,
    /// A typed item delete.
    DeleteItem,
    /// A raw delete.
    Delete,
    /// A check that writes nothing.
    Check,
}

/// Severity of a recorded log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    /// Informational.
    Info,
    /// Something unexpected but handled.
    Warn,
}

/// One recorded step; numbers are 1-based positions in the recording.
#[derive(Debug, Clone)]
pub(crate) enum Step {
    Locked {
        keys: Vec<String>,
        released_at: Option<usize>,
    },
    Released {
        keys: Vec<String>,
        locked_at: usize,
    },
    GetItem {
        collection: String,
        key: String,
        result: Option<Record>,
    },
    GetMany {
        collection: String,
        keys: Vec<String>,
        result: Vec<Record>,
    },
    Scan {
        collection: String,
        all: bool,
        description: String,
        result: Vec<Record>,
    },
    Count {
        collection: String,
        prefix: String,
        result: u64,
    },
    Staged {
        kind: StagedKind,
        collection: String,
        key: String,
        value: Option<Value>,
        batch: u64,
        written_at: Option<usize>,
    },
    Write {
        ops: Vec<usize>,
        error: Option<String>,
    },
    Call {
        name: String,
        args: Vec<Value>,
        error: Option<String>,
    },
    Log {
        level: LogLevel,
        message: String,
        data: Vec<(String, Value)>,
    },
}
