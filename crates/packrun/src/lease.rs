//! The lease that makes one process at a time the runner of a pack run.
//!
//! The runner registers as `<host>:<pid>` and holds shard `packrun:<run>` while it drives the
//! run, refreshing it every third of its TTL. A lease left by a process of this host that is
//! gone (killed runner) is released at once instead of waiting for it to lapse.

use berth_core::{Lease, Store};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Lease TTL of a runner.
pub const LEASE_TTL: Duration = Duration::from_secs(30);

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

/// A held run lease; released by [`RunLease::release`] (or lapsing after a crash).
#[derive(Debug)]
pub struct RunLease {
    store: Store,
    owner: String,
    shard: String,
    stop: CancellationToken,
}

/// Why the lease could not be taken.
#[derive(Debug)]
pub enum LeaseRefusal {
    /// Another live runner holds it.
    Held(Lease),
    /// The store failed.
    Store(berth_core::Error),
}

impl RunLease {
    /// Takes the lease of `run_id`; `lost` is cancelled if a refresh finds it gone.
    pub async fn acquire(
        store: &Store,
        run_id: &str,
        lost: CancellationToken,
    ) -> Result<RunLease, LeaseRefusal> {
        let owner = this_runner();
        let shard = shard(run_id);
        let leases = store.leases();
        leases
            .register(&owner, "berth pack-run runner", true)
            .await
            .map_err(LeaseRefusal::Store)?;
        let wanted = [shard.clone()];
        let mut held = leases
            .acquire(&owner, &wanted, LEASE_TTL)
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
                        .acquire(&owner, &wanted, LEASE_TTL)
                        .await
                        .map_err(LeaseRefusal::Store)?;
                }
                _ => {}
            }
        }
        if held.is_empty() {
            return match leases.lease(&shard).await.map_err(LeaseRefusal::Store)? {
                Some(l) => Err(LeaseRefusal::Held(l)),
                None => Err(LeaseRefusal::Store(berth_core::Error::backend_msg(
                    format!("lease {shard} could not be taken"),
                    true,
                ))),
            };
        }
        let stop = CancellationToken::new();
        tokio::spawn(refresh_loop(
            store.clone(),
            owner.clone(),
            shard.clone(),
            stop.clone(),
            lost,
        ));
        Ok(RunLease {
            store: store.clone(),
            owner,
            shard,
            stop,
        })
    }

    /// Stops refreshing, releases the lease and unregisters the runner if it holds nothing else.
    pub async fn release(self) {
        self.stop.cancel();
        let leases = self.store.leases();
        if let Err(e) = leases.release(&self.owner, &self.shard).await {
            tracing::warn!(error = %e, shard = %self.shard, "releasing the run lease failed");
        }
        if matches!(leases.held_by(&self.owner).await, Ok(l) if l.is_empty()) {
            let _ = leases.unregister(&self.owner).await;
        }
    }
}

async fn refresh_loop(
    store: Store,
    owner: String,
    shard: String,
    stop: CancellationToken,
    lost: CancellationToken,
) {
    let every = LEASE_TTL / 3;
    let wanted = [shard.clone()];
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        match store.leases().refresh(&owner, &wanted, LEASE_TTL).await {
            Ok(held) if held.is_empty() => {
                tracing::warn!(%shard, "run lease lost; stopping the run");
                lost.cancel();
                return;
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, %shard, "refreshing the run lease failed"),
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
