//! The claim that makes one process at a time the owner of a pack run.
//!
//! The runner registers as `<host>:<pid>` and holds shard `packrun:<run>` while it drives the
//! run, refreshing it every third of its TTL. Every write it makes for the run carries the
//! lease's fence ([`RunClaim`] is a [`Claim`]), so once another runner has taken the run over,
//! the store refuses them all.
//!
//! Each grant's first write is the run's owner record (`packrun-owners/<run>`: owner, token,
//! and when the lease lapses unless refreshed). It tells a runner whose lease lapsed (a
//! suspended laptop, a stopped process) whether anyone else owned the run meanwhile: if not,
//! it takes the lease again and carries on (pause is not cancel); if so, its claim is lost,
//! its commands are stopped and it writes nothing more. The record also lets `berth show`
//! say since when a run's owner is gone.
//!
//! A lease left by a process of this host that is gone (killed runner) is released at once
//! instead of waiting for it to lapse.

use berth_core::{
    codec, write_fenced, Batch, Claim, ErrorKind, Fence, Lease, Precondition, Store, Timestamp,
};
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Default lease TTL of a runner.
pub const LEASE_TTL: Duration = Duration::from_secs(30);

/// Environment variable that sets the run lease TTL in milliseconds (tests, slow machines).
pub const LEASE_TTL_ENV: &str = "BERTH_LEASE_TTL_MS";

/// Test-only switch: with `BERTH_TEST_UNFENCED=1` a runner's writes carry no fence (the
/// multi-process checker's self-test shows what then goes wrong). Never set it otherwise.
pub const UNFENCED_ENV: &str = "BERTH_TEST_UNFENCED";

/// Collection of owner records (key: run id).
pub const OWNERS: &str = "packrun-owners";

/// The lease TTL: [`LEASE_TTL_ENV`] if set to a positive number of milliseconds, else
/// [`LEASE_TTL`].
pub fn lease_ttl() -> Duration {
    std::env::var(LEASE_TTL_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|ms| *ms > 0)
        .map_or(LEASE_TTL, Duration::from_millis)
}

/// The shard id of a run.
pub fn shard(run_id: &str) -> String {
    format!("packrun:{run_id}")
}

/// This process's runner address, `<host>:<pid>`.
pub fn this_runner() -> String {
    let host = rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned();
    format!("{host}:{}", std::process::id())
}

/// Who owns (or last owned) a run, as its owner record says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OwnerRecord {
    /// The runner address.
    pub owner: String,
    /// The fencing token of its grant.
    pub token: u64,
    /// When its lease lapses unless refreshed (as of its last refresh).
    pub expires_at: Timestamp,
}

/// The owner record of `run_id`, if any runner ever took it.
pub async fn owner_of(
    store: &Store,
    run_id: &str,
) -> Result<Option<OwnerRecord>, berth_core::Error> {
    match store.records().get(OWNERS, run_id).await? {
        Some(r) => codec::from_json(r.value, "owner record").map(Some),
        None => Ok(None),
    }
}

/// Whether `owner` is a runner of this host whose process no longer exists.
fn is_dead_local(owner: &str) -> bool {
    let me = this_runner();
    let (Some((host, pid)), Some((my_host, _))) = (owner.rsplit_once(':'), me.rsplit_once(':'))
    else {
        return false;
    };
    if host != my_host {
        return false;
    }
    let Some(pid) = pid
        .parse::<i32>()
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    else {
        return false;
    };
    matches!(
        rustix::process::test_kill_process(pid),
        Err(rustix::io::Errno::SRCH)
    )
}

/// A held run claim; released by [`RunClaim::release`] (or lapsing after a crash).
#[derive(Debug)]
pub struct RunClaim {
    store: Store,
    owner: String,
    run_id: String,
    shard: String,
    ttl: Duration,
    fenced: bool,
    current: Mutex<Fence>,
    renewing: tokio::sync::Mutex<()>,
    lost: CancellationToken,
    stop: CancellationToken,
}

/// Why the claim could not be taken.
#[derive(Debug)]
pub enum LeaseRefusal {
    /// Another live runner holds it.
    Held(Lease),
    /// The store failed.
    Store(berth_core::Error),
}

