//! CLI errors: what went wrong, what to do next, and the exit code.
//!
//! Exit codes come from typed error kinds through two tables: [`CODES`] (every exit code and
//! what it means; `docs/cli.md` shows the same table) and [`STORE_KINDS`] (each store
//! [`ErrorKind`] with its exit code and hint). Adding a kind is one row.

use berth::packrun::export::{ExportError, FileError};
use berth::ErrorKind;
use berth_packrun::PackRunError;

/// The run succeeded / the command did its job.
pub const OK: u8 = 0;
/// The run failed, was rejected or cancelled.
pub const RUN_FAILED: u8 = 1;
/// Usage error: unknown command or option, or an argument that breaks a rule.
pub const USAGE: u8 = 2;
/// The run waits at an approval gate.
pub const PAUSED: u8 = 3;
/// A run, gate, file or directory does not exist.
pub const NOT_FOUND: u8 = 4;
/// Refused: invalid or changed plan, conflict, busy, ended, over a limit.
pub const REFUSED: u8 = 5;
/// The store or the file system failed.
pub const FAILURE: u8 = 6;
/// This runner's claim on the run was taken over by another runner; it stopped and wrote
/// nothing more (the new owner carries the run on).
pub const CLAIM_LOST: u8 = 7;
/// `logs --follow` stopped because the run's runner is gone (killed, or stalled past its
/// lease) and nobody took the run over: `berth resume RUN` continues it.
pub const OWNER_GONE: u8 = 8;
/// Interrupted by Ctrl-C (128 + SIGINT).
pub const INTERRUPTED: u8 = 130;
/// `logs --follow` stopped quietly because standard output was closed (`| head -1`):
/// 128 + SIGPIPE, what a shell reports for a filter whose reader went away.
pub const OUTPUT_CLOSED: u8 = 141;

/// Every exit code and what it means.
pub const CODES: &[(u8, &str)] = &[
    (OK, "done; for run/resume/approve/demo: the run succeeded; for logs --follow: the run ended (succeeded, failed or cancelled)"),
    (RUN_FAILED, "the run failed, was rejected or cancelled"),
    (USAGE, "usage error: unknown command or option, or an argument that breaks a rule (ids, URLs, limits)"),
    (PAUSED, "the run is paused at an approval gate (or approved and waiting for `berth resume`); also `logs --follow` on such a run"),
    (NOT_FOUND, "not found: run, gate, plan file, export directory; for runs/show/logs/artifacts/leases/export, the database"),
    (REFUSED, "refused: invalid plan, plan changed, conflict, already decided, run busy or ended, over a limit, incomplete export"),
    (FAILURE, "store or file-system failure, damaged data; runs/export that left out runs they could not read (named)"),
    (CLAIM_LOST, "claim lost: this runner's lease lapsed (stopped, suspended) and another runner took the run over; it stopped its commands and wrote nothing more"),
    (OWNER_GONE, "logs --follow: the run's runner is gone (killed, or stalled past its lease) and nobody took the run over; `berth resume RUN` continues it"),
    (INTERRUPTED, "interrupted (Ctrl-C); the run is resumable"),
    (OUTPUT_CLOSED, "logs --follow: standard output was closed (`| head -1`); stopped quietly"),
];

/// Each store error kind: its exit code and what to do next.
pub const STORE_KINDS: &[(ErrorKind, u8, &str)] = &[
    (ErrorKind::InvalidInput, REFUSED, "fix the named input; the rules are in docs/limits.md"),
    (ErrorKind::TooLarge, REFUSED, "make it smaller: berth's limits are in docs/limits.md (retrying will not help)"),
    (ErrorKind::Conflict, REFUSED, "someone else changed it first; look again (`berth show RUN`) and repeat if still wanted"),
    (ErrorKind::StaleFence, REFUSED, "another runner took the run over; follow it with `berth logs RUN --follow`"),
    (ErrorKind::SessionExpired, CLAIM_LOST, "this process's session lapsed; resume the run with `berth resume RUN`"),
    (ErrorKind::NotFound, NOT_FOUND, "list runs with `berth runs` (and check --store)"),
    (ErrorKind::Unsupported, REFUSED, "this build of berth cannot use that store as it is; a store written by a newer berth needs that newer berth"),
    (ErrorKind::ReadOnly, REFUSED, "this command only reads the store; write with a command that changes runs (run, resume, approve, import)"),
    (ErrorKind::Corrupt, FAILURE, "the store holds damaged data; `berth export` names what it cannot read, restore that from an export"),
    (ErrorKind::Backend, FAILURE, "check --store; run with BERTH_LOG=debug for details"),
];

/// The exit code and hint of a store error kind (unknown kinds: a failure).
pub fn store_kind(kind: ErrorKind) -> (u8, &'static str) {
    STORE_KINDS.iter().find(|(k, _, _)| *k == kind).map_or(
        (FAILURE, "run with BERTH_LOG=debug for details"),
        |(_, code, hint)| (*code, *hint),
    )
}

fn store_code(kind: ErrorKind) -> u8 {
    store_kind(kind).0
}

fn store_hint(e: &berth::Error) -> String {
    if e.is_retryable() {
        return "the store is busy or unreachable; try again".into();
    }
    store_kind(e.kind()).1.into()
}

