//! Signals to whole process groups, and stopping one: SIGTERM, grace, SIGKILL.

use crate::procfs;
use rustix::process::{kill_process_group, Pid, Signal};
use std::time::Duration;
use tokio::sync::watch;

/// Sends `signal` to every process of group `pgid`; false if the group is gone.
pub(crate) fn signal_group(pgid: u32, signal: Signal) -> bool {
    let Some(pid) = i32::try_from(pgid).ok().and_then(Pid::from_raw) else {
        return false;
    };
    // Never signal our own group (pgid 0/1 cannot come from a spawned child, but be sure).
    if pgid <= 1 || rustix::process::getpgrp() == pid {
        return false;
    }
    match kill_process_group(pid, signal) {
        Ok(()) => true,
        Err(err) => {
            if err != rustix::io::Errno::SRCH {
                tracing::warn!(pgid, %err, "signalling tenant process group failed");
            }
            false
        }
    }
}

/// Waits until no live process is left in group `pgid`, polling `/proc`, at most `limit`.
pub(crate) async fn wait_group_gone(pgid: u32, limit: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let gone = tokio::task::spawn_blocking(move || !procfs::group_alive(pgid))
            .await
            .unwrap_or(false);
        if gone {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Stops group `pgid` whose leader's exit is reported on `exited`: SIGTERM to the group,
/// then SIGKILL to the group if the leader has not exited within `grace`. Returns once
/// `exited` says so (the supervisor sets it after the whole group is gone).
pub(crate) async fn terminate(pgid: u32, grace: Duration, mut exited: watch::Receiver<bool>) {
    if *exited.borrow() {
        return;
    }
    signal_group(pgid, Signal::TERM);
    if tokio::time::timeout(grace, exited.wait_for(|e| *e))
        .await
        .is_ok()
    {
        return;
    }
    tracing::info!(
        pgid,
        ?grace,
        "tenant ignored SIGTERM; sending SIGKILL to its group"
    );
    signal_group(pgid, Signal::KILL);
    loop {
        match tokio::time::timeout(Duration::from_secs(5), exited.wait_for(|e| *e)).await {
            Ok(_) => return,
            Err(_) => {
                tracing::warn!(pgid, "tenant group still alive after SIGKILL; retrying");
                signal_group(pgid, Signal::KILL);
            }
        }
    }
}
