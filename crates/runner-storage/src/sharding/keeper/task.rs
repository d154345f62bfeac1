//! The keeper's loop: register, keep, and recover, with every belief bounded in time.
//!
//! Invariant: the keeper never believes it holds a shard after `start + ttl - margin`, where
//! `start` is the instant (on the keeper's clock, taken before the call was sent) of the last
//! acquire or refresh of that shard that succeeded. Every storage call is bounded by
//! `min(call_timeout, time left before the earliest such deadline)`, every wait ends at that
//! deadline, and a shard leaves the published set before its release is sent.

use super::config::KeeperConfig;
use super::event::{KeeperState, LossReason, ShardEvent};
use super::held::{HeldShard, HeldShards};
use crate::sharding::address::RunnerAddress;
use crate::sharding::assignment;
use crate::sharding::lease::ShardLease;
use crate::sharding::runner::Runner;
use crate::sharding::service::RunnerStorage;
use crate::sharding::shard::ShardId;
use berth_core::{Error, MachineId, Result};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::time::Duration;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;

/// Why a phase stopped early.
pub(crate) enum Stop {
    /// Shutdown was asked for.
    Shutdown,
    /// Storage failed or timed out, or the held leases ran out of validity.
    Failed(Error),
}

impl From<Error> for Stop {
    fn from(e: Error) -> Self {
        Stop::Failed(e)
    }
}

/// Runs `fut` for at most `budget`; a timeout is a retryable backend error.
async fn bounded<T>(
    op: &'static str,
    budget: Duration,
    fut: impl Future<Output = Result<T>>,
) -> Result<T> {
    match tokio::time::timeout(budget, fut).await {
        Ok(r) => r,
        Err(_) => Err(Error::backend_msg(
            format!("runner storage {op} timed out after {budget:?}"),
            true,
        )),
    }
}

/// Releases `shards` one call each, all at once: the contract has no bulk release, and
/// concurrent calls let a backend that group-commits (SQLite) write them together.
async fn release_each(
    storage: &RunnerStorage,
    me: &RunnerAddress,
    shards: Vec<ShardId>,
) -> Result<()> {
    let mut calls = JoinSet::new();
    for shard in shards {
        let (storage, me) = (storage.clone(), me.clone());
        calls.spawn(async move { storage.release(&me, &shard).await });
    }
    // Dropping the set on timeout aborts the calls still running.
    while let Some(joined) = calls.join_next().await {
        joined.map_err(|e| Error::backend_msg(format!("release task ended: {e}"), true))??;
    }
    Ok(())
}

/// Resolves once shutdown is asked for or the handle is gone.
async fn shutdown_signal(mut rx: watch::Receiver<bool>) {
    // Err means the handle was dropped, which also asks for shutdown.
    let _ = rx.wait_for(|stop| *stop).await;
}

fn ran_out() -> Error {
    Error::backend_msg(
        "held leases ran out of validity before storage answered",
        true,
    )
}

pub(crate) struct Keeper {
    pub(crate) storage: RunnerStorage,
    pub(crate) runner: Runner,
    pub(crate) config: KeeperConfig,
    pub(crate) held_tx: watch::Sender<HeldShards>,
    pub(crate) events: broadcast::Sender<ShardEvent>,
    pub(crate) shutdown: watch::Receiver<bool>,
    pub(crate) held: BTreeMap<ShardId, HeldShard>,
    pub(crate) state: KeeperState,
    pub(crate) machine_id: Option<MachineId>,
    pub(crate) rounds: u64,
    /// Leases found under this runner's address when the keeper started: a predecessor's
    /// (a crashed, or frozen, earlier process at the same address), never adopted, never
    /// released; only taken anew once they lapse, with a new token.
    pub(crate) inherited: BTreeSet<ShardId>,
    /// The shards assignment gave this runner in the last round.
    pub(crate) assigned: BTreeSet<ShardId>,
    /// Whether the predecessor's leases have been looked up.
    pub(crate) scanned: bool,
}

impl Keeper {
    /// Registers, keeps shards, recovers after failures, until shutdown; then releases all
    /// and unregisters.
    pub(crate) async fn run(mut self) -> Result<()> {
        loop {
            if self.register().await.is_err() {
                break;
            }
            if let Stop::Shutdown = self.keep().await {
                break;
            }
            if self.recover().await.is_err() {
                break;
            }
        }
        self.finish().await
    }

    fn ttl(&self) -> Duration {
        self.storage.ttl()
    }

    fn call_timeout(&self) -> Duration {
        self.config.call_timeout(self.ttl())
    }

