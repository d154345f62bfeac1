//! [`Runtime`]: the public handle.

use crate::adopt;
use crate::backoff::Verdict;
use crate::error::{Error, Result};
use crate::events::{ExitReason, Transition};
use crate::isolation::{self, Isolation};
use crate::metrics::{RuntimeMetrics, RuntimeStats};
use crate::options::RuntimeOptions;
use crate::records::Records;
use crate::start;
use crate::state::{Phase, Proc, Shared, State, Tenant};
use crate::supervisor::terminate;
use crate::sweep;
use parking_lot::Mutex;
use std::sync::Arc;
use tokio::sync::watch;
use tokio::time::Instant;

/// Supervised tenant processes; cheap to clone (clones share everything).
///
/// End it with [`dispose`](Self::dispose) (stop everything) or [`abandon`](Self::abandon)
/// (leave tenants to the next host). Dropping the handles does neither: supervision goes on
/// in the background until the tenants exit on their own.
#[derive(Clone)]
pub struct Runtime {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

/// Checks that `key` can name a tenant directory (and a berth record).
pub fn validate_key(key: &str) -> Result<()> {
    let reason = if key.is_empty() {
        "empty"
    } else if key.len() > 255 {
        "longer than 255 bytes"
    } else if key == "." || key == ".." {
        "a relative directory name"
    } else if key.contains(['/', '\0']) {
        "contains '/' or NUL"
    } else if key.starts_with(".berth") {
        "starts with '.berth' (reserved for the runtime's own files)"
    } else {
        return Ok(());
    };
    Err(Error::InvalidKey {
        key: key.to_owned(),
        reason,
    })
}

/// What `kill` has to wait for.
enum Pending {
    Stop(Arc<Proc>),
    Start(start::StartResult),
}

impl Runtime {
    /// Opens the runtime: loads the records, adopts live tenants or stops orphans (see
    /// [`Recovery`](crate::Recovery)), and starts the sweeper. Needs a Tokio runtime.
    pub async fn new(options: RuntimeOptions) -> Result<Runtime> {
        options.validate()?;
        let records = Records::new(&options.store, &options.records_collection)?;
        let clock = options.store.clock().clone();
        let (activity, _) = watch::channel(0);
        let (admission, _) = watch::channel(0);
        let isolation = isolation::detect(options.isolation);
        tracing::debug!(isolation = isolation.name(), "tenant runtime opening");
        let shared = Arc::new(Shared {
            options,
            records,
            clock,
            state: Mutex::new(State::default()),
            isolation,
            admission,
            activity,
        });
        adopt::recover(&shared).await?;
        let sweeper = tokio::spawn(sweep::run(
            Arc::downgrade(&shared),
            shared.options.sweep_interval,
            shared.options.observe_interval,
        ));
        shared.state.lock().sweeper = Some(sweeper.abort_handle());
        Ok(Runtime { shared })
    }

    /// The running tenant of `key`: reused if running (bumping its idle clock), joined if
    /// starting (single flight), started and waited for otherwise. Refused while draining,
    /// inside a back-off window, or after `max_failures`.
    pub async fn ensure(&self, key: &str) -> Result<Tenant> {
        let result = {
            let mut st = self.shared.state.lock();
            if st.disposed {
                return Err(Error::Disposed);
            }
            let joined = match st.keys.get_mut(key).map(|e| &mut e.phase) {
                Some(Phase::Running {
                    tenant,
                    last_touched,
                    ..
                }) => {
                    *last_touched = Instant::now();
                    tenant.last_touched_at = self.shared.clock.now();
                    return Ok(tenant.clone());
                }
                Some(Phase::Starting { result, .. }) => Some(result.clone()),
                Some(Phase::Idle) | None => None,
            };
            match joined {
                Some(result) => result,
                None => self.begin_checked(&mut st, key)?,
            }
        };
        start::join(result).await
    }

