//! The runtime's shared state: one entry per key, its phase, and the live process.

use crate::backoff::BackoffState;
use crate::error::{Error, Result};
use crate::events::{ExitReason, Transition};
use crate::isolation::Isolation;
use crate::members::Members;
use crate::metrics::Counters;
use crate::options::RuntimeOptions;
use crate::procfs::GroupUsage;
use crate::records::{ProcessRecord, ProcessState, Records, TenantRecord, TenantTotals};
use berth_core::{SharedClock, Timestamp};
use parking_lot::Mutex;
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use tokio::sync::watch;
use tokio::task::AbortHandle;
use tokio::time::Instant;

/// A running tenant, as returned by [`Runtime::ensure`](crate::Runtime::ensure).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    /// The key.
    pub key: String,
    /// The port it serves on.
    pub port: u16,
    /// Its pid (also its process group id).
    pub pid: u32,
    /// When it was started.
    pub started_at: Timestamp,
    /// When it was last used (`ensure`/`touch`).
    pub last_touched_at: Timestamp,
}

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct ExitInfo {
    pub(crate) code: Option<i32>,
    pub(crate) signal: Option<i32>,
}

impl ExitInfo {
    pub(crate) fn describe(&self) -> String {
        match (self.code, self.signal) {
            (Some(code), _) => format!("exit code {code}"),
            (None, Some(sig)) => format!("signal {sig}"),
            (None, None) => "unknown status".into(),
        }
    }
}

/// One tenant process (and its group), shared by its supervisor and whoever stops it.
#[derive(Debug)]
pub(crate) struct Proc {
    pub(crate) key: String,
    pub(crate) gen: u64,
    pub(crate) pid: u32,
    pub(crate) port: u16,
    pub(crate) started_at: Timestamp,
    pub(crate) start_ticks: Option<u64>,
    /// Every process of this start (cgroup, session, group, descendants, marker).
    pub(crate) members: Arc<Members>,
    /// When the grace of its stop ends, once a stop began (the same for the whole group).
    pub(crate) grace_end: Mutex<Option<Instant>>,
    /// Set by the first party that decides to stop it; the supervisor reports it on exit.
    pub(crate) reason: Mutex<Option<ExitReason>>,
    pub(crate) ready_at: Mutex<Option<Timestamp>>,
    pub(crate) exit: Mutex<Option<ExitInfo>>,
    pub(crate) usage: Mutex<GroupUsage>,
    /// True once the process and its whole group are gone and the exit is recorded.
    pub(crate) exited: watch::Sender<bool>,
}

impl Proc {
    /// The process group id: each tenant leads its own group (and session).
    pub(crate) fn pgid(&self) -> u32 {
        self.pid
    }

    /// The end of the grace of its stop: fixed by the first stop that asks.
    pub(crate) fn grace_end(&self, grace: std::time::Duration) -> Instant {
        *self
            .grace_end
            .lock()
            .get_or_insert_with(|| Instant::now() + grace)
    }

    /// Records why it is being stopped, unless a reason was already given.
    pub(crate) fn stop_reason(&self, reason: ExitReason) {
        let mut r = self.reason.lock();
        if r.is_none() {
            *r = Some(reason);
        }
    }
}

/// The result of one start, shared by every caller that joined it.
pub(crate) type StartResult = watch::Receiver<Option<Result<Tenant>>>;

/// Where a key is in its life.
#[derive(Debug, Default)]
pub(crate) enum Phase {
    /// No process serves it (one may still be stopping: see [`Entry::live`]).
    #[default]
    Idle,
    /// A start is in flight.
    Starting {
        gen: u64,
        result: StartResult,
        cancel: watch::Sender<Option<ExitReason>>,
    },
    /// Ready and serving.
    Running {
        proc: Arc<Proc>,
        tenant: Tenant,
        last_touched: Instant,
    },
}

/// Everything known about one key.
#[derive(Debug, Default)]
pub(crate) struct Entry {
    /// Held from before a process is spawned until its whole group is gone: a key never has
    /// two live processes.
    pub(crate) life: Arc<tokio::sync::Mutex<()>>,
    /// Orders record writes of this key.
    pub(crate) persist: Arc<tokio::sync::Mutex<()>>,
    pub(crate) phase: Phase,
    /// The process that has not confirmed its exit yet.
    pub(crate) live: Option<Arc<Proc>>,
    /// The write-ahead record of a start whose process is not spawned yet (or not yet
    /// known to be gone after a failed spawn).
    pub(crate) launching: Option<ProcessRecord>,
    pub(crate) backoff: Option<BackoffState>,
    pub(crate) totals: TenantTotals,
}

impl Entry {
    fn record(&self, key: &str) -> TenantRecord {
        TenantRecord {
            key: key.to_owned(),
            process: match &self.live {
                Some(p) => Some(ProcessRecord {
                    pid: p.pid,
                    pgid: p.pgid(),
                    port: p.port,
                    started_at: p.started_at,
                    start_ticks: p.start_ticks,
                    state: if p.ready_at.lock().is_some() {
                        ProcessState::Running
                    } else {
                        ProcessState::Starting
                    },
                    start_id: p.members.start_id.clone(),
                    cgroup: p.members.cgroup.clone(),
                }),
                None => self.launching.clone(),
            },
            backoff: self.backoff.clone(),
            totals: self.totals.clone(),
        }
    }
}

