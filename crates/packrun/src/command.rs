//! Running one command attempt as a real child process, streaming its output into the logs.
//!
//! The child gets its own process group, which is the step's: everything the step started
//! lives and dies with it. Standard input is closed. Each line of standard output and
//! standard error goes to the [`LogWriter`] as it arrives.
//!
//! - The attempt ends when its main process exits; its exit status is the attempt's
//!   outcome. Output pipes a background process still holds are read for
//!   [`DRAIN_GRACE`] more, then closed.
//! - When the attempt ends, whatever is left of its process group is killed (SIGKILL), as
//!   CI runners kill a job's orphans: a finished step leaves nothing running.
//! - An attempt longer than its limit gets SIGTERM on its whole group, [`KILL_GRACE`] to
//!   exit, then SIGKILL, and fails with [`StepFailure::TimedOut`].
//! - An aborted run (claim lost, Ctrl-C) kills the group at once.

use crate::failure::StepFailure;
use crate::logs::LogWriter;
use berth_core::packrun::LogLevel;
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
    /// Limit of the attempt (`None`: no limit).
    pub timeout: Option<Duration>,
}

/// How long a step's output is still read after its main process exited: background
/// processes holding the pipes get this long to finish writing before they are closed.
pub const DRAIN_GRACE: Duration = Duration::from_secs(2);

/// How long a timed-out step's process group has between SIGTERM and SIGKILL.
pub const KILL_GRACE: Duration = Duration::from_secs(5);

/// A step's limit when its plan sets no `timeoutSeconds` and the runner no other default.
pub const DEFAULT_STEP_TIMEOUT: Duration = Duration::from_secs(3_600);

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandEnd {
    /// Exited with status 0.
    Success,
    /// Exited otherwise, was killed, timed out or could not start.
    Failure(StepFailure),
    /// The run was aborted.
    Cancelled,
}

/// Process groups of the commands running in this process.
static LIVE: Mutex<BTreeSet<i32>> = Mutex::new(BTreeSet::new());

fn live() -> std::sync::MutexGuard<'static, BTreeSet<i32>> {
    LIVE.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn signal_group(pid: i32, signal: rustix::process::Signal) {
    if let Some(pid) = rustix::process::Pid::from_raw(pid) {
        let _ = rustix::process::kill_process_group(pid, signal);
    }
}

fn kill_group(pid: i32) {
    signal_group(pid, rustix::process::Signal::KILL);
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
            return CommandEnd::Failure(StepFailure::Spawn {
                program: spec.program.clone(),
                dir: spec.dir.display().to_string(),
                reason: e.to_string(),
            })
        }
    };
    // Dropping the guard (on every return) kills what is left of the group.
    let guard = GroupGuard::new(child.id());
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let output = async {
        tokio::join!(
            pump(stdout, log, step, attempt, "stdout"),
            pump(stderr, log, step, attempt, "stderr")
        )
    };
    tokio::pin!(output);
    let mut output_closed = false;
    let main = child.wait();
    tokio::pin!(main);
    let expiry = async {
        match spec.timeout {
            Some(limit) => tokio::time::sleep(limit).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(expiry);
    let ended = loop {
        tokio::select! {
            _ = cancel.cancelled() => return CommandEnd::Cancelled,
            _ = &mut output, if !output_closed => output_closed = true,
            status = &mut main => break Some(status),
            _ = &mut expiry => break None,
        }
    };
    let Some(status) = ended else {
        let limit = spec.timeout.unwrap_or_default();
        tracing::info!(
            step,
            attempt,
            limit_s = limit.as_secs(),
            "step timed out; terminating its process group"
        );
        if let Some(pid) = guard.0 {
            signal_group(pid, rustix::process::Signal::TERM);
        }
        // Output keeps being read meanwhile: what the step prints as it stops is kept.
        let grace = tokio::time::sleep(KILL_GRACE);
        tokio::pin!(grace);
        let mut main_exited = false;
        while !(main_exited && output_closed) {
            tokio::select! {
                _ = cancel.cancelled() => return CommandEnd::Cancelled,
                _ = &mut output, if !output_closed => output_closed = true,
                _ = &mut main, if !main_exited => main_exited = true,
                _ = &mut grace => break,
            }
        }
        let how = if main_exited && output_closed {
            "it stopped on SIGTERM".to_owned()
        } else {
            format!(
                "its process group got SIGTERM, then SIGKILL after {} s",
                KILL_GRACE.as_secs()
            )
        };
        log.step_event(
            LogLevel::Warn,
            "step.timeout",
            step,
            attempt,
            format!("exceeded its limit of {} s; {how}", limit.as_secs()),
        );
        return CommandEnd::Failure(StepFailure::TimedOut { limit });
    };
    if !output_closed {
        tokio::select! {
            _ = cancel.cancelled() => return CommandEnd::Cancelled,
            _ = &mut output => {}
            _ = tokio::time::sleep(DRAIN_GRACE) => {
                tracing::debug!(step, attempt, "output still open after the drain grace; closing it");
                log.step_event(
                    LogLevel::Warn,
                    "step.orphans",
                    step,
                    attempt,
                    format!(
                        "the main process exited but its output stayed open for {} s; the step's remaining processes were killed",
                        DRAIN_GRACE.as_secs()
                    ),
                );
            }
        }
    }
    drop(guard);
    match status {
        Ok(status) => judge(status),
        Err(e) => CommandEnd::Failure(StepFailure::Wait(e.to_string())),
    }
}

fn judge(status: ExitStatus) -> CommandEnd {
    use std::os::unix::process::ExitStatusExt;
    if status.success() {
        CommandEnd::Success
    } else if let Some(code) = status.code() {
        CommandEnd::Failure(StepFailure::Exited(code))
    } else if let Some(sig) = status.signal() {
        CommandEnd::Failure(StepFailure::Signalled(sig))
    } else {
        CommandEnd::Failure(StepFailure::Ended(status.to_string()))
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
