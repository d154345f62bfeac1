//! [`Tracer`]: the shared recording and its hooks.

use super::render::render;
use super::step::{LogLevel, StagedKind, Step};
use berth_core::Record;
use berth_core::Store;
use berth_core::{Batch, OpKind};
use parking_lot::Mutex;
use serde_json::Value;
use std::sync::Arc;

/// One recording of everything a service did; clones share it.
#[derive(Debug, Clone, Default)]
pub struct Tracer {
    state: Arc<Mutex<State>>,
}

/// The step that took a lock, to report its release with [`Tracer::released`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockTicket(usize);

#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) steps: Vec<Step>,
    /// `(index of the first step, name)` of every section.
    pub(crate) sections: Vec<(usize, String)>,
    batches: u64,
    open: Vec<OpenBatch>,
}

#[derive(Debug)]
struct OpenBatch {
    id: u64,
    staged: Vec<usize>,
}

impl State {
    fn push(&mut self, step: Step) -> usize {
        self.steps.push(step);
        self.steps.len() - 1
    }
}

fn dedup(keys: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(keys.len());
    for key in keys {
        if !out.contains(key) {
            out.push(key.clone());
        }
    }
    out
}

impl Tracer {
    /// An empty recording.
    pub fn new() -> Self {
        Tracer::default()
    }

    /// `store` with its record store wrapped so that reads and commits are recorded here.
    ///
    /// The new handle has in-process locks of its own and generic pack-run stores over the
    /// traced records.
    pub fn store(&self, store: &Store) -> Store {
        let records = Arc::new(super::TracedRecords::new(
            store.records().clone(),
            self.clone(),
        ));
        Store::builder(
            store.backend(),
            records,
            store.leases().clone(),
            store.capabilities(),
            store.options().clone(),
        )
        .build()
    }

    /// Starts a section (rendered as a `##` heading), such as `act`.
    pub fn section(&self, name: &str) {
        let mut state = self.state.lock();
        let at = state.steps.len();
        state.sections.push((at, name.to_owned()));
    }

    /// Records that `keys` were locked (in the caller's order, duplicates once).
    pub fn locked(&self, keys: &[String]) -> LockTicket {
        let mut state = self.state.lock();
        LockTicket(state.push(Step::Locked {
            keys: dedup(keys),
            released_at: None,
        }))
    }

    /// Records the release of the lock taken at `ticket`.
    pub fn released(&self, ticket: LockTicket) {
        let mut state = self.state.lock();
        let keys = match state.steps.get(ticket.0) {
            Some(Step::Locked { keys, .. }) => keys.clone(),
            _ => return,
        };
        let at = state.push(Step::Released {
            keys,
            locked_at: ticket.0,
        });
        if let Some(Step::Locked { released_at, .. }) = state.steps.get_mut(ticket.0) {
            *released_at = Some(at);
        }
    }

    /// Opens a batch and returns its id (1, 2, … in the order batches are opened).
    pub fn open_batch(&self) -> u64 {
        let mut state = self.state.lock();
        state.batches += 1;
        let id = state.batches;
        state.open.push(OpenBatch {
            id,
            staged: Vec::new(),
        });
        id
    }

    /// Records an op staged into batch `batch`; its value is taken from the commit.
    pub fn stage(&self, batch: u64, kind: StagedKind, collection: &str, key: &str) {
        let mut state = self.state.lock();
        let at = state.push(Step::Staged {
            kind,
            collection: collection.to_owned(),
            key: key.to_owned(),
            value: None,
            batch,
            written_at: None,
        });
        if let Some(open) = state.open.iter_mut().find(|b| b.id == batch) {
            open.staged.push(at);
        }
    }

    /// Records a call to a collaborator (`name` such as `workerManager.startWorker`).
    pub fn call(&self, name: &str, args: Vec<Value>, error: Option<String>) {
        self.state.lock().push(Step::Call {
            name: name.to_owned(),
            args,
            error,
        });
    }

