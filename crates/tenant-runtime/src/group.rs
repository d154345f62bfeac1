//! Stopping every process of a tenant start: SIGTERM to all of them, the grace for all of
//! them, SIGKILL (and `cgroup.kill`) to whatever is left, and a fixed deadline after which
//! the stop gives up and reports the survivors. Never unbounded.

use crate::isolation;
use crate::members::Members;
use rustix::process::{kill_process, Pid, Signal};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// How long SIGKILLed processes may take to disappear before the stop reports them.
pub(crate) const KILL_DEADLINE: Duration = Duration::from_secs(2);

/// How often members are looked for while waiting.
const POLL: Duration = Duration::from_millis(20);

/// Sends `signal` to one process; false if it is gone.
pub(crate) fn signal_pid(pid: u32, signal: Signal) -> bool {
    if pid <= 1 || pid == std::process::id() {
        return false;
    }
    let Some(p) = i32::try_from(pid).ok().and_then(Pid::from_raw) else {
        return false;
    };
    match kill_process(p, signal) {
        Ok(()) => true,
        Err(err) => {
            if err != rustix::io::Errno::SRCH {
                tracing::warn!(pid, %err, "signalling tenant process failed");
            }
            false
        }
    }
}

async fn scan(members: &Arc<Members>, deep: bool) -> Vec<u32> {
    let m = members.clone();
    tokio::task::spawn_blocking(move || m.scan(deep))
        .await
        .unwrap_or_default()
}

/// Stops every member of `members`: SIGTERM now (to members found later too), SIGKILL at
/// `grace_end` to whatever is left, then waits at most [`KILL_DEADLINE`]. Returns the pids
/// that were still alive at the end (empty when everything is gone).
pub(crate) async fn stop_members(members: &Arc<Members>, grace_end: Instant) -> Vec<u32> {
    let mut termed: HashSet<u32> = HashSet::new();
    let mut deep = true;
    loop {
        let now = scan(members, deep).await;
        deep = false;
        if now.is_empty() {
            return now;
        }
        for pid in &now {
            if termed.insert(*pid) {
                signal_pid(*pid, Signal::TERM);
            }
        }
        if Instant::now() >= grace_end {
            break;
        }
        tokio::time::sleep(POLL.min(grace_end - Instant::now())).await;
    }
    kill_now(members).await
}

/// SIGKILLs every member at once and waits at most [`KILL_DEADLINE`] for them to go.
pub(crate) async fn kill_now(members: &Arc<Members>) -> Vec<u32> {
    let deadline = Instant::now() + KILL_DEADLINE;
    let mut deep = true;
    loop {
        let now = scan(members, deep).await;
        deep = false;
        if now.is_empty() {
            return now;
        }
        if Instant::now() >= deadline {
            tracing::warn!(start = %members.start_id, survivors = ?now, "tenant processes outlived SIGKILL");
            return now;
        }
        if let Some(cg) = &members.cgroup {
            isolation::cgroup_kill(cg);
        }
        for pid in &now {
            signal_pid(*pid, Signal::KILL);
        }
        tokio::time::sleep(POLL).await;
    }
}
