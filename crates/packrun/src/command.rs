//! Running one command attempt as a real child process, streaming its output into the logs.
//!
//! The child gets its own process group, so a timeout or an abort kills everything it
//! started (`kill -KILL -<pgid>`), not just the shell. Standard input is closed. Each line
//! of standard output and standard error goes to the [`LogWriter`] as it arrives.

use crate::logs::LogWriter;
use berth_core::Secret;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::Command;
use tokio_util::sync::CancellationToken;

/// What to run.
#[derive(Debug, Clone)]
pub struct CommandSpec {
    /// The program.
    pub program: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// Extra environment.
    pub env: BTreeMap<String, String>,
    /// Extra environment marked secret: passed on unchanged, never formatted.
    pub secret_env: BTreeMap<String, Secret<String>>,
    /// The working directory.
    pub dir: PathBuf,
    /// Limit of the attempt.
    pub timeout: Option<Duration>,
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandEnd {
    /// Exited with status 0.
    Success,
    /// Exited otherwise, was killed, timed out or could not start; the message says which.
    Failure(String),
    /// The run was aborted.
    Cancelled,
}

/// Process groups of the commands running in this process.
static LIVE: Mutex<BTreeSet<i32>> = Mutex::new(BTreeSet::new());

fn live() -> std::sync::MutexGuard<'static, BTreeSet<i32>> {
    LIVE.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn kill_group(pid: i32) {
    if let Some(pid) = rustix::process::Pid::from_raw(pid) {
        let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
    }
}

/// Kills every command this process is running (their whole process groups); for a
/// runner that is about to exit on Ctrl-C, since the commands' own groups do not get the
/// terminal's signal. The run stays resumable from its last committed step.
pub fn kill_running_commands() {
    for pid in std::mem::take(&mut *live()) {
        kill_group(pid);
    }
}

/// Kills the process group when dropped (the attempt ended, timed out or was abandoned).
struct GroupGuard(Option<i32>);

impl GroupGuard {
    fn new(pid: Option<u32>) -> Self {
        let pid = pid.and_then(|p| i32::try_from(p).ok());
        if let Some(p) = pid {
            live().insert(p);
        }
        GroupGuard(pid)
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            live().remove(&pid);
            kill_group(pid);
        }
    }
}

/// Runs `spec` once, logging its lines under (`step`, `attempt`).
pub async fn run_command(
    spec: &CommandSpec,
    log: &LogWriter,
    step: &str,
    attempt: u32,
    cancel: &CancellationToken,
) -> CommandEnd {
    let mut cmd = Command::new(&spec.program);
    cmd.args(&spec.args)
        .envs(&spec.env)
        .envs(spec.secret_env.iter().map(|(k, v)| (k, v.expose())))
        .current_dir(&spec.dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            return CommandEnd::Failure(format!(
                "could not start {:?} in {}: {e}",
                spec.program,
                spec.dir.display()
            ))
        }
    };
    let guard = GroupGuard::new(child.id());
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let work = async {
        let out = pump(stdout, log, step, attempt, "stdout");
        let err = pump(stderr, log, step, attempt, "stderr");
        let (_, _, status) = tokio::join!(out, err, child.wait());
        status
    };
    let limited = async {
        match spec.timeout {
            Some(limit) => tokio::time::timeout(limit, work).await.ok(),
            None => Some(work.await),
        }
    };
    let end = tokio::select! {
        _ = cancel.cancelled() => CommandEnd::Cancelled,
        r = limited => match r {
            None => CommandEnd::Failure(format!(
                "timed out after {} s",
                spec.timeout.map_or(0, |t| t.as_secs())
            )),
            Some(Ok(status)) => judge(status),
            Some(Err(e)) => CommandEnd::Failure(format!("waiting for the process failed: {e}")),
        },
    };
    // Dropping the guard kills what is left of the group: the timed-out or abandoned
    // command, or background processes of a finished one.
    drop(guard);
    end
}

fn judge(status: ExitStatus) -> CommandEnd {
    use std::os::unix::process::ExitStatusExt;
    if status.success() {
        CommandEnd::Success
    } else if let Some(code) = status.code() {
        CommandEnd::Failure(format!("exited with status {code}"))
    } else if let Some(sig) = status.signal() {
        CommandEnd::Failure(format!("killed by signal {sig}"))
    } else {
        CommandEnd::Failure(format!("ended with {status}"))
    }
}

async fn pump<R: AsyncRead + Unpin>(
    reader: Option<R>,
    log: &LogWriter,
    step: &str,
    attempt: u32,
    stream: &str,
) {
    let Some(reader) = reader else { return };
    let mut reader = BufReader::new(reader);
    let mut buf = Vec::new();
    let mut line_no = 0u64;
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf).await {
            Ok(0) => return,
            Ok(_) => {
                while matches!(buf.last(), Some(b'\n' | b'\r')) {
                    buf.pop();
                }
                line_no += 1;
                let line = String::from_utf8_lossy(&buf).into_owned();
                log.output(step, attempt, stream, line_no, line);
            }
            Err(e) => {
                tracing::debug!(error = %e, stream, "reading command output failed");
                return;
            }
        }
    }
}