    fn begin_checked(&self, st: &mut State, key: &str) -> Result<start::StartResult> {
        validate_key(key)?;
        if st.draining {
            return Err(Error::Draining);
        }
        if let Some(b) = st.keys.get(key).and_then(|e| e.backoff.as_ref()) {
            match b.verdict(&self.shared.options.backoff, self.shared.clock.now()) {
                Verdict::Allowed => {}
                Verdict::Wait(retry_in) => {
                    return Err(Error::BackingOff {
                        key: key.to_owned(),
                        attempt: b.attempt,
                        retry_in,
                        last_error: b.last_error.clone(),
                    })
                }
                Verdict::Refused => {
                    return Err(Error::TooManyFailures {
                        key: key.to_owned(),
                        failures: b.attempt,
                        last_error: b.last_error.clone(),
                    })
                }
            }
        }
        Ok(start::begin(&self.shared, st, key, None))
    }

    /// Marks `key` as used now; cheap, no effect unless it is running.
    pub fn touch(&self, key: &str) {
        if let Some(entry) = self.shared.state.lock().keys.get_mut(key) {
            if let Phase::Running { last_touched, .. } = &mut entry.phase {
                *last_touched = Instant::now();
            }
        }
    }

    /// How this runtime isolates tenants (chosen at open from what the host allows).
    pub fn isolation(&self) -> &Isolation {
        &self.shared.isolation
    }

    /// A point-in-time snapshot.
    pub fn stats(&self) -> RuntimeStats {
        let st = self.shared.state.lock();
        self.stats_of(&st)
    }

    fn stats_of(&self, st: &State) -> RuntimeStats {
        let now = self.shared.clock.now();
        let policy = &self.shared.options.backoff;
        let mut stats = RuntimeStats {
            draining: st.draining,
            ..RuntimeStats::default()
        };
        for entry in st.keys.values() {
            match entry.phase {
                Phase::Running { .. } => {
                    stats.running += 1;
                    stats.total += 1;
                }
                Phase::Starting { .. } => stats.total += 1,
                Phase::Idle => {}
            }
            if entry
                .backoff
                .as_ref()
                .is_some_and(|b| b.verdict(policy, now) != Verdict::Allowed)
            {
                stats.backoff += 1;
            }
        }
        stats
    }

    /// The snapshot plus counters since the runtime was created.
    pub fn metrics(&self) -> RuntimeMetrics {
        let st = self.shared.state.lock();
        st.counters.to_metrics(self.stats_of(&st))
    }

    /// Stops `key` (SIGTERM to every process of it, the grace for all, SIGKILL to the rest)
    /// or calls off its start; returns once no process of `key` is left, or after the grace
    /// plus a fixed SIGKILL deadline with the pids it could not kill (also reported as
    /// [`Transition::StopIncomplete`]). No-op if it has none.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn kill(&self, key: &str) -> Vec<u32> {
        let pending = {
            let mut st = self.shared.state.lock();
            let Some(entry) = st.keys.get_mut(key) else {
                return Vec::new();
            };
            match std::mem::take(&mut entry.phase) {
                Phase::Running { proc, .. } => {
                    proc.stop_reason(ExitReason::Killed);
                    Some(Pending::Stop(proc))
                }
                Phase::Starting {
                    gen,
                    result,
                    cancel,
                } => {
                    cancel.send_replace(Some(ExitReason::Killed));
                    let wait = result.clone();
                    entry.phase = Phase::Starting {
                        gen,
                        result,
                        cancel,
                    };
                    Some(Pending::Start(wait))
                }
                Phase::Idle => entry.live.clone().map(Pending::Stop),
            }
        };
        match pending {
            Some(Pending::Stop(proc)) => self.stop(&proc).await,
            Some(Pending::Start(result)) => {
                let _ = start::join(result).await;
                Vec::new()
            }
            None => Vec::new(),
        }
    }

    async fn stop(&self, proc: &Arc<Proc>) -> Vec<u32> {
        terminate(proc, self.shared.options.stop_grace).await
    }

