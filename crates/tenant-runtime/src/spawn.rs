//! Starting a tenant process: its command line, environment, session, cgroup, socket and
//! output files.

use crate::members::START_ID_VAR;
use crate::options::RuntimeOptions;
use crate::port::PortLease;
use std::ffi::OsString;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use tokio::process::{Child, Command};

/// Joins the start's cgroup (if one is named), hands the listening socket over (if asked: it
/// arrives as stdin and moves to fd 3, with `LISTEN_PID` set to the shell's own pid) and
/// `exec`s the command (through `setsid` when tenants lead their own session), which keeps
/// the pid. Arguments: cgroup directory (or empty), `1` for hand-over (or `0`), command.
const TRAMPOLINE: &str = r#"cg=$1; lfd=$2; shift 2
if [ -n "$cg" ]; then echo $$ > "$cg/cgroup.procs" || exit 125; fi
if [ "$lfd" = 1 ]; then LISTEN_PID=$$; export LISTEN_PID; exec "$@" 3<&0 0</dev/null; fi
exec "$@""#;

/// Where the start's processes go.
pub(crate) struct Launch<'a> {
    pub(crate) cwd: &'a Path,
    pub(crate) start_id: &'a str,
    pub(crate) cgroup: Option<&'a Path>,
    pub(crate) setsid: Option<&'a Path>,
    pub(crate) stdout: std::fs::File,
    pub(crate) stderr: std::fs::File,
}

/// Whether `path` is a file someone may execute.
fn executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The program the tenant command names: relative to the tenant directory when it holds a
/// `/`, else looked up in the tenant's `PATH`. Missing is a spawn error, with or without
/// socket hand-over.
pub(crate) fn resolve_program(options: &RuntimeOptions, cwd: &Path) -> io::Result<PathBuf> {
    let program = options.command.first().ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidInput, "the tenant command is empty")
    })?;
    let not_found = || {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("no executable file {program:?} (tenant directory or PATH)"),
        )
    };
    if program.contains('/') {
        let path = cwd.join(program);
        return if executable(&path) {
            Ok(path)
        } else {
            Err(not_found())
        };
    }
    let path_var: OsString = match options.env.get("PATH") {
        Some(p) => p.into(),
        None if options.env_allow.iter().any(|n| n == "PATH") => {
            std::env::var_os("PATH").unwrap_or_else(|| DEFAULT_PATH.into())
        }
        None => DEFAULT_PATH.into(),
    };
    std::env::split_paths(&path_var)
        .map(|dir| cwd.join(dir).join(program))
        .find(|p| executable(p))
        .ok_or_else(not_found)
}

/// `PATH` when the tenant's environment has none.
const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// Starts the tenant in `launch.cwd`, leading its own session (or process group), in its
/// cgroup if any, output appended to its log files.
pub(crate) fn spawn_tenant(
    options: &RuntimeOptions,
    launch: Launch<'_>,
    lease: PortLease,
) -> io::Result<Child> {
    let port = lease.port();
    let program = resolve_program(options, launch.cwd)?;
    let cgroup = launch
        .cgroup
        .map(|c| c.as_os_str().to_owned())
        .unwrap_or_default();
    let handover = matches!(lease, PortLease::Bound(..));
    let mut command = Command::new("/bin/sh");
    command
        .arg("-c")
        .arg(TRAMPOLINE)
        .arg("berth-tenant")
        .arg(cgroup)
        .arg(if handover { "1" } else { "0" });
    if let Some(setsid) = launch.setsid {
        command.arg(setsid);
    }
    command.arg(program).args(options.command.iter().skip(1));
    command.current_dir(launch.cwd).env_clear();
    for name in &options.env_allow {
        if let Some(value) = std::env::var_os(name) {
            command.env(name, value);
        }
    }
    command
        .envs(&options.env)
        .env("PORT", port.to_string())
        .env(START_ID_VAR, launch.start_id);
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
    if launch.setsid.is_none() {
        command.process_group(0);
    }
    command
        .stdout(Stdio::from(launch.stdout))
        .stderr(Stdio::from(launch.stderr))
        .kill_on_drop(false);
    // The command (and with it the parent's copy of the socket) is dropped on return.
    command.spawn()
}
