//! The one error type of `berth-migrate`, each kind mapped to an [`Exit`] code.

use crate::exit::Exit;
use std::path::PathBuf;

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MigrateError {
    /// Flags, environment or config file are wrong or incomplete.
    #[error("configuration: {0}")]
    Config(String),
    /// The config file could not be read or parsed.
    #[error("config file {path}: {reason}")]
    ConfigFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The server could not be reached.
    #[error("cannot reach MongoDB at {target}: {reason}")]
    Connect {
        /// The connection string without credentials.
        target: String,
        /// The driver's error, any password in it replaced by `***`.
        reason: String,
    },
    /// A command failed on the server.
    #[error("{what}: {source}")]
    Mongo {
        /// What was being done.
        what: String,
        /// The driver's error.
        source: mongodb::error::Error,
    },
    /// The server answered a write command with write errors.
    #[error("{what}: the server refused it: {reply}")]
    Refused {
        /// What was being done.
        what: String,
        /// The reply, as JSON.
        reply: String,
    },
    /// The backend's migration helpers failed.
    #[error(transparent)]
    Store(#[from] berth_core::Error),
    /// Recorded migrations do not match the code.
    #[error("drift: {}", .0.join("; "))]
    Drift(Vec<String>),
    /// `--to` names no known migration.
    #[error("unknown migration {0:?} (run `berth-migrate status` for the list)")]
    UnknownMigration(String),
    /// An object exists with options the code cannot reconcile by itself.
    #[error("{0}")]
    Conflict(String),
    /// Another operator holds the lock.
    #[error(
        "the migration lock of database {database:?} is held by {holder} and was not released \
         within {waited_secs} s; retry later, or if that process is gone for good wait for the \
         lock to expire (it lapses {ttl_secs} s after its holder's last heartbeat)"
    )]
    Locked {
        /// The database.
        database: String,
        /// Who holds it.
        holder: String,
        /// How long this process waited.
        waited_secs: u64,
        /// The lock's lifetime without a heartbeat.
        ttl_secs: u64,
    },
    /// `down --drop` without the confirmation.
    #[error(
        "`down --drop` deletes the collections and their data; confirm with `--confirm {database}`"
    )]
    NotConfirmed {
        /// The database to name.
        database: String,
    },
    /// The export directory as a whole is unusable (no or a foreign manifest).
    #[error("import: {0}")]
    Import(String),
    /// A file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

impl MigrateError {
    /// The exit code for this error.
    pub fn exit(&self) -> Exit {
        match self {
            MigrateError::Config(_)
            | MigrateError::ConfigFile { .. }
            | MigrateError::UnknownMigration(_)
            | MigrateError::NotConfirmed { .. } => Exit::Usage,
            MigrateError::Drift(_) => Exit::Drift,
            MigrateError::Locked { .. } => Exit::Locked,
            _ => Exit::Failure,
        }
    }

    /// A closure wrapping a driver error met while doing `what`.
    pub fn mongo(what: impl Into<String>) -> impl FnOnce(mongodb::error::Error) -> MigrateError {
        let what = what.into();
        move |source| MigrateError::Mongo { what, source }
    }
}
