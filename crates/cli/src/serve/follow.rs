//! Live follows: one store poll per followed run, however many clients follow it.
//!
//! A poller per run publishes the run's tip (last log sequence, whether it has ended) on a
//! watch channel while anyone follows it, and stops when the last follower leaves. Polling the
//! store, not an in-process event, is what lets several `serve` instances and runners on one
//! shared store (MongoDB) see the same runs live.

use berth::Store;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// How often a followed run is looked at.
pub const POLL: Duration = Duration::from_millis(200);

/// Where a followed run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Tip {
    /// Highest stored log sequence.
    pub last: Option<u64>,
    /// The run has ended (read before `last`, so `last` includes its final entries).
    pub ended: bool,
    /// Set once the poller has looked at the store.
    pub polled: bool,
}

type Senders = HashMap<String, Arc<watch::Sender<Tip>>>;

/// The followed runs.
#[derive(Debug)]
pub struct Follows {
    store: Store,
    runs: Arc<Mutex<Senders>>,
    shutdown: CancellationToken,
}

impl Follows {
    /// Follows over `store`, all ending at `shutdown`.
    pub fn new(store: Store, shutdown: CancellationToken) -> Self {
        Follows {
            store,
            runs: Arc::new(Mutex::new(HashMap::new())),
            shutdown,
        }
    }

    /// The end of every follow.
    pub fn shutdown(&self) -> &CancellationToken {
        &self.shutdown
    }

    /// A receiver of `run`'s tip, starting its poller if nobody follows it yet.
    pub fn watch(&self, run: &str) -> watch::Receiver<Tip> {
        let mut runs = lock(&self.runs);
        if let Some(tx) = runs.get(run) {
            return tx.subscribe();
        }
        let (tx, rx) = watch::channel(Tip::default());
        let tx = Arc::new(tx);
        runs.insert(run.to_owned(), tx.clone());
        tokio::spawn(poll(
            self.store.clone(),
            self.runs.clone(),
            run.to_owned(),
            tx,
            self.shutdown.clone(),
        ));
        rx
    }
}

fn lock(m: &Mutex<Senders>) -> std::sync::MutexGuard<'_, Senders> {
    match m.lock() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

async fn poll(
    store: Store,
    runs: Arc<Mutex<Senders>>,
    run: String,
    tx: Arc<watch::Sender<Tip>>,
    shutdown: CancellationToken,
) {
    loop {
        {
            // Under the map's lock, so nobody subscribes to a poller that is leaving.
            let mut map = lock(&runs);
            if tx.receiver_count() == 0 || shutdown.is_cancelled() {
                map.remove(&run);
                return;
            }
        }
        let status = store.runs().get(&run).await.map(|r| r.map(|r| r.status));
        let last = store.logs().last_sequence(&run).await;
        match (status, last) {
            (Ok(status), Ok(last)) => {
                let tip = Tip {
                    last,
                    // A deleted run ends its follows too.
                    ended: status.is_none_or(crate::serve::runs::ended),
                    polled: true,
                };
                tx.send_if_modified(|t| {
                    let changed = *t != tip;
                    *t = tip;
                    changed
                });
            }
            (Err(e), _) | (_, Err(e)) => {
                tracing::warn!(run = %run, error = %e, "polling a followed run failed");
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => {}
            _ = tokio::time::sleep(POLL) => {}
        }
    }
}