    /// Records a log line with its structured data, in the given field order.
    pub fn log(&self, level: LogLevel, message: &str, data: Vec<(String, Value)>) {
        self.state.lock().push(Step::Log {
            level,
            message: message.to_owned(),
            data,
        });
    }

    pub(crate) fn get_item(&self, collection: &str, key: &str, result: Option<Record>) {
        self.state.lock().push(Step::GetItem {
            collection: collection.to_owned(),
            key: key.to_owned(),
            result,
        });
    }

    pub(crate) fn get_many(&self, collection: &str, keys: &[String], result: Vec<Record>) {
        self.state.lock().push(Step::GetMany {
            collection: collection.to_owned(),
            keys: keys.to_vec(),
            result,
        });
    }

    pub(crate) fn scan(
        &self,
        collection: &str,
        all: bool,
        description: String,
        result: Vec<Record>,
    ) {
        self.state.lock().push(Step::Scan {
            collection: collection.to_owned(),
            all,
            description,
            result,
        });
    }

    pub(crate) fn count(&self, collection: &str, prefix: &str, result: u64) {
        self.state.lock().push(Step::Count {
            collection: collection.to_owned(),
            prefix: prefix.to_owned(),
            result,
        });
    }

    /// Records a commit: links it to the open batch whose staged ops are exactly its ops, or
    /// records its ops now as a batch nobody staged.
    pub(crate) fn committed(&self, batch: &Batch, error: Option<String>) {
        let mut guard = self.state.lock();
        let state = &mut *guard;
        let mut wanted: Vec<(&str, &str)> = batch
            .ops()
            .iter()
            .map(|op| (op.collection.as_str(), op.key.as_str()))
            .collect();
        wanted.sort_unstable();
        let found = state.open.iter().position(|open| {
            let mut staged: Vec<(&str, &str)> = open
                .staged
                .iter()
                .filter_map(|&i| match &state.steps[i] {
                    Step::Staged {
                        collection, key, ..
                    } => Some((collection.as_str(), key.as_str())),
                    _ => None,
                })
                .collect();
            staged.sort_unstable();
            staged == wanted
        });
        let staged = match found {
            Some(i) => {
                let open = state.open.remove(i);
                let mut remaining: Vec<usize> = open.staged.clone();
                for op in batch.ops() {
                    let pos = remaining.iter().position(|&s| {
                        matches!(&state.steps[s], Step::Staged { collection, key, .. }
                            if *collection == op.collection && *key == op.key)
                    });
                    if let Some(pos) = pos {
                        let s = remaining.remove(pos);
                        if let (Step::Staged { value, .. }, OpKind::Put(v)) =
                            (&mut state.steps[s], &op.kind)
                        {
                            *value = Some(v.clone());
                        }
                    }
                }
                open.staged
            }
            None => {
                state.batches += 1;
                let id = state.batches;
                let mut staged = Vec::with_capacity(batch.len());
                for op in batch.ops() {
                    let (kind, value) = match &op.kind {
                        OpKind::Put(v) => (StagedKind::Put, Some(v.clone())),
                        OpKind::Delete => (StagedKind::Delete, None),
                        OpKind::Check => (StagedKind::Check, None),
                    };
                    staged.push(state.push(Step::Staged {
                        kind,
                        collection: op.collection.clone(),
                        key: op.key.clone(),
                        value,
                        batch: id,
                        written_at: None,
                    }));
                }
                staged
            }
        };
        let failed = error.is_some();
        let at = state.push(Step::Write {
            ops: staged.clone(),
            error,
        });
        if !failed {
            for s in staged {
                if let Step::Staged { written_at, .. } = &mut state.steps[s] {
                    *written_at = Some(at);
                }
            }
        }
    }

    /// The recording as markdown in the format of seed 000's traces.
    pub fn render(&self) -> String {
        render(&self.state.lock())
    }

    /// Number of steps recorded so far.
    pub fn len(&self) -> usize {
        self.state.lock().steps.len()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
