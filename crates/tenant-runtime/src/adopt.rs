//! Recovery at start: reload back-off and totals, adopt live recorded tenants, stop orphans.

use crate::error::Result;
use crate::events::{ExitReason, Transition};
use crate::group::terminate;
use crate::options::Recovery;
use crate::procfs;
use crate::readiness::ReadyTarget;
use crate::records::{ProcessRecord, ProcessState};
use crate::state::{Entry, Phase, Proc, Shared, Tenant};
use crate::supervisor::supervise_adopted;
use parking_lot::Mutex;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// Longest readiness probe of a recorded process before it is judged an orphan.
const ADOPT_PROBE: Duration = Duration::from_secs(2);

/// Loads every record; adopts or stops the processes they name.
#[tracing::instrument(level = "debug", skip_all, fields(collection = %shared.options.records_collection))]
pub(crate) async fn recover(shared: &Arc<Shared>) -> Result<()> {
    let records = shared.records.all().await?;
    let mut orphans = Vec::new();
    for record in records {
        let key = record.key.clone();
        {
            let mut st = shared.state.lock();
            st.keys.insert(
                key.clone(),
                Entry {
                    backoff: record.backoff.clone(),
                    totals: record.totals.clone(),
                    ..Entry::default()
                },
            );
        }
        let Some(p) = record.process else {
            continue;
        };
        if !is_recorded_process(&p) {
            tracing::info!(key, pid = p.pid, "recorded tenant process is gone");
            let _ = shared.persist(&key).await;
            continue;
        }
        let adopt = shared.options.recovery == Recovery::Adopt
            && p.state == ProcessState::Running
            && under_cap(shared)
            && answers(shared, &key, &p).await;
        let proc = watch_process(shared, &key, &p, adopt);
        if adopt {
            shared.options.sinks.transition(Transition::Adopted {
                key: key.clone(),
                pid: p.pid,
                port: p.port,
            });
            tracing::info!(key, pid = p.pid, port = p.port, "adopted tenant");
        } else {
            proc.stop_reason(ExitReason::Orphaned);
            tracing::info!(key, pid = p.pid, "stopping orphaned tenant");
            orphans.push(proc);
        }
    }
    for proc in orphans {
        terminate(
            proc.pgid(),
            shared.options.stop_grace,
            proc.exited.subscribe(),
        )
        .await;
    }
    Ok(())
}

/// Whether the recorded pid is still the recorded process (not a later one with its pid).
fn is_recorded_process(p: &ProcessRecord) -> bool {
    match procfs::stat(p.pid) {
        Some(s) if !s.is_dead() && s.pgid == p.pgid => match p.start_ticks {
            Some(ticks) => ticks == s.start_ticks,
            None => s.pgid == s.pid,
        },
        _ => false,
    }
}

fn under_cap(shared: &Shared) -> bool {
    let st = shared.state.lock();
    let active = st
        .keys
        .values()
        .filter(|e| !matches!(e.phase, Phase::Idle))
        .count();
    active < shared.options.max_concurrent
}

async fn answers(shared: &Shared, key: &str, p: &ProcessRecord) -> bool {
    let target = ReadyTarget {
        key: key.to_owned(),
        pid: p.pid,
        addr: shared.options.bind_addr,
        port: p.port,
    };
    let limit = shared.options.readiness_timeout.min(ADOPT_PROBE);
    matches!(
        tokio::time::timeout(limit, shared.options.readiness.wait_ready(&target)).await,
        Ok(Ok(()))
    )
}

/// Supervises a recorded process; as the running tenant of `key` if `adopt`.
fn watch_process(shared: &Arc<Shared>, key: &str, p: &ProcessRecord, adopt: bool) -> Arc<Proc> {
    let mut guard = shared.state.lock();
    let st = &mut *guard;
    st.next_gen += 1;
    let (exited, _) = watch::channel(false);
    let now = shared.clock.now();
    let proc = Arc::new(Proc {
        key: key.to_owned(),
        gen: st.next_gen,
        pid: p.pid,
        port: p.port,
        started_at: p.started_at,
        start_ticks: p.start_ticks,
        reason: Mutex::new(None),
        ready_at: Mutex::new(adopt.then_some(p.started_at)),
        exit: Mutex::new(None),
        usage: Mutex::new(Default::default()),
        exited,
    });
    st.ports.insert(p.port);
    let entry = st.keys.entry(key.to_owned()).or_default();
    entry.live = Some(proc.clone());
    // A fresh entry's lock is free: the adopted process holds it until it is gone.
    let life = entry.life.clone().try_lock_owned();
    if adopt {
        entry.phase = Phase::Running {
            proc: proc.clone(),
            tenant: Tenant {
                key: key.to_owned(),
                port: p.port,
                pid: p.pid,
                started_at: p.started_at,
                last_touched_at: now,
            },
            last_touched: Instant::now(),
        };
        st.counters.adopted += 1;
    }
    let activity = shared.activity();
    let task = proc.clone();
    let task_shared = shared.clone();
    shared.spawn_tracked(st, async move {
        let _activity = activity;
        match life {
            Ok(life) => supervise_adopted(task_shared, task, life).await,
            Err(_) => tracing::error!("tenant life lock taken during recovery"),
        }
    });
    proc
}
