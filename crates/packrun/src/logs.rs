//! The run's log writer: one sequence counter, deduplication on resume, batched appends.
//!
//! Every entry gets the next sequence of the run, in the order it is emitted, and one writer
//! task appends them in that order (several per append when lines come fast), so the stored
//! sequences are always a gap-free prefix and `logs --follow --after N` never misses a line.
//!
//! Entries about a step carry a deterministic `key` in their metadata:
//! `out/<step>/<attempt>/<stream>/<line>` for command output, `evt/<step>/<attempt>/<event>`
//! for step events. After a crash the interrupted stage runs again (at-least-once steps);
//! the writer is loaded with every key already stored and drops an entry whose key is
//! there, so a line that was logged before the crash is not logged again under a new
//! sequence. Lines the killed process had not stored yet are logged by the rerun.
//!
//! With a [`Masker`], every message and metadata value (but the key) has the run's secret
//! values masked before it is queued, so neither the store nor an observer ever sees them.

use crate::mask::Masker;
use crate::owned::OwnedWrites;
use berth_core::packrun::{LogEntry, LogLevel};
use berth_core::Store;
use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};

/// Most entries in one append.
const BATCH: usize = 256;
/// Page size when loading the stored keys.
const PAGE: usize = 1000;

enum Msg {
    Entry(LogEntry),
    Flush(oneshot::Sender<Result<(), String>>),
}

struct Counter {
    next: u64,
    seen: HashSet<String>,
}

/// Appends a run's log entries; cheap to clone.
#[derive(Clone)]
pub struct LogWriter {
    run_id: Arc<str>,
    store: Store,
    counter: Arc<Mutex<Counter>>,
    tx: mpsc::UnboundedSender<Msg>,
    masker: Masker,
}

impl std::fmt::Debug for LogWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogWriter")
            .field("run", &self.run_id)
            .finish()
    }
}

impl LogWriter {
    /// A writer for `run_id` continuing after the stored entries; `observer` sees every
    /// entry once it is stored.
    pub async fn open(
        owned: OwnedWrites,
        run_id: &str,
        observer: Option<mpsc::UnboundedSender<LogEntry>>,
    ) -> Result<LogWriter, berth_core::Error> {
        let store = owned.store().clone();
        let mut seen = HashSet::new();
        let mut after = None;
        let mut last = 0;
        loop {
            let page = store.logs().read(run_id, after, PAGE).await?;
            for e in &page {
                if let Some(k) = e.metadata.get("key") {
                    seen.insert(k.clone());
                }
                last = e.sequence;
            }
            match page.last() {
                Some(e) if page.len() == PAGE => after = Some(e.sequence),
                _ => break,
            }
        }
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(append_loop(owned, rx, observer));
        Ok(LogWriter {
            run_id: Arc::from(run_id),
            store,
            counter: Arc::new(Mutex::new(Counter {
                next: last + 1,
                seen,
            })),
            tx,
            masker: Masker::default(),
        })
    }

    /// This writer masking the secret values `masker` knows in everything it logs.
    pub fn with_masker(mut self, masker: Masker) -> LogWriter {
        self.masker = masker;
        self
    }

    /// The masker of this writer (masks nothing unless [`LogWriter::with_masker`] set one).
    pub fn masker(&self) -> &Masker {
        &self.masker
    }

    /// Queues an entry; with `key`, an entry already stored (or queued) under it is dropped.
    pub fn emit(
        &self,
        level: LogLevel,
        event_type: &str,
        message: impl Into<String>,
        step: Option<&str>,
        key: Option<String>,
        mut metadata: BTreeMap<String, String>,
    ) {
        let mut counter = match self.counter.lock() {
            Ok(c) => c,
            Err(poisoned) => poisoned.into_inner(),
        };
        let message = self.masker.masked(message.into());
        if !self.masker.is_empty() {
            for v in metadata.values_mut() {
                *v = self.masker.masked(std::mem::take(v));
            }
        }
        if let Some(k) = key {
            if !counter.seen.insert(k.clone()) {
                return;
            }
            metadata.insert("key".into(), k);
        }
        let sequence = counter.next;
        counter.next += 1;
        let entry = LogEntry {
            run_id: self.run_id.to_string(),
            sequence,
            timestamp: self.store.clock().now(),
            level,
            event_type: event_type.to_owned(),
            message,
            step_id: step.map(str::to_owned),
            metadata,
        };
        // Sent under the lock so the channel order is the sequence order.
        let _ = self.tx.send(Msg::Entry(entry));
    }

    /// A run-level event (no step, no key).
    pub fn event(&self, level: LogLevel, event_type: &str, message: impl Into<String>) {
        self.emit(level, event_type, message, None, None, BTreeMap::new());
    }

    /// A step event, logged once per (step, attempt, event).
    pub fn step_event(
        &self,
        level: LogLevel,
        event_type: &str,
        step: &str,
        attempt: u32,
        message: impl Into<String>,
    ) {
        let mut meta = BTreeMap::new();
        meta.insert("attempt".into(), attempt.to_string());
        self.emit(
            level,
            event_type,
            message,
            Some(step),
            Some(format!("evt/{step}/{attempt}/{event_type}")),
            meta,
        );
    }

    /// One line of a command's output, logged once per (step, attempt, stream, line).
    pub fn output(&self, step: &str, attempt: u32, stream: &str, line_no: u64, line: String) {
        let level = if stream == "stderr" {
            LogLevel::Warn
        } else {
            LogLevel::Info
        };
        let mut meta = BTreeMap::new();
        meta.insert("attempt".into(), attempt.to_string());
        meta.insert("stream".into(), stream.to_owned());
        meta.insert("line".into(), line_no.to_string());
        self.emit(
            level,
            "step.output",
            line,
            Some(step),
            Some(format!("out/{step}/{attempt}/{stream}/{line_no}")),
            meta,
        );
    }

    /// Waits until everything emitted so far is stored; the error of a failed append.
    pub async fn flush(&self) -> Result<(), String> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Msg::Flush(tx))
            .map_err(|_| "log writer stopped".to_owned())?;
        rx.await.map_err(|_| "log writer stopped".to_owned())?
    }
}

async fn append_loop(
    store: OwnedWrites,
    mut rx: mpsc::UnboundedReceiver<Msg>,
    observer: Option<mpsc::UnboundedSender<LogEntry>>,
) {
    let mut failed: Option<String> = None;
    let mut batch: Vec<LogEntry> = Vec::new();
    let mut waiters: Vec<oneshot::Sender<Result<(), String>>> = Vec::new();
    while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        while let Some(msg) = next.take() {
            match msg {
                Msg::Entry(e) => batch.push(e),
                Msg::Flush(w) => waiters.push(w),
            }
            if batch.len() >= BATCH {
                break;
            }
            next = rx.try_recv().ok();
        }
        if !batch.is_empty() && failed.is_none() {
            match store.append(&batch).await {
                Ok(_) => {
                    if let Some(o) = &observer {
                        for e in &batch {
                            let _ = o.send(e.clone());
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "appending run logs failed");
                    failed = Some(format!("appending logs failed: {e}"));
                }
            }
        }
        batch.clear();
        for w in waiters.drain(..) {
            let _ = w.send(match &failed {
                Some(e) => Err(e.clone()),
                None => Ok(()),
            });
        }
    }
}
