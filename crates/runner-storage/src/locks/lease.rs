//! [`LeaseKeyLock`]: the keyed lock across processes, one shard lease per key.

use super::key_lock::{HeldKeys, KeyLock, LockGuard};
use async_trait::async_trait;
use berth_core::{Error, IdGenerator, KeyedLocks, Lease, LeaseStore, Precondition, Result, Store};
use std::collections::BTreeSet;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Timing of a [`LeaseKeyLock`].
#[derive(Debug, Clone)]
pub struct LeaseLockConfig {
    /// A held key's lease lapses this long after its last refresh.
    pub ttl: Duration,
    /// Held leases are refreshed this often (well under `ttl`).
    pub refresh_every: Duration,
    /// Giving up on a key held by someone else after this long fails the lock call.
    pub wait_timeout: Duration,
    /// First pause between tries for a held key; it doubles up to `max_backoff`.
    pub backoff: Duration,
    /// Longest pause between tries.
    pub max_backoff: Duration,
    /// Prefix of the lease owner names, to tell holders apart in the store.
    pub holder: String,
}

impl Default for LeaseLockConfig {
    fn default() -> Self {
        LeaseLockConfig {
            ttl: Duration::from_secs(30),
            refresh_every: Duration::from_secs(10),
            wait_timeout: Duration::from_secs(60),
            backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(250),
            holder: format!("pid-{}", std::process::id()),
        }
    }
}

/// Keyed locks held as shard leases named `lock:<key>` in the store's
/// [`LeaseStore`], so processes (and hosts, with a shared backend) exclude each other.
///
/// Keys are taken one by one in sorted order, each by polling with back-off until free or
/// `wait_timeout` passes; local callers first queue on in-process locks so they do not poll
/// each other. While held, a task refreshes the leases every `refresh_every`; a lease that
/// could not be refreshed is reported lost, and [`LockGuard::fences`] lets a batch apply only
/// while every lease is still held with its grant's fencing token.
#[derive(Clone)]
pub struct LeaseKeyLock {
    leases: Arc<dyn LeaseStore>,
    ids: Arc<dyn IdGenerator>,
    local: KeyedLocks,
    config: LeaseLockConfig,
}

impl fmt::Debug for LeaseKeyLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LeaseKeyLock")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// The lease name of key `key`.
pub fn lease_name(key: &str) -> String {
    format!("lock:{key}")
}

impl LeaseKeyLock {
    /// Lease-backed locks over the leases of `store`.
    pub fn new(store: &Store, config: LeaseLockConfig) -> Self {
        LeaseKeyLock {
            leases: store.leases().clone(),
            ids: store.ids().clone(),
            local: store.locks().clone(),
            config,
        }
    }

    async fn take(&self, owner: &str, shard: &str, deadline: Instant) -> Result<Lease> {
        let mut pause = self.config.backoff;
        loop {
            let got = self
                .leases
                .acquire(owner, &[shard.to_owned()], self.config.ttl)
                .await?;
            if let Some(lease) = got.into_iter().next() {
                return Ok(lease);
            }
            if Instant::now() + pause > deadline {
                return Err(Error::backend_msg(
                    format!("lock {shard} still held by another process after the wait timeout"),
                    true,
                ));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(self.config.max_backoff);
        }
    }
}

struct LeaseHeld {
    leases: Arc<dyn LeaseStore>,
    owner: String,
    held: Vec<Lease>,
    lost: Arc<AtomicBool>,
    refresher: Option<JoinHandle<()>>,
    _local: berth_core::KeyedGuard,
}

async fn release_all(leases: &dyn LeaseStore, owner: &str, held: &[Lease]) -> Result<()> {
    let mut first_error = None;
    for lease in held {
        if let Err(e) = leases.release(owner, &lease.shard).await {
            first_error.get_or_insert(e);
        }
    }
    first_error.map_or(Ok(()), Err)
}

#[async_trait]
impl HeldKeys for LeaseHeld {
    fn fences(&self) -> Vec<Precondition> {
        self.held
            .iter()
            .map(|l| Precondition::Fence {
                shard: l.shard.clone(),
                token: l.token,
            })
            .collect()
    }

    fn lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }

    async fn release(mut self: Box<Self>) -> Result<()> {
        if let Some(task) = self.refresher.take() {
            task.abort();
        }
        let held = std::mem::take(&mut self.held);
        release_all(&*self.leases, &self.owner, &held).await
    }
}

impl Drop for LeaseHeld {
    fn drop(&mut self) {
        if let Some(task) = self.refresher.take() {
            task.abort();
        }
        if self.held.is_empty() {
            return;
        }
        let (leases, owner, held) = (
            self.leases.clone(),
            self.owner.clone(),
            std::mem::take(&mut self.held),
        );
        // Dropped without release: release in the background, or let the leases lapse.
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                let _ = release_all(&*leases, &owner, &held).await;
            });
        }
    }
}

#[async_trait]
impl KeyLock for LeaseKeyLock {
    async fn lock(&self, keys: &[String]) -> Result<LockGuard> {
        let sorted: BTreeSet<&String> = keys.iter().collect();
        let local = self.local.lock(sorted.iter().map(|k| (*k).clone())).await;
        let owner = format!("{}/{}", self.config.holder, self.ids.next_id());
        let deadline = Instant::now() + self.config.wait_timeout;
        let mut held: Vec<Lease> = Vec::with_capacity(sorted.len());
        for key in sorted {
            match self.take(&owner, &lease_name(key), deadline).await {
                Ok(lease) => held.push(lease),
                Err(e) => {
                    let _ = release_all(&*self.leases, &owner, &held).await;
                    return Err(e);
                }
            }
        }
        let lost = Arc::new(AtomicBool::new(false));
        let refresher = (!held.is_empty()).then(|| {
            tokio::spawn(refresh(
                self.leases.clone(),
                owner.clone(),
                held.iter().map(|l| l.shard.clone()).collect(),
                self.config.clone(),
                lost.clone(),
            ))
        });
        let state = LeaseHeld {
            leases: self.leases.clone(),
            owner,
            held,
            lost,
            refresher,
            _local: local,
        };
        Ok(LockGuard::new(Box::new(state)))
    }
}

async fn refresh(
    leases: Arc<dyn LeaseStore>,
    owner: String,
    shards: Vec<String>,
    config: LeaseLockConfig,
    lost: Arc<AtomicBool>,
) {
    loop {
        tokio::time::sleep(config.refresh_every).await;
        match leases.refresh(&owner, &shards, config.ttl).await {
            Ok(kept) if kept.len() == shards.len() => {}
            Ok(kept) => {
                lost.store(true, Ordering::SeqCst);
                tracing::error!(
                    owner,
                    held = kept.len(),
                    wanted = shards.len(),
                    "lease-backed lock lost; fenced writes under it will be refused"
                );
                return;
            }
            Err(e) => tracing::warn!(owner, error = %e, "refreshing lease-backed lock failed"),
        }
    }
}
