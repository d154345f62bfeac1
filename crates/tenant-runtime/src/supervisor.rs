//! Supervising a tenant process until it and its whole group are gone, then reporting why.

use crate::events::{ExitReason, Transition};
use crate::group::{signal_group, wait_group_gone};
use crate::procfs;
use crate::state::{ExitInfo, Phase, Proc, Shared};
use rustix::process::Signal;
use std::os::unix::process::ExitStatusExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::process::Child;
use tokio::sync::OwnedMutexGuard;

/// How long leftovers of a group may take to die after SIGKILL before we stop waiting.
const GROUP_GONE_LIMIT: Duration = Duration::from_secs(5);

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
    reap_group(&proc).await;
    finish(&shared, &proc, info).await;
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
    reap_group(&proc).await;
    finish(&shared, &proc, ExitInfo::default()).await;
    drop(life);
}

/// Kills what is left of the group once its leader is gone, so no grandchild outlives it.
async fn reap_group(proc: &Proc) {
    signal_group(proc.pgid(), Signal::KILL);
    if !wait_group_gone(proc.pgid(), GROUP_GONE_LIMIT).await {
        tracing::warn!(key = %proc.key, pgid = proc.pgid(), "tenant process group outlived SIGKILL");
    }
}

/// Records and reports the exit, then tells waiters the process is gone.
async fn finish(shared: &Arc<Shared>, proc: &Arc<Proc>, info: ExitInfo) {
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
    let crashed_after_ready = {
        let mut st = shared.state.lock();
        *st.counters.exits.entry(reason).or_default() += 1;
        st.ports.remove(&proc.port);
        match st.keys.get_mut(&proc.key) {
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
                match ready_at {
                    Some(ready) if reason == ExitReason::Crashed => {
                        if now.since(ready) >= shared.options.stable_after {
                            // It was stable: earlier failures no longer count.
                            entry.backoff = None;
                        }
                        true
                    }
                    _ => false,
                }
            }
            None => false,
        }
    };
    tracing::info!(key = %proc.key, pid = proc.pid, %reason, status = %info.describe(), "tenant exited");
    if !crashed_after_ready {
        let _ = shared.persist(&proc.key).await;
    }
    shared.options.sinks.transition(Transition::Exit {
        key: proc.key.clone(),
        pid: proc.pid,
        exit_code: info.code,
        signal: info.signal,
        reason,
    });
    if crashed_after_ready {
        let what = format!("crashed after readiness ({})", info.describe());
        shared.record_failure(&proc.key, what).await;
    }
    proc.exited.send_replace(true);
}