/// An error of a command.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// From the runner.
    #[error(transparent)]
    PackRun(#[from] PackRunError),
    /// From the store.
    #[error(transparent)]
    Store(#[from] berth::Error),
    /// From export.
    #[error(transparent)]
    Export(#[from] ExportError),
    /// An export file that cannot be read.
    #[error(transparent)]
    File(#[from] FileError),
    /// A run that does not exist.
    #[error("run {0} not found")]
    RunNotFound(String),
    /// A command-line argument that breaks a rule (exit 2).
    #[error("{0}")]
    Usage(berth::Error),
    /// An opened store URL names a backend this build does not have.
    #[error(transparent)]
    MissingBackend(berth::Error),
    /// Anything else, with its exit code and hint.
    #[error("{message}")]
    Other {
        /// What happened.
        message: String,
        /// What to do.
        hint: Option<String>,
        /// The exit code.
        code: u8,
    },
}

impl CliError {
    /// The exit code.
    pub fn code(&self) -> u8 {
        match self {
            CliError::PackRun(e) => match e {
                PackRunError::PlanRead { source, .. }
                    if source.kind() == std::io::ErrorKind::NotFound =>
                {
                    NOT_FOUND
                }
                PackRunError::PlanRead { .. } => FAILURE,
                PackRunError::RunNotFound(_) | PackRunError::GateNotFound { .. } => NOT_FOUND,
                PackRunError::Store(s) => store_code(s.kind()),
                PackRunError::Engine(p) => p.store_kind().map_or(REFUSED, store_code),
                PackRunError::Corrupt { .. } => FAILURE,
                PackRunError::ClaimLost { .. } => CLAIM_LOST,
                _ => REFUSED,
            },
            CliError::Store(e) => store_code(e.kind()),
            CliError::Export(ExportError::Store(e)) => store_code(e.kind()),
            CliError::Export(_) => FAILURE,
            CliError::File(e) if e.missing => NOT_FOUND,
            CliError::File(_) => REFUSED,
            CliError::Usage(_) => USAGE,
            CliError::MissingBackend(_) => REFUSED,
            CliError::RunNotFound(_) => NOT_FOUND,
            CliError::Other { code, .. } => *code,
        }
    }

    /// What the user can do next.
    pub fn hint(&self) -> Option<String> {
        Some(match self {
            CliError::PackRun(e) => match e {
                PackRunError::PlanRead { .. } => "check the path; plans are JSON files (see docs/cli.md)".into(),
                PackRunError::Plan { .. } => "fix the plan; step kinds are run, approval, parallel and map (see docs/cli.md)".into(),
                PackRunError::PlanChanged { run_id, .. } => format!(
                    "restore the plan the run started with, or start a new run with `berth run PLAN`; `berth show {run_id}` shows the stored plan hash"
                ),
                PackRunError::RunExists(_) => "choose another --run-id, or omit it".into(),
                PackRunError::RunNotFound(_) => "list runs with `berth runs` (and check --store)".into(),
                PackRunError::NotResumable { run_id, .. } => format!("see what happened with `berth show {run_id}` and `berth logs {run_id}`"),
                PackRunError::NeverStarted(_) => "start a new run of its plan with `berth run PLAN`".into(),
                PackRunError::GateNotFound { run_id, .. } => format!("the run has not reached that gate yet; see `berth show {run_id}`"),
                PackRunError::Decision(_) => "see the gate's decisions with `berth show RUN`".into(),
                PackRunError::Busy { run_id, .. } => format!("follow it with `berth logs {run_id} --follow`, or wait until its lease lapses and `berth resume {run_id}`"),
                PackRunError::ClaimLost { run_id } => format!("another runner owns it now; follow it with `berth logs {run_id} --follow` or see `berth show {run_id}`"),
                PackRunError::Corrupt { .. } => "the store holds damaged data; restore from an export (`berth import`)".into(),
                PackRunError::Store(s) => store_hint(s),
                PackRunError::Engine(_) => "check --store; run with BERTH_LOG=debug for details".into(),
                PackRunError::MissingVariable { source, .. } => format!("set {} in berth's environment (see docs/cli.md, plan environment)", source.variable),
                PackRunError::SecretNotStored { run_id, .. } => format!("pass the plan file: `berth resume {run_id} --plan PLAN`; or give the value with fromEnv, which a resume reads again"),
                _ => return None,
            },
            CliError::Store(e) => store_hint(e),
            CliError::Usage(berth::Error::InvalidInput { what: "url", .. }) => {
                "store URLs look like sqlite:./berth.db, sled:DIR, memory:, mongodb://HOST/DB (see docs/cli.md)".into()
            }
            CliError::Usage(_) => "the rules are in docs/limits.md".into(),
            CliError::MissingBackend(_) => {
                "rebuild berth with the backend's cargo feature, or pick another --store".into()
            }
            CliError::Export(ExportError::Store(e)) => store_hint(e),
            CliError::Export(_) => "check the target directory, its permissions and --store".into(),
            CliError::File(_) => {
                "pass a directory written by `berth export` (it has manifest.json)".into()
            }
            CliError::RunNotFound(_) => "list runs with `berth runs` (and check --store)".into(),
            CliError::Other { hint, .. } => return hint.clone(),
        })
    }

    /// An argument that breaks a rule: exit 2 with the rule.
    pub fn usage(error: berth::Error) -> Self {
        CliError::Usage(error)
    }

    /// An error with a hint and code.
    pub fn other(message: impl Into<String>, hint: impl Into<String>, code: u8) -> Self {
        CliError::Other {
            message: message.into(),
            hint: Some(hint.into()),
            code,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_store_kind_has_one_row_and_a_listed_code() {
        for (i, (kind, code, hint)) in STORE_KINDS.iter().enumerate() {
            assert!(CODES.iter().any(|(c, _)| c == code), "{kind}");
            assert!(!hint.is_empty());
            assert!(
                STORE_KINDS[i + 1..].iter().all(|(k, _, _)| k != kind),
                "{kind} twice"
            );
        }
        assert_eq!(store_kind(ErrorKind::NotFound).0, NOT_FOUND);
        assert!(!store_kind(ErrorKind::TooLarge).1.contains("try again"));
    }
}
