//! The command line: global connection flags (each with an environment variable) and one
//! subcommand per operation.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// berth-migrate: applies berth's MongoDB migrations before berth is enabled on a database.
///
/// Configuration comes from flags, then environment variables, then the config file (the
/// task runner's `TaskRunner:Storage:Mongo` section). Exit codes: 0 ok, 1 failure, 2 usage or
/// configuration, 3 drift, 4 lock not acquired, 5 not up to date, 6 import skipped records.
#[derive(Debug, Parser)]
#[command(name = "berth-migrate", version)]
pub struct Cli {
    /// Connection and output settings shared by every command.
    #[command(flatten)]
    pub global: Global,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Settings shared by every command.
#[derive(Debug, Clone, Args)]
pub struct Global {
    /// MongoDB connection string (mongodb://… or mongodb+srv://…).
    #[arg(long, env = "BERTH_MONGODB_URI", global = true)]
    pub uri: Option<String>,
    /// Database; defaults to the config file's, then the connection string's, then `berth`.
    #[arg(long, env = "BERTH_MONGODB_DATABASE", global = true)]
    pub database: Option<String>,
    /// Config file (JSON) holding `TaskRunner: { Storage: { Mongo: { … } } }`.
    #[arg(long, env = "BERTH_MIGRATE_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Name of the runs collection (`RunsCollection`).
    #[arg(long, env = "BERTH_MONGODB_RUNS_COLLECTION", global = true)]
    pub runs_collection: Option<String>,
    /// Name of the logs collection (`LogsCollection`).
    #[arg(long, env = "BERTH_MONGODB_LOGS_COLLECTION", global = true)]
    pub logs_collection: Option<String>,
    /// Name of the artifacts collection (`ArtifactsCollection`).
    #[arg(long, env = "BERTH_MONGODB_ARTIFACTS_COLLECTION", global = true)]
    pub artifacts_collection: Option<String>,
    /// Name of the approvals collection (`ApprovalsCollection`).
    #[arg(long, env = "BERTH_MONGODB_APPROVALS_COLLECTION", global = true)]
    pub approvals_collection: Option<String>,
    /// Seconds to wait for another operator's migration lock before giving up (exit 4).
    #[arg(
        long,
        env = "BERTH_MIGRATE_LOCK_TIMEOUT",
        global = true,
        default_value_t = 120
    )]
    pub lock_timeout: u64,
    /// Seconds a lock outlives its holder's last heartbeat (a killed holder on another host).
    #[arg(
        long,
        env = "BERTH_MIGRATE_LOCK_TTL",
        global = true,
        default_value_t = 60,
        hide = true
    )]
    pub lock_ttl: u64,
    /// One JSON document on stdout instead of human output.
    #[arg(long, global = true)]
    pub json: bool,
    /// More diagnostics on stderr (-v debug, -vv trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// The operations.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Applied, pending and drifted migrations (exit 5 when some are pending).
    Status,
    /// Applies pending migrations and completes half-applied ones.
    Up(UpArgs),
    /// Rolls back migrations after `--to`; keeps the collections unless `--drop`.
    Down(DownArgs),
    /// Checks that every collection, validator and index is present with the expected options.
    Verify(VerifyArgs),
    /// Imports a pack-run export directory (`berth export`) into the collections.
    Import(ImportArgs),
}

/// Arguments of `up`.
#[derive(Debug, Clone, Args)]
pub struct UpArgs {
    /// Apply migrations up to and including this id (default: all).
    #[arg(long)]
    pub to: Option<String>,
    /// Print every command that would be sent, send none.
    #[arg(long)]
    pub dry_run: bool,
    /// Expire log entries this many days after their timestamp (a TTL on `timestamp_1`);
    /// 0 removes the TTL. Without it, the TTL stays as it is (none on a new database).
    #[arg(long, env = "BERTH_LOG_RETENTION_DAYS")]
    pub log_retention_days: Option<u32>,
}

/// Arguments of `down`.
#[derive(Debug, Clone, Args)]
pub struct DownArgs {
    /// Keep this migration and those before it; `0` rolls back every migration.
    #[arg(long)]
    pub to: String,
    /// Also drop what the rolled-back migrations created (collections, indexes, their data).
    #[arg(long)]
    pub drop: bool,
    /// With `--drop`: the database name, to confirm.
    #[arg(long, value_name = "DATABASE")]
    pub confirm: Option<String>,
    /// Print every command that would be sent, send none.
    #[arg(long)]
    pub dry_run: bool,
}

/// Arguments of `verify`.
#[derive(Debug, Clone, Args)]
pub struct VerifyArgs {
    /// Also check that the logs TTL is this many days (0: no TTL).
    #[arg(long, env = "BERTH_LOG_RETENTION_DAYS")]
    pub log_retention_days: Option<u32>,
}

/// Arguments of `import`.
#[derive(Debug, Clone, Args)]
pub struct ImportArgs {
    /// The export directory.
    #[arg(long)]
    pub from: PathBuf,
}
