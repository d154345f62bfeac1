//! The sweeper: stops idle tenants, forgets failures of stable ones, observes `/proc`.

use crate::events::{ExitReason, MetricEvent, Transition};
use crate::procfs;
use crate::state::{Phase, Proc, Shared};
use crate::supervisor::terminate;
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::time::{Instant, MissedTickBehavior};

/// Runs until the runtime is gone (it holds only a weak reference).
pub(crate) async fn run(shared: Weak<Shared>, sweep_every: Duration, observe_every: Duration) {
    let tick = |every: Duration| {
        let every = if every.is_zero() {
            Duration::from_secs(3600)
        } else {
            every
        };
        let mut i = tokio::time::interval_at(Instant::now() + every, every);
        i.set_missed_tick_behavior(MissedTickBehavior::Delay);
        i
    };
    let mut sweep = tick(sweep_every);
    let mut observe = tick(observe_every);
    loop {
        tokio::select! {
            _ = sweep.tick() => {
                let Some(shared) = shared.upgrade() else { return };
                sweep_once(&shared).await;
            }
            _ = observe.tick(), if !observe_every.is_zero() => {
                let Some(shared) = shared.upgrade() else { return };
                observe_once(&shared).await;
            }
        }
    }
}

/// One sweep: idle kills and stable-period resets.
pub(crate) async fn sweep_once(shared: &Arc<Shared>) {
    let idle_after = shared.options.idle_after;
    let stable_after = shared.options.stable_after;
    let now = shared.clock.now();
    let (idle, stable) = {
        let mut guard = shared.state.lock();
        let st = &mut *guard;
        let mut idle: Vec<(Arc<Proc>, Duration)> = Vec::new();
        let mut stable = Vec::new();
        for (key, entry) in st.keys.iter_mut() {
            let Phase::Running {
                proc, last_touched, ..
            } = &entry.phase
            else {
                continue;
            };
            let ready_at = *proc.ready_at.lock();
            if entry.backoff.is_some() && ready_at.is_some_and(|r| now.since(r) >= stable_after) {
                entry.backoff = None;
                stable.push(key.clone());
            }
            let unused = last_touched.elapsed();
            if !idle_after.is_zero() && unused >= idle_after {
                if let Phase::Running { proc, .. } = std::mem::take(&mut entry.phase) {
                    proc.stop_reason(ExitReason::IdleKilled);
                    idle.push((proc, unused));
                }
            }
        }
        for (proc, _) in &idle {
            let (proc, grace) = (proc.clone(), shared.options.stop_grace);
            shared.spawn_tracked(st, async move {
                terminate(&proc, grace).await;
            });
        }
        (idle, stable)
    };
    for (proc, unused) in idle {
        shared.options.sinks.transition(Transition::IdleKill {
            key: proc.key.clone(),
            pid: proc.pid,
            idle: unused,
        });
    }
    for key in stable {
        tracing::debug!(key, "tenant stable; failures forgotten");
        let _ = shared.persist(&key).await;
    }
}

/// One observation of every running tenant's process group.
pub(crate) async fn observe_once(shared: &Arc<Shared>) {
    let procs: Vec<Arc<Proc>> = shared
        .state
        .lock()
        .keys
        .values()
        .filter_map(|e| match &e.phase {
            Phase::Running { proc, .. } => Some(proc.clone()),
            _ => None,
        })
        .collect();
    if procs.is_empty() {
        return;
    }
    let pgids: Vec<u32> = procs.iter().map(|p| p.pgid()).collect();
    let members: Vec<_> = procs.iter().map(|p| p.members.clone()).collect();
    let Ok(usage) = tokio::task::spawn_blocking(move || {
        // Remember every member now, so a helper whose parent dies later is still found.
        for m in &members {
            m.refresh();
        }
        procfs::group_usage(&pgids)
    })
    .await
    else {
        return;
    };
    let at = shared.clock.now();
    for proc in procs {
        let Some(u) = usage.get(&proc.pgid()).copied() else {
            continue;
        };
        if u.processes == 0 {
            continue;
        }
        *proc.usage.lock() = u;
        if let Some(entry) = shared.state.lock().keys.get_mut(&proc.key) {
            entry.totals.peak_rss_bytes = entry.totals.peak_rss_bytes.max(u.rss_bytes);
        }
        shared.options.sinks.metric(MetricEvent::Observation {
            key: proc.key.clone(),
            pid: proc.pid,
            cpu_ms: u.cpu_ms,
            rss_bytes: u.rss_bytes,
            processes: u.processes,
            at,
        });
    }
}
