//! Starting a tenant process: its command line, environment, process group, socket and logs.

use crate::events::{LogEvent, LogStream, Sinks};
use crate::options::RuntimeOptions;
use crate::port::PortLease;
use berth_core::SharedClock;
use std::io;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::process::Stdio;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};

/// Moves stdin (the listening socket) to fd 3, points stdin at /dev/null, sets `LISTEN_PID`
/// to the shell's own pid and `exec`s the command, which keeps that pid.
const TRAMPOLINE: &str = "LISTEN_PID=$$; export LISTEN_PID; exec \"$@\" 3<&0 0</dev/null";

/// Longest log line passed on in one piece.
const MAX_LINE: usize = 16 * 1024;

/// Starts the tenant in `cwd` as the leader of a new process group.
pub(crate) fn spawn_tenant(
    options: &RuntimeOptions,
    cwd: &Path,
    lease: PortLease,
) -> io::Result<Child> {
    let port = lease.port();
    let (program, args) = options.command.split_first().ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidInput, "the tenant command is empty")
    })?;
    let mut command = match &lease {
        PortLease::Bound(..) => {
            let mut c = Command::new("/bin/sh");
            c.arg("-c")
                .arg(TRAMPOLINE)
                .arg("berth-tenant")
                .arg(program)
                .args(args);
            c
        }
        PortLease::Reserved(_) => {
            let mut c = Command::new(program);
            c.args(args);
            c
        }
    };
    command.current_dir(cwd).env_clear();
    for name in &options.env_allow {
        if let Some(value) = std::env::var_os(name) {
            command.env(name, value);
        }
    }
    command.envs(&options.env).env("PORT", port.to_string());
    match lease {
        PortLease::Bound(listener, _) => {
            command
                .env("LISTEN_FDS", "1")
                .env("LISTEN_FDNAMES", "http")
                .stdin(Stdio::from(OwnedFd::from(listener)));
        }
        PortLease::Reserved(_) => {
            command.env_remove("LISTEN_FDS").stdin(Stdio::null());
        }
    }
    command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(false);
    // The command (and with it the parent's copy of the socket) is dropped on return.
    command.spawn()
}

/// Passes every line of `stream` to the log sink until the stream closes.
pub(crate) async fn pump_lines<R: AsyncRead + Unpin>(
    stream: R,
    which: LogStream,
    key: String,
    pid: u32,
    sinks: Sinks,
    clock: SharedClock,
) {
    let mut reader = BufReader::new(stream);
    let mut line = Vec::new();
    loop {
        let (consumed, complete) = match reader.fill_buf().await {
            Ok([]) | Err(_) => break,
            Ok(buf) => match buf.iter().position(|b| *b == b'\n') {
                Some(i) => {
                    line.extend_from_slice(&buf[..i]);
                    (i + 1, true)
                }
                None => {
                    line.extend_from_slice(buf);
                    (buf.len(), line.len() >= MAX_LINE)
                }
            },
        };
        reader.consume(consumed);
        if complete {
            emit(&sinks, &clock, &key, pid, which, &mut line);
        }
    }
    if !line.is_empty() {
        emit(&sinks, &clock, &key, pid, which, &mut line);
    }
}

fn emit(
    sinks: &Sinks,
    clock: &SharedClock,
    key: &str,
    pid: u32,
    which: LogStream,
    line: &mut Vec<u8>,
) {
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    sinks.log(LogEvent {
        key: key.to_owned(),
        pid,
        stream: which,
        line: String::from_utf8_lossy(line).into_owned(),
        at: clock.now(),
    });
    line.clear();
}