impl RunClaim {
    /// Takes the claim of `run_id` and keeps it alive; `lost()` is cancelled once another
    /// owner has taken the run over.
    pub async fn acquire(store: &Store, run_id: &str) -> Result<Arc<RunClaim>, LeaseRefusal> {
        let owner = this_runner();
        let shard = shard(run_id);
        let ttl = lease_ttl();
        let leases = store.leases();
        leases
            .register(&owner, "berth pack-run runner", true)
            .await
            .map_err(LeaseRefusal::Store)?;
        let wanted = [shard.clone()];
        let mut held = leases
            .acquire(&owner, &wanted, ttl)
            .await
            .map_err(LeaseRefusal::Store)?;
        if held.is_empty() {
            match leases.lease(&shard).await.map_err(LeaseRefusal::Store)? {
                Some(l) if is_dead_local(&l.owner) => {
                    tracing::info!(owner = %l.owner, %shard, "taking over the lease of a dead runner");
                    leases
                        .release_all(&l.owner)
                        .await
                        .map_err(LeaseRefusal::Store)?;
                    leases
                        .unregister(&l.owner)
                        .await
                        .map_err(LeaseRefusal::Store)?;
                    held = leases
                        .acquire(&owner, &wanted, ttl)
                        .await
                        .map_err(LeaseRefusal::Store)?;
                }
                _ => {}
            }
        }
        let Some(lease) = held.into_iter().next() else {
            return match leases.lease(&shard).await.map_err(LeaseRefusal::Store)? {
                Some(l) => Err(LeaseRefusal::Held(l)),
                None => Err(LeaseRefusal::Store(berth_core::Error::backend_msg(
                    format!("lease {shard} could not be taken"),
                    true,
                ))),
            };
        };
        let claim = Arc::new(RunClaim {
            store: store.clone(),
            owner,
            run_id: run_id.to_owned(),
            shard,
            ttl,
            fenced: std::env::var(UNFENCED_ENV).map_or(true, |v| v != "1"),
            current: Mutex::new(Fence::from(&lease)),
            renewing: tokio::sync::Mutex::new(()),
            lost: CancellationToken::new(),
            stop: CancellationToken::new(),
        });
        // The grant's first write: from here on, a runner whose lease lapsed sees this one.
        let fence = Fence::from(&lease);
        let mut batch = Batch::new();
        batch.fence(&fence);
        batch.put(OWNERS, run_id, claim.record(&lease)?);
        if let Err(e) = store.commit(batch).await {
            claim.release_lease().await;
            return Err(LeaseRefusal::Store(e));
        }
        tokio::spawn(refresh_loop(claim.clone()));
        Ok(claim)
    }

    fn record(&self, lease: &Lease) -> Result<serde_json::Value, LeaseRefusal> {
        codec::to_json(&OwnerRecord {
            owner: self.owner.clone(),
            token: lease.token,
            expires_at: lease.expires_at,
        })
        .map_err(LeaseRefusal::Store)
    }

    /// Cancelled once the claim is lost to another owner.
    pub fn lost(&self) -> CancellationToken {
        self.lost.clone()
    }

    /// Whether this runner's writes carry the fence (always, unless the test switch is set).
    pub fn is_fenced(&self) -> bool {
        self.fenced
    }

    /// The runner address.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// Stops refreshing, releases the lease and unregisters the runner if it holds nothing else.
    pub async fn release(&self) {
        self.stop.cancel();
        self.release_lease().await;
    }

    async fn release_lease(&self) {
        let leases = self.store.leases();
        if let Err(e) = leases.release(&self.owner, &self.shard).await {
            tracing::warn!(error = %e, shard = %self.shard, "releasing the run lease failed");
        }
        if matches!(leases.held_by(&self.owner).await, Ok(l) if l.is_empty()) {
            let _ = leases.unregister(&self.owner).await;
        }
    }

    fn set_current(&self, fence: Fence) {
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = fence;
    }

    /// Marks the claim lost: commands stop, nothing more is written.
    fn lose(&self, why: &str) {
        if !self.lost.is_cancelled() {
            tracing::warn!(run = %self.run_id, shard = %self.shard, "{why}; this runner stops and writes nothing more");
            self.lost.cancel();
        }
    }

