//! Adapters from the crate's hooks (observer, lock, worker manager, random source) to the
//! core trace recorder.

use async_trait::async_trait;
use berth_core::{Precondition, Result};
use berth_encryption::{EncryptionError, RandomSource};
use berth_runner_storage::{HeldKeys, KeyLock, LockGuard, StateObserver, WorkerManager};
use berth_testkit::trace::{DeterministicRandom, LockTicket, LogLevel, StagedKind, Tracer};
use serde_json::{json, Value};
use std::sync::Arc;
use std::sync::Mutex;

/// Deterministic random bytes as the crate's random source.
#[derive(Debug)]
pub struct Rand(DeterministicRandom);

impl Rand {
    pub fn new(seed: u64) -> Self {
        Rand(DeterministicRandom::new(seed))
    }
}

impl RandomSource for Rand {
    fn fill(&self, buf: &mut [u8]) -> std::result::Result<(), EncryptionError> {
        self.0.fill(buf);
        Ok(())
    }
}

/// Batches, staged ops and log lines into the tracer.
#[derive(Debug)]
pub struct TraceObserver(pub Tracer);

impl StateObserver for TraceObserver {
    fn batch_opened(&self) -> u64 {
        self.0.open_batch()
    }

    fn staged(
        &self,
        batch: u64,
        kind: berth_runner_storage::StagedKind,
        collection: &str,
        key: &str,
    ) {
        use berth_runner_storage::StagedKind as K;
        let kind = match kind {
            K::PutItem => StagedKind::PutItem,
            K::Put => StagedKind::Put,
            K::DeleteItem => StagedKind::DeleteItem,
            K::Delete => StagedKind::Delete,
            K::Check => StagedKind::Check,
        };
        self.0.stage(batch, kind, collection, key);
    }

    fn logged(&self, message: &str, data: &[(&'static str, Value)]) {
        let data = data
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
        self.0.log(LogLevel::Info, message, data);
    }
}

/// A keyed lock whose locks and releases are recorded.
#[derive(Debug)]
pub struct TracedLock {
    inner: Arc<dyn KeyLock>,
    tracer: Tracer,
}

impl TracedLock {
    pub fn new(inner: Arc<dyn KeyLock>, tracer: Tracer) -> Self {
        TracedLock { inner, tracer }
    }
}

struct TracedHeld {
    guard: LockGuard,
    ticket: LockTicket,
    tracer: Tracer,
}

#[async_trait]
impl HeldKeys for TracedHeld {
    fn fences(&self) -> Vec<Precondition> {
        self.guard.fences()
    }

    async fn release(self: Box<Self>) -> Result<()> {
        let outcome = self.guard.release().await;
        self.tracer.released(self.ticket);
        outcome
    }
}

#[async_trait]
impl KeyLock for TracedLock {
    async fn lock(&self, keys: &[String]) -> Result<LockGuard> {
        let guard = self.inner.lock(keys).await?;
        let ticket = self.tracer.locked(keys);
        Ok(LockGuard::new(Box::new(TracedHeld {
            guard,
            ticket,
            tracer: self.tracer.clone(),
        })))
    }
}

/// A worker manager that remembers what it was asked.
#[derive(Debug, Default)]
pub struct FakeManager {
    pub started: Mutex<Vec<(String, String)>>,
    pub stopped: Mutex<Vec<(String, String)>>,
}

#[async_trait]
impl WorkerManager for FakeManager {
    async fn start_worker(&self, project: &str, worker_id: &str) -> Result<()> {
        self.started
            .lock()
            .expect("manager lock")
            .push((project.to_owned(), worker_id.to_owned()));
        Ok(())
    }

    async fn stop_worker(&self, project: &str, worker_id: &str) -> Result<()> {
        self.stopped
            .lock()
            .expect("manager lock")
            .push((project.to_owned(), worker_id.to_owned()));
        Ok(())
    }
}

/// A worker manager whose calls are recorded as `workerManager.startWorker` / `stopWorker`.
#[derive(Debug)]
pub struct TracedManager {
    inner: Arc<dyn WorkerManager>,
    tracer: Tracer,
}

impl TracedManager {
    pub fn new(inner: Arc<dyn WorkerManager>, tracer: Tracer) -> Self {
        TracedManager { inner, tracer }
    }
}

#[async_trait]
impl WorkerManager for TracedManager {
    async fn start_worker(&self, project: &str, worker_id: &str) -> Result<()> {
        let outcome = self.inner.start_worker(project, worker_id).await;
        self.tracer.call(
            "workerManager.startWorker",
            vec![json!(project), json!(worker_id)],
            outcome.as_ref().err().map(ToString::to_string),
        );
        outcome
    }

    async fn stop_worker(&self, project: &str, worker_id: &str) -> Result<()> {
        let outcome = self.inner.stop_worker(project, worker_id).await;
        self.tracer.call(
            "workerManager.stopWorker",
            vec![json!(project), json!(worker_id)],
            outcome.as_ref().err().map(ToString::to_string),
        );
        outcome
    }
}