    fn backoff_after(&self, backoff: Duration) -> Duration {
        (backoff * 2).min(self.config.refresh_interval)
    }

    fn earliest_valid_until(&self) -> Option<Instant> {
        self.held.values().map(|h| h.valid_until).min()
    }

    fn publish(&self) {
        self.held_tx.send_replace(HeldShards {
            shards: self.held.clone(),
            state: self.state,
            machine_id: self.machine_id,
            rounds: self.rounds,
        });
    }

    fn set_state(&mut self, state: KeeperState) {
        if self.state != state {
            tracing::info!(from = ?self.state, to = ?state, "shard keeper state");
            self.state = state;
            self.publish();
        }
    }

    /// Withdraws `shards` from the held set, publishes that, then reports them lost.
    fn lose(&mut self, shards: &[ShardId], reason: LossReason) {
        let gone: Vec<(ShardId, HeldShard)> = shards
            .iter()
            .filter_map(|s| self.held.remove(s).map(|h| (s.clone(), h)))
            .collect();
        if gone.is_empty() {
            return;
        }
        self.publish();
        let now = Instant::now();
        tracing::info!(shards = gone.len(), ?reason, "shards lost");
        for (shard, held) in gone {
            // No subscriber is not an error.
            let _ = self.events.send(ShardEvent::Lost {
                shard,
                token: held.token,
                reason,
                at: now.min(held.valid_until),
            });
        }
    }

    fn lose_all(&mut self, reason: LossReason) {
        let all: Vec<ShardId> = self.held.keys().cloned().collect();
        self.lose(&all, reason);
    }

    /// Adds the leases of an acquire that started at `start`, publishes, reports them gained.
    fn gain(&mut self, leases: Vec<ShardLease>, wanted: &[ShardId], start: Instant) {
        let valid_until = start + self.ttl() - self.config.safety_margin;
        let since = Instant::now();
        if since >= valid_until {
            return;
        }
        let me = self.runner.address();
        let mut gained = Vec::new();
        for l in leases {
            if &l.owner != me || !wanted.contains(&l.shard) || self.held.contains_key(&l.shard) {
                continue;
            }
            let held = HeldShard {
                token: l.token,
                since,
                valid_until,
            };
            self.held.insert(l.shard.clone(), held);
            gained.push((l.shard, l.token));
        }
        if gained.is_empty() {
            return;
        }
        self.publish();
        tracing::info!(shards = gained.len(), "shards gained");
        for (shard, token) in gained {
            let _ = self.events.send(ShardEvent::Gained {
                shard,
                token,
                at: since,
            });
        }
    }

    /// The time the next storage call may take; declares everything lost if none is left.
    fn budget(&mut self) -> std::result::Result<Duration, Stop> {
        let Some(until) = self.earliest_valid_until() else {
            return Ok(self.call_timeout());
        };
        let now = Instant::now();
        if until <= now {
            self.lose_all(LossReason::StorageFailure);
            return Err(Stop::Failed(ran_out()));
        }
        Ok((until - now).min(self.call_timeout()))
    }

    /// Waits until `t`, or less if held leases run out first (then they are declared lost).
    async fn wait_until(&mut self, t: Instant) -> std::result::Result<(), Stop> {
        let validity = self.earliest_valid_until();
        let target = validity.map_or(t, |v| v.min(t));
        tokio::select! {
            biased;
            () = shutdown_signal(self.shutdown.clone()) => return Err(Stop::Shutdown),
            () = tokio::time::sleep_until(target) => {}
        }
        if validity.is_some_and(|v| v <= Instant::now()) {
            tracing::warn!("held leases reached their validity limit without a refresh");
            self.lose_all(LossReason::StorageFailure);
            return Err(Stop::Failed(ran_out()));
        }
        Ok(())
    }

    fn shutdown_requested(&self) -> bool {
        *self.shutdown.borrow() || self.shutdown.has_changed().is_err()
    }