    /// Takes the lapsed lease again if nobody owned the run meanwhile.
    async fn retake(&self, stale: &Fence) -> berth_core::Result<Fence> {
        let wanted = [self.shard.clone()];
        let Some(lease) = self
            .store
            .leases()
            .acquire(&self.owner, &wanted, self.ttl)
            .await?
            .into_iter()
            .next()
        else {
            self.lose("another runner holds the run's lease");
            return Err(stale.stale());
        };
        let fence = Fence::from(&lease);
        let record = self.store.records().get(OWNERS, &self.run_id).await?;
        let mine = match &record {
            Some(r) => codec::from_json::<OwnerRecord>(r.value.clone(), "owner record")
                .is_ok_and(|o| o.owner == self.owner && o.token == stale.token),
            None => false,
        };
        if mine {
            let mut batch = Batch::new();
            batch.fence(&fence);
            let value = self.record(&lease).map_err(|e| match e {
                LeaseRefusal::Store(e) => e,
                LeaseRefusal::Held(_) => stale.stale(),
            })?;
            let version = record.map_or(0, |r| r.version);
            batch
                .put(OWNERS, &self.run_id, value)
                .when(Precondition::Version(version));
            match self.store.commit(batch).await {
                Ok(_) => {
                    tracing::info!(run = %self.run_id, token = fence.token, "run lease lapsed unused; taken again");
                    self.set_current(fence.clone());
                    return Ok(fence);
                }
                Err(e) if !matches!(e.kind(), ErrorKind::Conflict | ErrorKind::StaleFence) => {
                    return Err(e)
                }
                Err(_) => {}
            }
        }
        // Someone else owned the run meanwhile: what this runner holds in memory is stale.
        let _ = self.store.leases().release(&self.owner, &self.shard).await;
        self.lose("another runner took this run over while its lease had lapsed");
        Err(stale.stale())
    }

    /// Refreshes the lease; a lapse is handled like a stale write.
    async fn refresh(&self) -> berth_core::Result<()> {
        let fence = self.fence();
        let held = self
            .store
            .leases()
            .refresh(&self.owner, std::slice::from_ref(&self.shard), self.ttl)
            .await?;
        match held.into_iter().next() {
            Some(lease) if lease.token == fence.token => {
                let value = self.record(&lease).map_err(|e| match e {
                    LeaseRefusal::Store(e) => e,
                    LeaseRefusal::Held(_) => fence.stale(),
                })?;
                write_fenced(self, |f| {
                    let mut batch = Batch::new();
                    batch.fence(&f);
                    batch.put(OWNERS, &self.run_id, value.clone());
                    self.store.commit(batch)
                })
                .await
                .map(|_| ())
            }
            _ => self.renew(&fence).await.map(|_| ()),
        }
    }
}

#[async_trait::async_trait]
impl Claim for RunClaim {
    fn fence(&self) -> Fence {
        self.current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    async fn renew(&self, stale: &Fence) -> berth_core::Result<Fence> {
        let _one = self.renewing.lock().await;
        let current = self.fence();
        if current.token != stale.token {
            return Ok(current);
        }
        if self.lost.is_cancelled() {
            return Err(stale.stale());
        }
        self.retake(stale).await
    }
}

async fn refresh_loop(claim: Arc<RunClaim>) {
    let every = claim.ttl / 3;
    loop {
        tokio::select! {
            _ = claim.stop.cancelled() => return,
            _ = claim.lost.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        match claim.refresh().await {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::StaleFence => return,
            Err(e) => {
                tracing::warn!(error = %e, shard = %claim.shard, "refreshing the run lease failed")
            }
        }
    }
}

/// Releases every lease of this process's runner and unregisters it (for a runner exiting
/// on an interrupt, whose run futures are abandoned rather than finished).
pub async fn release_this_runner(store: &Store) {
    let me = this_runner();
    if let Err(e) = store.leases().release_all(&me).await {
        tracing::warn!(error = %e, "releasing this runner's leases failed");
    }
    let _ = store.leases().unregister(&me).await;
}
