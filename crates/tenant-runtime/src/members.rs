//! Which processes belong to one tenant start: its cgroup, its session and process group, the
//! descendants of any of those, and every process carrying the start's marker in its
//! environment (`BERTH_TENANT_START_ID`), so a helper that calls `setsid` or `setpgid` (or
//! daemonizes away from its parent) is still found.

use crate::isolation;
use crate::procfs::{self, ProcStat};
use parking_lot::Mutex;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

/// The environment variable that marks every process of a start.
pub(crate) const START_ID_VAR: &str = "BERTH_TENANT_START_ID";

/// What identifies the processes of one tenant start.
#[derive(Debug)]
pub(crate) struct Members {
    /// The start's id (also the name of its cgroup).
    pub(crate) start_id: String,
    /// The leader's pid, 0 before the spawn.
    pub(crate) leader: u32,
    /// The leader's start time: pids, groups and sessions of processes started before it are
    /// never taken for members.
    pub(crate) leader_ticks: Option<u64>,
    /// The start's cgroup, if cgroups are used.
    pub(crate) cgroup: Option<PathBuf>,
    /// Processes seen as members (pid → start ticks): still members while they live.
    seen: Mutex<HashMap<u32, u64>>,
}

impl Members {
    pub(crate) fn new(
        start_id: String,
        leader: u32,
        leader_ticks: Option<u64>,
        cgroup: Option<PathBuf>,
    ) -> Members {
        Members {
            start_id,
            leader,
            leader_ticks,
            cgroup,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// The live members now. `deep` also reads every newer process's environment for the
    /// start marker (slower: done at the start of a stop and at recovery).
    pub(crate) fn scan(&self, deep: bool) -> Vec<u32> {
        let me = std::process::id();
        let all = procfs::all_processes();
        let by_pid: HashMap<u32, &ProcStat> = all.iter().map(|s| (s.pid, s)).collect();
        let min_ticks = self.leader_ticks.unwrap_or(0);
        let newer = |s: &ProcStat| s.start_ticks >= min_ticks;
        let mut members: HashSet<u32> = HashSet::new();
        if let Some(cg) = &self.cgroup {
            members.extend(
                isolation::cgroup_pids(cg)
                    .into_iter()
                    .filter(|p| by_pid.contains_key(p)),
            );
        }
        if self.leader > 1 {
            for s in &all {
                let ours = s.pid == self.leader || s.sid == self.leader || s.pgid == self.leader;
                if ours && newer(s) {
                    members.insert(s.pid);
                }
            }
        }
        {
            let seen = self.seen.lock();
            for (pid, ticks) in seen.iter() {
                if by_pid.get(pid).is_some_and(|s| s.start_ticks == *ticks) {
                    members.insert(*pid);
                }
            }
        }
        if deep && !self.start_id.is_empty() {
            let marker = format!("{START_ID_VAR}={}", self.start_id).into_bytes();
            for s in &all {
                if !members.contains(&s.pid)
                    && newer(s)
                    && s.pid != me
                    && procfs::environ_has(s.pid, &marker)
                {
                    members.insert(s.pid);
                }
            }
        }
        // Descendants of members, to a fixed point.
        loop {
            let before = members.len();
            for s in &all {
                if members.contains(&s.ppid) && newer(s) {
                    members.insert(s.pid);
                }
            }
            if members.len() == before {
                break;
            }
        }
        members.remove(&me);
        members.remove(&0);
        members.remove(&1);
        let mut seen = self.seen.lock();
        seen.retain(|pid, _| members.contains(pid));
        for pid in &members {
            if let Some(s) = by_pid.get(pid) {
                seen.insert(*pid, s.start_ticks);
            }
        }
        let mut out: Vec<u32> = members.into_iter().collect();
        out.sort_unstable();
        out
    }

    /// Remembers the current members without signalling them (called by the observer, so
    /// that a helper whose parent later dies is still known).
    pub(crate) fn refresh(&self) {
        let _ = self.scan(false);
    }
}
