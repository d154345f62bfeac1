//! What the runner's tests share: a memory store, a plan read from JSON, and a runner whose
//! artifacts go under the test's directory.
#![allow(dead_code)]

use berth_core::packrun::LogEntry;
use berth_core::{OpenOptions, Store};
use berth_packrun::{LoadedPlan, PackRunner, RunnerOptions};
use tokio::sync::mpsc;

/// A fresh memory store.
pub fn store() -> Store {
    berth_state_memory::open(OpenOptions::default())
}

/// `json` as a plan loaded from `dir`.
pub fn plan(dir: &tempfile::TempDir, json: &str) -> LoadedPlan {
    LoadedPlan::from_json(json, dir.path().to_owned(), "test").unwrap()
}

/// Runner options with artifacts under `dir` (the rest default).
pub fn options(dir: &tempfile::TempDir) -> RunnerOptions {
    RunnerOptions {
        artifacts_root: dir.path().join("artifacts"),
        tenant: None,
        ..RunnerOptions::default()
    }
}

/// A runner over `store` whose every log entry also reaches the returned receiver.
pub fn runner(
    store: &Store,
    dir: &tempfile::TempDir,
) -> (PackRunner, mpsc::UnboundedReceiver<LogEntry>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let options = RunnerOptions {
        observer: Some(tx),
        ..options(dir)
    };
    (PackRunner::new(store.clone(), options), rx)
}
