//! Reading `/proc`: process identity, liveness and the usage of whole process groups.

use std::collections::HashMap;
use std::fs;

/// The fields of `/proc/<pid>/stat` the runtime uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProcStat {
    pub(crate) pid: u32,
    pub(crate) state: u8,
    pub(crate) ppid: u32,
    pub(crate) pgid: u32,
    /// Session id.
    pub(crate) sid: u32,
    /// utime + stime + cutime + cstime, in clock ticks.
    pub(crate) cpu_ticks: u64,
    /// Start time after boot, in clock ticks: with the pid, the identity of a process.
    pub(crate) start_ticks: u64,
    pub(crate) rss_pages: u64,
}

impl ProcStat {
    /// A zombie or dead entry: exited, waiting to be reaped.
    pub(crate) fn is_dead(&self) -> bool {
        matches!(self.state, b'Z' | b'X' | b'x')
    }
}

/// Parses the text of `/proc/<pid>/stat`; the command name may hold spaces and parentheses.
pub(crate) fn parse_stat(pid: u32, text: &str) -> Option<ProcStat> {
    let after = text.get(text.rfind(')')? + 2..)?;
    let fields: Vec<&str> = after.split_ascii_whitespace().collect();
    let num = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
    let signed = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<i64>().ok())
            .map(|v| u64::try_from(v).unwrap_or(0))
    };
    Some(ProcStat {
        pid,
        state: *fields.first()?.as_bytes().first()?,
        ppid: u32::try_from(num(1)?).ok()?,
        pgid: u32::try_from(num(2)?).ok()?,
        sid: u32::try_from(num(3)?).ok()?,
        cpu_ticks: num(11)? + num(12)? + signed(13)? + signed(14)?,
        start_ticks: num(19)?,
        rss_pages: signed(21)?,
    })
}

/// `/proc/<pid>/stat` of one process, if it exists.
pub(crate) fn stat(pid: u32) -> Option<ProcStat> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(pid, &text)
}

/// Whether `pid` is a live (not zombie) process, and the one started at `start_ticks` if given.
pub(crate) fn is_alive(pid: u32, start_ticks: Option<u64>) -> bool {
    match stat(pid) {
        Some(s) => !s.is_dead() && start_ticks.map_or(true, |t| t == s.start_ticks),
        None => false,
    }
}

/// Every live process on the host.
pub(crate) fn all_processes() -> Vec<ProcStat> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(stat)
        .filter(|s| !s.is_dead())
        .collect()
}

/// Whether the environment of `pid` holds the exact entry `entry` (`NAME=value`).
pub(crate) fn environ_has(pid: u32, entry: &[u8]) -> bool {
    fs::read(format!("/proc/{pid}/environ"))
        .is_ok_and(|env| env.split(|b| *b == 0).any(|e| e == entry))
}

/// Usage of one process group.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct GroupUsage {
    pub(crate) cpu_ms: u64,
    pub(crate) rss_bytes: u64,
    pub(crate) processes: u32,
}

/// Usage of each of `pgids`, from one pass over `/proc`.
pub(crate) fn group_usage(pgids: &[u32]) -> HashMap<u32, GroupUsage> {
    let ticks = rustix::param::clock_ticks_per_second().max(1);
    let page = u64::try_from(rustix::param::page_size()).unwrap_or(4096);
    let mut usage: HashMap<u32, GroupUsage> =
        pgids.iter().map(|p| (*p, GroupUsage::default())).collect();
    for s in all_processes() {
        if let Some(u) = usage.get_mut(&s.pgid) {
            u.cpu_ms += s.cpu_ticks.saturating_mul(1000) / ticks;
            u.rss_bytes += s.rss_pages.saturating_mul(page);
            u.processes += 1;
        }
    }
    usage
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_with_spaces_and_parens() {
        let text = "42 (a) b (c)) S 1 42 42 0 -1 4194560 100 0 0 0 7 3 1 2 20 0 1 0 12345 1000 25 18446744073709551615";
        let s = parse_stat(42, text).unwrap();
        assert_eq!(s.state, b'S');
        assert_eq!((s.ppid, s.pgid, s.sid), (1, 42, 42));
        assert_eq!(s.cpu_ticks, 13);
        assert_eq!(s.start_ticks, 12345);
        assert_eq!(s.rss_pages, 25);
        assert!(parse_stat(1, "garbage").is_none());
    }

    #[test]
    fn sees_itself() {
        let me = std::process::id();
        let s = stat(me).unwrap();
        assert!(is_alive(me, Some(s.start_ticks)));
        assert!(!is_alive(me, Some(s.start_ticks + 1)));
        assert!(group_usage(&[s.pgid])[&s.pgid].processes >= 1);
    }
}