    async fn register(&mut self) -> std::result::Result<(), Stop> {
        self.set_state(KeeperState::Registering);
        let mut backoff = self.config.retry_backoff;
        loop {
            if self.shutdown_requested() {
                return Err(Stop::Shutdown);
            }
            let storage = self.storage.clone();
            let call = storage.register(&self.runner, true);
            match bounded("register", self.call_timeout(), call).await {
                Ok(id) => {
                    tracing::info!(machine_id = id.0, "runner registered");
                    self.machine_id = Some(id);
                    if self.scanned {
                        return Ok(());
                    }
                    let me = self.runner.address().clone();
                    match bounded("held_by", self.call_timeout(), storage.held_by(&me)).await {
                        Ok(found) => {
                            self.inherited = found.into_iter().map(|l| l.shard).collect();
                            self.scanned = true;
                            if !self.inherited.is_empty() {
                                tracing::warn!(
                                    shards = self.inherited.len(),
                                    "leases of an earlier process at this address; waiting for them to lapse"
                                );
                            }
                            return Ok(());
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "reading held leases failed; retrying")
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "registering failed; retrying"),
            }
            self.wait_until(Instant::now() + backoff).await?;
            backoff = self.backoff_after(backoff);
        }
    }

    /// Rounds every `refresh_interval` until shutdown, or until storage failed for so long
    /// that every shard was declared lost.
    ///
    /// While some assigned shards are still held elsewhere (their previous owner releases them
    /// at its next round, or they lapse), it retries acquiring just those four times per
    /// interval, so a handover takes about one interval rather than two.
    async fn keep(&mut self) -> Stop {
        self.set_state(KeeperState::Running);
        let interval = self.config.refresh_interval;
        let mut next = Instant::now();
        let mut retry: Option<Instant> = None;
        loop {
            let wake = retry.map_or(next, |r| r.min(next));
            if let Err(stop) = self.wait_until(wake).await {
                return stop;
            }
            let started = Instant::now();
            let step = if started < next {
                self.acquire_missing().await
            } else {
                next = started + interval;
                self.round().await
            };
            retry = if self.missing().is_empty() {
                None
            } else {
                Some(Instant::now() + interval / 4)
            };
            match step {
                Ok(()) => {}
                Err(Stop::Shutdown) => return Stop::Shutdown,
                Err(Stop::Failed(e)) => {
                    tracing::warn!(error = %e, held = self.held.len(), "storage failed; acquiring nothing until it answers");
                    match self.ride_out().await {
                        Ok(refreshed) => {
                            self.set_state(KeeperState::Running);
                            next = refreshed + interval;
                            retry = None;
                        }
                        Err(stop) => return stop,
                    }
                }
            }
        }
    }

    /// One round: refresh what is held, read the registry, release what moved away,
    /// acquire what is assigned.
    async fn round(&mut self) -> std::result::Result<(), Stop> {
        self.refresh_held().await?;
        let storage = self.storage.clone();
        let me = self.runner.address().clone();
        let budget = self.budget()?;
        let registered = bounded("runners", budget, storage.runners()).await?;
        let mut candidates = assignment::healthy(&registered);
        if !registered.iter().any(|r| r.runner.address() == &me) {
            tracing::warn!("runner is no longer registered; registering again");
            let budget = self.budget()?;
            let id = bounded("register", budget, storage.register(&self.runner, true)).await?;
            self.machine_id = Some(id);
            candidates.push(self.runner.clone());
        }
        let assigned = assignment::shards_for(&me, &candidates, self.config.shards_per_group)
            .map_err(Error::from)?;
        let surplus: Vec<ShardId> = self
            .held
            .keys()
            .filter(|s| !assigned.contains(*s))
            .cloned()
            .collect();
        if !surplus.is_empty() {
            // Withdrawn before the release is sent, so the next holder cannot overlap.
            self.lose(&surplus, LossReason::Rebalanced);
            let budget = self.budget()?;
            bounded("release", budget, release_each(&storage, &me, surplus)).await?;
        }
        if !self.inherited.is_empty() {
            let budget = self.budget()?;
            let live: BTreeSet<ShardId> = bounded("held_by", budget, storage.held_by(&me))
                .await?
                .into_iter()
                .map(|l| l.shard)
                .collect();
            self.inherited.retain(|s| live.contains(s));
        }
        self.assigned = assigned;
        self.acquire_missing().await?;
        self.rounds += 1;
        self.publish();
        Ok(())
    }

    /// Assigned shards not held (nor left by a predecessor at this address).
    fn missing(&self) -> Vec<ShardId> {
        self.assigned
            .iter()
            .filter(|s| !self.held.contains_key(*s) && !self.inherited.contains(*s))
            .cloned()
            .collect()
    }

    /// Acquires the assigned shards not held yet (some may still be another runner's).
    async fn acquire_missing(&mut self) -> std::result::Result<(), Stop> {
        let wanted = self.missing();
        if wanted.is_empty() {
            return Ok(());
        }
        let storage = self.storage.clone();
        let me = self.runner.address().clone();
        let budget = self.budget()?;
        let start = Instant::now();
        let leases = bounded("acquire", budget, storage.acquire(&me, &wanted)).await?;
        self.gain(leases, &wanted, start);
        Ok(())
    }

    /// Refreshes every held shard; those not returned with their token are lost. Holding
    /// nothing, it is the runner's heartbeat (its session's keepalive).
    async fn refresh_held(&mut self) -> std::result::Result<(), Stop> {
        if self.held.is_empty() {
            let storage = self.storage.clone();
            let me = self.runner.address().clone();
            let none: [ShardId; 0] = [];
            bounded(
                "heartbeat",
                self.call_timeout(),
                storage.refresh(&me, &none),
            )
            .await?;
            return Ok(());
        }
        let storage = self.storage.clone();
        let me = self.runner.address().clone();
        let shards: Vec<ShardId> = self.held.keys().cloned().collect();
        let budget = self.budget()?;
        let start = Instant::now();
        let leases = bounded("refresh", budget, storage.refresh(&me, &shards)).await?;
        let valid_until = start + self.ttl() - self.config.safety_margin;
        let returned: HashMap<ShardId, u64> = leases
            .into_iter()
            .filter(|l| l.owner == me)
            .map(|l| (l.shard, l.token))
            .collect();
        let mut taken = Vec::new();
        for (shard, held) in self.held.iter_mut() {
            if returned.get(shard) == Some(&held.token) {
                held.valid_until = held.valid_until.max(valid_until);
            } else {
                taken.push(shard.clone());
            }
        }
        if !taken.is_empty() {
            tracing::warn!(shards = taken.len(), "refresh did not return held shards");
            self.lose(&taken, LossReason::Taken);
        }
        self.publish();
        Ok(())
    }

    /// After a failure: keeps refreshing held shards while their validity allows. Returns
    /// the start of the refresh that succeeded, or stops once everything was declared lost.
    async fn ride_out(&mut self) -> std::result::Result<Instant, Stop> {
        self.set_state(KeeperState::Degraded);
        let mut backoff = self.config.retry_backoff;
        loop {
            if self.held.is_empty() {
                return Err(Stop::Failed(Error::backend_msg(
                    "storage failed while holding nothing",
                    true,
                )));
            }
            self.wait_until(Instant::now() + backoff).await?;
            let start = Instant::now();
            match self.refresh_held().await {
                Ok(()) => return Ok(start),
                Err(Stop::Failed(e)) => tracing::debug!(error = %e, "refresh retry failed"),
                Err(Stop::Shutdown) => return Err(Stop::Shutdown),
            }
            backoff = self.backoff_after(backoff);
        }
    }

    /// With nothing held: probes until storage answers, then releases everything there.
    async fn recover(&mut self) -> std::result::Result<(), Stop> {
        self.lose_all(LossReason::StorageFailure);
        self.set_state(KeeperState::Probing);
        let me = self.runner.address().clone();
        let mut backoff = self.config.retry_backoff;
        loop {
            let storage = self.storage.clone();
            let timeout = self.call_timeout();
            let answered = match bounded("probe", timeout, storage.runners()).await {
                Ok(_) => bounded("release", timeout, self.release_ours(&storage, &me)).await,
                Err(e) => Err(e),
            };
            match answered {
                Ok(()) => {
                    tracing::info!("storage answers again; released everything, starting over");
                    return Ok(());
                }
                Err(e) => tracing::debug!(error = %e, "storage probe failed"),
            }
            self.wait_until(Instant::now() + backoff).await?;
            backoff = self.backoff_after(backoff);
        }
    }

    /// Releases every lease under this runner's address except a predecessor's (whose holder
    /// may still believe in them until they lapse).
    async fn release_ours(&self, storage: &RunnerStorage, me: &RunnerAddress) -> Result<()> {
        if self.inherited.is_empty() {
            return storage.release_all(me).await;
        }
        let ours: Vec<ShardId> = storage
            .held_by(me)
            .await?
            .into_iter()
            .map(|l| l.shard)
            .filter(|s| !self.inherited.contains(s))
            .collect();
        release_each(storage, me, ours).await
    }

    /// Graceful end: withdraws everything, releases it and unregisters.
    async fn finish(mut self) -> Result<()> {
        self.lose_all(LossReason::Shutdown);
        let storage = self.storage.clone();
        let me = self.runner.address().clone();
        let timeout = self.call_timeout();
        let released = bounded("release", timeout, self.release_ours(&storage, &me)).await;
        let unregistered = bounded("unregister", timeout, storage.unregister(&me)).await;
        self.set_state(KeeperState::Stopped);
        tracing::info!("shard keeper stopped");
        released.and(unregistered)
    }
}
