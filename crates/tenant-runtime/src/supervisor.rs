//! Supervising a tenant process until it and its whole group are gone, then reporting why.

use crate::events::{ExitReason, Transition};
use crate::group::{stop_members, KILL_DEADLINE};
use crate::isolation;
use crate::procfs;
use crate::state::{ExitInfo, Phase, Proc, Shared};
use std::os::unix::process::ExitStatusExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::process::Child;
use tokio::sync::OwnedMutexGuard;

/// Stops `proc` and every process of its start: SIGTERM to all, `grace` for all, SIGKILL to
/// the rest, bounded by the grace plus [`KILL_DEADLINE`] (and a little for recording the
/// exit). Returns the pids it could not kill (empty when all are gone).
pub(crate) async fn terminate(proc: &Arc<Proc>, grace: Duration) -> Vec<u32> {
    if *proc.exited.borrow() {
        return Vec::new();
    }
    let end = proc.grace_end(grace);
    let survivors = stop_members(&proc.members, end).await;
    let mut exited = proc.exited.subscribe();
    let limit = KILL_DEADLINE + Duration::from_secs(1);
    if tokio::time::timeout(limit, exited.wait_for(|e| *e))
        .await
        .is_err()
    {
        tracing::warn!(key = %proc.key, pid = proc.pid, "tenant exit not confirmed in time");
    }
    survivors
}

/// How often an adopted process (not our child: no wait) is checked.
const ADOPTED_POLL: Duration = Duration::from_millis(100);

/// Waits for a spawned child; holds `life` until the whole group is gone.
pub(crate) async fn supervise_child(
    shared: Arc<Shared>,
    proc: Arc<Proc>,
    mut child: Child,
    life: OwnedMutexGuard<()>,
) {
    let info = match child.wait().await {
        Ok(status) => ExitInfo {
            code: status.code(),
            signal: status.signal(),
        },
        Err(err) => {
            tracing::warn!(key = %proc.key, pid = proc.pid, %err, "waiting for tenant failed");
            ExitInfo::default()
        }
    };
    let survivors = reap_rest(&shared, &proc).await;
    finish(&shared, &proc, info, survivors).await;
    drop(life);
}

/// Watches a process adopted from the records (not our child) until it is gone.
pub(crate) async fn supervise_adopted(
    shared: Arc<Shared>,
    proc: Arc<Proc>,
    life: OwnedMutexGuard<()>,
) {
    loop {
        let (pid, ticks) = (proc.pid, proc.start_ticks);
        let alive = tokio::task::spawn_blocking(move || procfs::is_alive(pid, ticks))
            .await
            .unwrap_or(true);
        if !alive {
            break;
        }
        tokio::time::sleep(ADOPTED_POLL).await;
    }
    let survivors = reap_rest(&shared, &proc).await;
    finish(&shared, &proc, ExitInfo::default(), survivors).await;
    drop(life);
}

/// Stops what is left of the start once its leader is gone, so no worker or helper outlives
/// it; the rest get the same grace as the leader (from the stop that began it, or from now).
async fn reap_rest(shared: &Shared, proc: &Proc) -> Vec<u32> {
    let end = proc.grace_end(shared.options.stop_grace);
    stop_members(&proc.members, end).await
}

/// Records and reports the exit, then tells waiters the process is gone.
async fn finish(shared: &Arc<Shared>, proc: &Arc<Proc>, info: ExitInfo, survivors: Vec<u32>) {
    let explicit = *proc.reason.lock();
    let reason = explicit.unwrap_or(if info.code == Some(0) {
        ExitReason::ExitedClean
    } else {
        ExitReason::Crashed
    });
    *proc.exit.lock() = Some(info);
    let ready_at = *proc.ready_at.lock();
    let usage = *proc.usage.lock();
    let now = shared.clock.now();
    if survivors.is_empty() {
        if let Some(cg) = &proc.members.cgroup {
            isolation::remove_cgroup(cg);
        }
    }
    let backoff = {
        let mut st = shared.state.lock();
        *st.counters.exits.entry(reason).or_default() += 1;
        st.ports.remove(&proc.port);
        shared.release_slot(&mut st);
        let crashed_after_ready = match st.keys.get_mut(&proc.key) {
            Some(entry) => {
                entry.totals.exits += 1;
                entry.totals.cpu_ms += usage.cpu_ms;
                if reason == ExitReason::Crashed {
                    entry.totals.crashes += 1;
                }
                if matches!(&entry.phase, Phase::Running { proc: p, .. } if p.gen == proc.gen) {
                    entry.phase = Phase::Idle;
                }
                if entry.live.as_ref().is_some_and(|p| p.gen == proc.gen) {
                    entry.live = None;
                }
                if ready_at.is_some_and(|ready| now.since(ready) >= shared.options.stable_after) {
                    // It was stable, however it ended: earlier failures no longer count.
                    entry.backoff = None;
                }
                ready_at.is_some() && reason == ExitReason::Crashed
            }
            None => false,
        };
        // Counted in the same critical section that made the key idle: a caller in a tight
        // loop never finds it startable before its back-off window.
        if crashed_after_ready {
            let what = format!("crashed after readiness ({})", info.describe());
            shared.count_failure(&mut st, &proc.key, what)
        } else {
            None
        }
    };
    tracing::info!(key = %proc.key, pid = proc.pid, %reason, status = %info.describe(), "tenant exited");
    let _ = shared.persist(&proc.key).await;
    if !survivors.is_empty() {
        shared.options.sinks.transition(Transition::StopIncomplete {
            key: proc.key.clone(),
            pid: proc.pid,
            survivors,
        });
    }
    shared.options.sinks.transition(Transition::Exit {
        key: proc.key.clone(),
        pid: proc.pid,
        exit_code: info.code,
        signal: info.signal,
        reason,
    });
    if let Some(t) = backoff {
        shared.options.sinks.transition(t);
    }
    proc.exited.send_replace(true);
}
