//! Shared test support: a clock on Tokio's (pausable) time, a faulty lease store, and a
//! checker of shard beliefs.
#![allow(dead_code)]

pub mod cases;
pub mod chaos;

use async_trait::async_trait;
use berth_core::{Clock, Lease, LeaseStore, MachineId, Result, RunnerEntry, Timestamp};
use berth_runner_storage::{ShardEvent, ShardId};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;
use tokio::time::Instant;

/// A store clock that reads Tokio's time, so that a paused runtime moves the store's clock
/// and the keepers' timers together (auto-advance included).
#[derive(Debug)]
pub struct TokioClock {
    base: Timestamp,
    start: Instant,
}

impl TokioClock {
    pub fn new() -> Arc<Self> {
        Arc::new(TokioClock {
            base: Timestamp::from_millis(1_700_000_000_000),
            start: Instant::now(),
        })
    }
}

impl Clock for TokioClock {
    fn now(&self) -> Timestamp {
        self.base.plus(self.start.elapsed())
    }
}

const OK: u8 = 0;
const HANG: u8 = 1;
const FAIL: u8 = 2;

/// Wraps a lease store; while told to, its calls never return (`Hang`) or fail (`Fail`).
pub struct Faulty {
    inner: Arc<dyn LeaseStore>,
    mode: Arc<AtomicU8>,
    calls: Arc<std::sync::atomic::AtomicU64>,
}

/// Switches a [`Faulty`] store.
#[derive(Clone)]
pub struct FaultSwitch {
    mode: Arc<AtomicU8>,
    calls: Arc<std::sync::atomic::AtomicU64>,
}

impl FaultSwitch {
    pub fn hang(&self) {
        self.mode.store(HANG, Ordering::SeqCst);
    }
    pub fn fail(&self) {
        self.mode.store(FAIL, Ordering::SeqCst);
    }
    pub fn heal(&self) {
        self.mode.store(OK, Ordering::SeqCst);
    }
    /// Calls that reached the wrapper (hung or failed ones included).
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }
}

impl Faulty {
    pub fn wrap(inner: Arc<dyn LeaseStore>) -> (Arc<dyn LeaseStore>, FaultSwitch) {
        let mode = Arc::new(AtomicU8::new(OK));
        let calls = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let switch = FaultSwitch {
            mode: mode.clone(),
            calls: calls.clone(),
        };
        (Arc::new(Faulty { inner, mode, calls }), switch)
    }

    async fn gate(&self) -> Result<()> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        match self.mode.load(Ordering::SeqCst) {
            HANG => std::future::pending().await,
            FAIL => Err(berth_core::Error::backend_msg("injected failure", true)),
            _ => Ok(()),
        }
    }
}

#[async_trait]
impl LeaseStore for Faulty {
    async fn register(&self, address: &str, runner: &str, healthy: bool) -> Result<MachineId> {
        self.gate().await?;
        self.inner.register(address, runner, healthy).await
    }
    async fn unregister(&self, address: &str) -> Result<()> {
        self.gate().await?;
        self.inner.unregister(address).await
    }
    async fn runners(&self) -> Result<Vec<RunnerEntry>> {
        self.gate().await?;
        self.inner.runners().await
    }
    async fn set_health(&self, address: &str, healthy: bool) -> Result<()> {
        self.gate().await?;
        self.inner.set_health(address, healthy).await
    }
    async fn acquire(&self, owner: &str, shards: &[String], ttl: Duration) -> Result<Vec<Lease>> {
        self.gate().await?;
        self.inner.acquire(owner, shards, ttl).await
    }
    async fn refresh(&self, owner: &str, shards: &[String], ttl: Duration) -> Result<Vec<Lease>> {
        self.gate().await?;
        self.inner.refresh(owner, shards, ttl).await
    }
    async fn release(&self, owner: &str, shard: &str) -> Result<()> {
        self.gate().await?;
        self.inner.release(owner, shard).await
    }
    async fn release_all(&self, owner: &str) -> Result<()> {
        self.gate().await?;
        self.inner.release_all(owner).await
    }
    async fn lease(&self, shard: &str) -> Result<Option<Lease>> {
        self.gate().await?;
        self.inner.lease(shard).await
    }
    async fn held_by(&self, owner: &str) -> Result<Vec<Lease>> {
        self.gate().await?;
        self.inner.held_by(owner).await
    }
}

/// One belief: `runner` held `shard` under `token` during `[from, until)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Belief {
    pub runner: String,
    pub shard: String,
    pub token: u64,
    pub from: f64,
    pub until: f64,
}

/// Proves that no two runners believed in one shard at the same time and that each shard's
/// tokens grow with time. Returns the number of beliefs checked.
pub fn check_beliefs(beliefs: &[Belief]) -> std::result::Result<usize, String> {
    let mut per_shard: BTreeMap<&str, Vec<&Belief>> = BTreeMap::new();
    for b in beliefs {
        if b.until < b.from {
            return Err(format!("belief ends before it starts: {b:?}"));
        }
        per_shard.entry(&b.shard).or_default().push(b);
    }
    for (shard, mut list) in per_shard {
        list.sort_by(|a, b| a.from.total_cmp(&b.from));
        for pair in list.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            if b.from < a.until {
                return Err(format!(
                    "shard {shard}: overlapping beliefs {a:?} and {b:?}"
                ));
            }
            if b.token <= a.token {
                return Err(format!(
                    "shard {shard}: token did not increase: {a:?} then {b:?}"
                ));
            }
        }
    }
    Ok(beliefs.len())
}

/// Collects a keeper's events into beliefs, in seconds since `origin`.
pub struct Recorder {
    runner: String,
    origin: Instant,
    open: BTreeMap<ShardId, (u64, f64)>,
    pub done: Vec<Belief>,
    pub gained: usize,
    pub lost: Vec<(ShardId, berth_runner_storage::LossReason, f64)>,
}

impl Recorder {
    pub fn new(runner: &str, origin: Instant) -> Self {
        Recorder {
            runner: runner.to_owned(),
            origin,
            open: BTreeMap::new(),
            done: Vec::new(),
            gained: 0,
            lost: Vec::new(),
        }
    }

    fn secs(&self, t: Instant) -> f64 {
        t.duration_since(self.origin).as_secs_f64()
    }

    pub fn record(&mut self, e: ShardEvent) {
        match e {
            ShardEvent::Gained { shard, token, at } => {
                self.gained += 1;
                let from = self.secs(at);
                assert!(
                    self.open.insert(shard, (token, from)).is_none(),
                    "gained twice"
                );
            }
            ShardEvent::Lost {
                shard,
                token,
                reason,
                at,
            } => {
                let until = self.secs(at);
                let (t, from) = self.open.remove(&shard).expect("lost a shard never gained");
                assert_eq!(t, token, "lost token differs from gained token");
                self.lost.push((shard.clone(), reason, until));
                self.done.push(Belief {
                    runner: self.runner.clone(),
                    shard: shard.to_string(),
                    token,
                    from,
                    until,
                });
            }
        }
    }

    /// Reads every event until the keeper's channel closes.
    pub async fn drain(mut self, mut rx: broadcast::Receiver<ShardEvent>) -> Self {
        loop {
            match rx.recv().await {
                Ok(e) => self.record(e),
                Err(broadcast::error::RecvError::Closed) => return self,
                Err(broadcast::error::RecvError::Lagged(n)) => panic!("recorder lagged by {n}"),
            }
        }
    }

    /// Beliefs still open are closed at `until` (for keepers that never stopped).
    pub fn open_beliefs(&self) -> usize {
        self.open.len()
    }
}