    /// Stops `key` and starts a fresh process once the old one is confirmed gone (never two
    /// at once). Concurrent restarts (and `ensure`s) share the one respawn. Ignores back-off
    /// (an operator's explicit call); refused while draining.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn restart(&self, key: &str) -> Result<Tenant> {
        validate_key(key)?;
        let result = {
            let mut st = self.shared.state.lock();
            if st.disposed {
                return Err(Error::Disposed);
            }
            if st.draining {
                return Err(Error::Draining);
            }
            let entry = st.keys.entry(key.to_owned()).or_default();
            match std::mem::take(&mut entry.phase) {
                Phase::Starting {
                    gen,
                    result,
                    cancel,
                } => {
                    let joined = result.clone();
                    entry.phase = Phase::Starting {
                        gen,
                        result,
                        cancel,
                    };
                    joined
                }
                Phase::Running { proc, .. } => {
                    proc.stop_reason(ExitReason::Restarted);
                    start::begin(&self.shared, &mut st, key, Some(proc))
                }
                Phase::Idle => start::begin(&self.shared, &mut st, key, None),
            }
        };
        start::join(result).await
    }

    /// Forgets the failures of `key`; its next `ensure` starts it at once.
    pub async fn clear_backoff(&self, key: &str) -> Result<()> {
        let had = self
            .shared
            .state
            .lock()
            .keys
            .get_mut(key)
            .and_then(|e| e.backoff.take())
            .is_some();
        if had {
            self.shared.persist(key).await?;
        }
        Ok(())
    }

    /// Stops starting tenants: `ensure` of a key without a running process (and `restart`)
    /// fail with [`Error::Draining`]; running tenants go on until idle, killed or crashed.
    /// [`drained`](Self::drained) tells when none is left.
    pub fn drain(&self) {
        let first = {
            let mut st = self.shared.state.lock();
            !std::mem::replace(&mut st.draining, true)
        };
        if first {
            self.shared.options.sinks.transition(Transition::Drain);
            self.shared.report_drained();
        }
    }

    /// Resolves when no tenant process is running or starting (meant for after `drain`).
    pub async fn drained(&self) {
        let mut activity = self.shared.activity.subscribe();
        let _ = activity.wait_for(|n| *n == 0).await;
    }

    /// Stops every tenant and calls off every start in flight, and returns once every process
    /// group is gone and recorded. Later calls fail with [`Error::Disposed`]. Idempotent.
    #[tracing::instrument(level = "debug", skip(self))]
    pub async fn dispose(&self) {
        let (stops, starts) = {
            let mut st = self.shared.state.lock();
            st.disposed = true;
            if let Some(s) = st.sweeper.take() {
                s.abort();
            }
            let mut stops = Vec::new();
            let mut starts = Vec::new();
            for entry in st.keys.values_mut() {
                match &entry.phase {
                    Phase::Running { proc, .. } => {
                        proc.stop_reason(ExitReason::Disposed);
                        stops.push(proc.clone());
                        entry.phase = Phase::Idle;
                    }
                    Phase::Starting { result, cancel, .. } => {
                        cancel.send_replace(Some(ExitReason::Disposed));
                        starts.push(result.clone());
                    }
                    Phase::Idle => {
                        if let Some(proc) = &entry.live {
                            stops.push(proc.clone());
                        }
                    }
                }
            }
            (stops, starts)
        };
        let grace = self.shared.options.stop_grace;
        let tasks: Vec<_> = stops
            .into_iter()
            .map(|p| tokio::spawn(async move { terminate(&p, grace).await }))
            .collect();
        for task in tasks {
            let _ = task.await;
        }
        for result in starts {
            let _ = start::join(result).await;
        }
        self.drained().await;
    }

    /// Stops supervising without stopping any tenant, as if the host died (or for a host
    /// upgrade): tenants keep running, their records stay, and the next `Runtime::new` on the
    /// same store adopts them. Log lines of those tenants are no longer read.
    pub fn abandon(&self) {
        let mut st = self.shared.state.lock();
        st.disposed = true;
        st.abort_tasks();
        for entry in st.keys.values_mut() {
            entry.phase = Phase::Idle;
            entry.live = None;
        }
    }
}
