//! CLI errors: what went wrong, what to do next, and the exit code.

use berth::packrun::export::{ExportError, FileError};
use berth::ErrorKind;
use berth_packrun::PackRunError;

/// The run succeeded / the command did its job.
pub const OK: u8 = 0;
/// The run failed, was rejected or cancelled.
pub const RUN_FAILED: u8 = 1;
/// The run waits at an approval gate.
pub const PAUSED: u8 = 3;
/// A run, gate, file or directory does not exist.
pub const NOT_FOUND: u8 = 4;
/// Refused: invalid or changed plan, conflict, busy, ended.
pub const REFUSED: u8 = 5;
/// The store or the file system failed.
pub const FAILURE: u8 = 6;
/// This runner's claim on the run was taken over by another runner; it stopped and wrote
/// nothing more (the new owner carries the run on).
pub const CLAIM_LOST: u8 = 7;
/// Interrupted by Ctrl-C (128 + SIGINT).
pub const INTERRUPTED: u8 = 130;

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

fn store_code(kind: ErrorKind) -> u8 {
    match kind {
        ErrorKind::NotFound => NOT_FOUND,
        ErrorKind::InvalidInput
        | ErrorKind::Conflict
        | ErrorKind::TooLarge
        | ErrorKind::Unsupported => REFUSED,
        _ => FAILURE,
    }
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
            CliError::File(e) if e.message.contains("No such file") => NOT_FOUND,
            CliError::File(_) => REFUSED,
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
                PackRunError::Store(s) if s.is_retryable() => "the store is busy or unreachable; try again".into(),
                PackRunError::Store(_) | PackRunError::Engine(_) => "check --store; run with BERTH_LOG=debug for details".into(),
                _ => return None,
            },
            CliError::Store(e) => match e.kind() {
                ErrorKind::InvalidInput => "store URLs look like sqlite:./berth.db, sled:DIR, memory:, mongodb://HOST/DB".into(),
                ErrorKind::Unsupported => "rebuild berth with the backend's feature, or pick another --store".into(),
                _ => "check --store; run with BERTH_LOG=debug for details".into(),
            },
            CliError::Export(_) => "check the target directory, its permissions and --store".into(),
            CliError::File(_) => {
                "pass a directory written by `berth export` (it has manifest.json)".into()
            }
            CliError::RunNotFound(_) => "list runs with `berth runs` (and check --store)".into(),
            CliError::Other { hint, .. } => return hint.clone(),
        })
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
