//! A test aid: stop `up`/`down` between two commands, so tests can kill it half-way or hold
//! its lock while a second operator starts.
//!
//! With `BERTH_MIGRATE_PAUSE_AFTER=N` the process says `paused after command N` on stderr after
//! its N-th command and waits until the file named by `BERTH_MIGRATE_PAUSE_UNTIL` exists
//! (forever without it); its lock heartbeat keeps running meanwhile. Unset, it costs nothing.

use std::path::PathBuf;
use std::time::Duration;

/// Pauses here if the failpoint asks for a pause after command `sent`.
pub async fn after_command(sent: usize) {
    let Some(n) = std::env::var("BERTH_MIGRATE_PAUSE_AFTER")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    else {
        return;
    };
    if n != sent {
        return;
    }
    let until = std::env::var_os("BERTH_MIGRATE_PAUSE_UNTIL").map(PathBuf::from);
    eprintln!("berth-migrate: paused after command {sent}");
    loop {
        if until.as_ref().is_some_and(|p| p.exists()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