/// The mutable state behind one lock.
#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) disposed: bool,
    pub(crate) draining: bool,
    pub(crate) drained_reported: bool,
    pub(crate) next_gen: u64,
    pub(crate) keys: HashMap<String, Entry>,
    pub(crate) counters: Counters,
    /// Ports of live tenants, never handed out twice.
    pub(crate) ports: HashSet<u16>,
    /// Admission slots taken: starts past admission plus processes not yet confirmed gone.
    /// Never above `max_concurrent`.
    pub(crate) slots: usize,
    next_task: u64,
    tasks: HashMap<u64, AbortHandle>,
    pub(crate) sweeper: Option<AbortHandle>,
}

impl State {
    /// Aborts every task the runtime spawned (children are left running).
    pub(crate) fn abort_tasks(&mut self) {
        for (_, task) in self.tasks.drain() {
            task.abort();
        }
        if let Some(s) = self.sweeper.take() {
            s.abort();
        }
    }
}

/// What every task of a runtime shares.
pub(crate) struct Shared {
    pub(crate) options: RuntimeOptions,
    pub(crate) records: Records,
    pub(crate) clock: SharedClock,
    pub(crate) state: Mutex<State>,
    /// How tenants are isolated on this host.
    pub(crate) isolation: Isolation,
    /// Bumped whenever admission may have changed: a slot given back, a tenant became
    /// running (so it can be evicted).
    pub(crate) admission: watch::Sender<u64>,
    /// Starts in flight plus processes not yet confirmed gone.
    pub(crate) activity: watch::Sender<usize>,
}

/// Counts as activity while alive (a start in flight or a process supervised).
pub(crate) struct Activity(Arc<Shared>);

impl Drop for Activity {
    fn drop(&mut self) {
        let mut zero = false;
        self.0.activity.send_modify(|n| {
            *n = n.saturating_sub(1);
            zero = *n == 0;
        });
        if zero {
            self.0.report_drained();
        }
    }
}

impl Shared {
    /// One more activity until the guard is dropped.
    pub(crate) fn activity(self: &Arc<Self>) -> Activity {
        self.activity.send_modify(|n| *n += 1);
        Activity(self.clone())
    }

    /// Emits `Drained` once, when draining and nothing is active.
    pub(crate) fn report_drained(&self) {
        let report = {
            let mut st = self.state.lock();
            let idle = *self.activity.borrow() == 0;
            let report = st.draining && !st.drained_reported && idle;
            if report {
                st.drained_reported = true;
            }
            report
        };
        if report {
            self.options.sinks.transition(Transition::Drained);
        }
    }

    /// Spawns `fut` as a task that `abandon` can abort.
    pub(crate) fn spawn_tracked<F>(self: &Arc<Self>, st: &mut State, fut: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        st.next_task += 1;
        let id = st.next_task;
        let shared = self.clone();
        let handle = tokio::spawn(async move {
            fut.await;
            shared.state.lock().tasks.remove(&id);
        });
        st.tasks.insert(id, handle.abort_handle());
    }

    /// Writes the record of `key` as the state is now; writes of one key happen in order.
    pub(crate) async fn persist(&self, key: &str) -> Result<()> {
        let Some(lock) = self.state.lock().keys.get(key).map(|e| e.persist.clone()) else {
            return Ok(());
        };
        let _ordered = lock.lock().await;
        let Some(record) = self.state.lock().keys.get(key).map(|e| e.record(key)) else {
            return Ok(());
        };
        self.records.put(&record).await.map_err(|err| {
            tracing::warn!(key, %err, "writing tenant record failed");
            Error::from(err)
        })
    }

    /// Gives an admission slot back.
    pub(crate) fn release_slot(&self, st: &mut State) {
        st.slots = st.slots.saturating_sub(1);
        self.admission_changed();
    }

    /// Wakes starts waiting for admission.
    pub(crate) fn admission_changed(&self) {
        self.admission.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Counts a failure against `key` in the same critical section that ends its process or
    /// start, so no caller sees the key startable in between; returns the transition to report.
    pub(crate) fn count_failure(
        &self,
        st: &mut State,
        key: &str,
        error: String,
    ) -> Option<Transition> {
        let now = self.clock.now();
        st.counters.backoff_entries += 1;
        let policy = self.options.backoff;
        let decay = self.options.stable_after;
        let entry = st.keys.get_mut(key)?;
        let next = BackoffState::next(entry.backoff.as_ref(), &policy, decay, now, error);
        let t = Transition::Backoff {
            key: key.to_owned(),
            attempt: next.attempt,
            retry_after: (next.attempt < policy.max_failures).then(|| next.retry_at.since(now)),
            error: next.last_error.clone(),
        };
        entry.backoff = Some(next);
        Some(t)
    }

    /// Counts a failure against `key`, records and reports it.
    pub(crate) async fn record_failure(&self, key: &str, error: String) {
        let transition = {
            let mut st = self.state.lock();
            self.count_failure(&mut st, key, error)
        };
        let _ = self.persist(key).await;
        if let Some(t) = transition {
            self.options.sinks.transition(t);
        }
    }
}
