//! The process exit codes, documented for scripts (also in `docs/migrations.md`).

/// How `berth-migrate` ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: done; the database is (or, with `--dry-run`, would be) as asked.
    Ok,
    /// 1: a failure: the server unreachable or refusing a command, a file unreadable.
    Failure,
    /// 2: bad usage or configuration (also clap's code for a bad command line).
    Usage,
    /// 3: drift: a recorded checksum differs from the code, or an unknown migration is recorded.
    Drift,
    /// 4: the migration lock was not acquired within `--lock-timeout`.
    Locked,
    /// 5: not up to date: `status` found pending migrations, `verify` missing or different objects.
    NotUpToDate,
    /// 6: `import` finished but skipped malformed or refused records.
    Partial,
}

impl Exit {
    /// The numeric code.
    pub fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::Failure => 1,
            Exit::Usage => 2,
            Exit::Drift => 3,
            Exit::Locked => 4,
            Exit::NotUpToDate => 5,
            Exit::Partial => 6,
        }
    }
}
