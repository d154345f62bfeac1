//! How tenants are fenced off so that stopping one reaches every process it started: a cgroup
//! v2 per start where the host may create one, else a session of its own (`setsid`), else a
//! process group. Chosen once, when the runtime opens.

use std::fs;
use std::path::{Path, PathBuf};

/// Which isolation a runtime may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum IsolationMode {
    /// A cgroup v2 per tenant start where the host may create one (checked at open), else a
    /// session of its own.
    #[default]
    Auto,
    /// Never a cgroup: each tenant leads a session of its own (process group if `setsid` is
    /// not installed), tracked through `/proc`.
    Session,
}

/// What a runtime found it can use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Isolation {
    /// Each start gets a cgroup under this directory; stops use `cgroup.kill`.
    Cgroup {
        /// The directory holding the per-start cgroups.
        base: PathBuf,
        /// The `setsid` program, if installed (tenants also lead their own session).
        setsid: Option<PathBuf>,
    },
    /// Each tenant leads its own session (through this `setsid` program).
    Session {
        /// The `setsid` program.
        setsid: PathBuf,
    },
    /// Each tenant leads its own process group (no `setsid` program on the host).
    ProcessGroup,
}

impl Isolation {
    /// The `setsid` program tenants are started through, if any.
    pub(crate) fn setsid(&self) -> Option<&Path> {
        match self {
            Isolation::Cgroup { setsid, .. } => setsid.as_deref(),
            Isolation::Session { setsid } => Some(setsid),
            Isolation::ProcessGroup => None,
        }
    }

    /// The cgroup of the start `start_id`, if cgroups are used.
    pub(crate) fn cgroup_of(&self, start_id: &str) -> Option<PathBuf> {
        match self {
            Isolation::Cgroup { base, .. } => Some(base.join(start_id)),
            _ => None,
        }
    }

    /// A short name for logs and docs.
    pub fn name(&self) -> &'static str {
        match self {
            Isolation::Cgroup { .. } => "cgroup",
            Isolation::Session { .. } => "session",
            Isolation::ProcessGroup => "process-group",
        }
    }
}

/// Finds what this host allows.
pub(crate) fn detect(mode: IsolationMode) -> Isolation {
    let setsid = ["/usr/bin/setsid", "/bin/setsid"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file());
    if mode == IsolationMode::Auto {
        if let Some(base) = cgroup_base() {
            return Isolation::Cgroup { base, setsid };
        }
    }
    match setsid {
        Some(setsid) => Isolation::Session { setsid },
        None => Isolation::ProcessGroup,
    }
}

/// `<cgroup2 mount><our own cgroup>/berth-tenants`, if it can be created and supports
/// `cgroup.kill` (Linux 5.14+).
fn cgroup_base() -> Option<PathBuf> {
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").ok()?;
    let mount = mountinfo.lines().find_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        let fstype = right.split_whitespace().next()?;
        (fstype == "cgroup2").then(|| left.split_whitespace().nth(4).map(PathBuf::from))?
    })?;
    let own = fs::read_to_string("/proc/self/cgroup").ok()?;
    let own = own.lines().find_map(|l| l.strip_prefix("0::"))?;
    let base = mount
        .join(own.trim_start_matches('/'))
        .join("berth-tenants");
    if let Err(err) = fs::create_dir_all(&base) {
        tracing::debug!(base = %base.display(), %err, "no cgroup for tenants");
        return None;
    }
    if !base.join("cgroup.kill").exists() || !base.join("cgroup.procs").exists() {
        tracing::debug!(base = %base.display(), "cgroup without cgroup.kill; not used");
        return None;
    }
    Some(base)
}

/// Creates the cgroup of one start.
pub(crate) fn create_cgroup(path: &Path) -> std::io::Result<()> {
    match fs::create_dir(path) {
        Err(err) if err.kind() != std::io::ErrorKind::AlreadyExists => Err(err),
        _ => Ok(()),
    }
}

/// The pids in cgroup `path` and its descendants.
pub(crate) fn cgroup_pids(path: &Path) -> Vec<u32> {
    let mut pids: Vec<u32> = fs::read_to_string(path.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    if let Ok(dir) = fs::read_dir(path) {
        for sub in dir.filter_map(|e| e.ok()).filter(|e| e.path().is_dir()) {
            pids.extend(cgroup_pids(&sub.path()));
        }
    }
    pids
}

/// SIGKILLs every process of cgroup `path` at once.
pub(crate) fn cgroup_kill(path: &Path) {
    if path.is_dir() {
        if let Err(err) = fs::write(path.join("cgroup.kill"), "1") {
            tracing::warn!(cgroup = %path.display(), %err, "cgroup.kill failed");
        }
    }
}

/// Removes the (empty) cgroup `path`; leaves it if processes remain.
pub(crate) fn remove_cgroup(path: &Path) {
    if let Err(err) = fs::remove_dir(path) {
        if err.kind() != std::io::ErrorKind::NotFound {
            tracing::debug!(cgroup = %path.display(), %err, "cgroup not removed");
        }
    }
}
