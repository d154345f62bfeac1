//! The command line, as clap sees it.

use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// `--help`'s epilogue: the exit codes (from [`crate::exit::CODES`], the one table) and the
/// environment.
fn after_help() -> String {
    let mut text = String::from("Exit codes:\n");
    for (code, meaning) in crate::exit::CODES {
        text.push_str(&format!("  {code:>3}  {meaning}\n"));
    }
    text.push_str(
        "\nEnvironment:
  BERTH_STORE      store URL (default sqlite:./berth.db)
  BERTH_ARTIFACTS  artifacts directory (default ./berth-artifacts)
  BERTH_LOG        tracing level of berth itself (error, warn, info, debug, trace)
  BERTH_STEP_TIMEOUT  limit of a step attempt whose plan sets no timeoutSeconds
                   (default 1h; 90s, 15m, 12h, 30d)
  BERTH_LEASE_TTL_MS  run lease TTL in milliseconds (default 30000); a runner stalled
                   longer may be taken over by `berth resume`
  NO_COLOR         disables colour",
    );
    text
}

fn at_least_one(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

/// berth: run task packs durably — commands, parallel blocks, approval gates — and pick up
/// where they stopped after a crash.
#[derive(Debug, Parser)]
#[command(name = "berth", version, about, after_help = after_help())]
pub struct Cli {
    /// Store URL: sqlite:PATH, sled:PATH, memory:, mongodb://…
    #[arg(
        long,
        global = true,
        env = "BERTH_STORE",
        default_value = "sqlite:./berth.db"
    )]
    pub store: String,
    /// Print JSON instead of text (one object, or JSON lines while a run executes).
    #[arg(long, global = true)]
    pub json: bool,
    /// Where runs copy their declared outputs (one sub-directory per run).
    #[arg(
        long,
        global = true,
        env = "BERTH_ARTIFACTS",
        default_value = "berth-artifacts"
    )]
    pub artifacts: PathBuf,
    /// Limit of a step attempt whose plan sets no `timeoutSeconds`: 90s, 15m, 12h, 30d
    /// [default: 1h].
    #[arg(
        long = "step-timeout",
        value_name = "DURATION",
        global = true,
        env = "BERTH_STEP_TIMEOUT",
        value_parser = crate::commands::token::parse_duration
    )]
    pub step_timeout_flag: Option<std::time::Duration>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// The limit of a step attempt whose plan sets none: `--step-timeout`, else the runner's
    /// default.
    pub fn step_timeout(&self) -> std::time::Duration {
        self.step_timeout_flag
            .unwrap_or(berth_packrun::command::DEFAULT_STEP_TIMEOUT)
    }
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the built-in sample pack: commands, a parallel block, an approval gate, an artifact.
    Demo {
        /// Directory for the demo's plan and work files.
        #[arg(long, default_value = "berth-demo")]
        dir: PathBuf,
    },
    /// Start a run of the plan in PLAN (JSON) and follow it until it ends or pauses.
    Run {
        /// The plan file.
        plan: PathBuf,
        /// Start the runner in the background and return once the run is recorded.
        #[arg(long)]
        detach: bool,
        /// Use this run id instead of a generated one.
        #[arg(long)]
        run_id: Option<String>,
        /// Tenant of the run.
        #[arg(long)]
        tenant: Option<String>,
    },
    /// List runs, most recently updated first.
    Runs {
        /// Only runs of this tenant.
        #[arg(long)]
        tenant: Option<String>,
        /// At most this many (at least 1).
        #[arg(long, default_value_t = 20, value_parser = at_least_one)]
        limit: usize,
    },
    /// Show one run: steps, approvals, artifacts, runner.
    Show {
        /// The run id.
        run: String,
    },
    /// Print a run's log.
    Logs {
        /// The run id.
        run: String,
        /// Keep printing new lines until the run ends.
        #[arg(long, short)]
        follow: bool,
        /// Only entries with a sequence greater than this.
        #[arg(long)]
        after: Option<u64>,
    },
    /// Approve a gate; once approved, the run resumes here.
    Approve {
        /// The run id.
        run: String,
        /// The gate id.
        gate: String,
        /// Who approves.
        #[arg(long = "as", value_name = "ACTOR")]
        actor: String,
        /// Record the decision only; resume later with `berth resume`.
        #[arg(long)]
        no_resume: bool,
    },
    /// Reject a gate; the run fails with the reason.
    Reject {
        /// The run id.
        run: String,
        /// The gate id.
        gate: String,
        /// Who rejects.
        #[arg(long = "as", value_name = "ACTOR")]
        actor: String,
        /// Why.
        #[arg(long)]
        reason: String,
    },
    /// Continue a paused run, or one whose runner was killed, from its last committed step.
    Resume {
        /// The run id.
        run: String,
        /// The plan to check against (default: the file the run started from, if present).
        #[arg(long)]
        plan: Option<PathBuf>,
    },
    /// List a run's artifacts.
    Artifacts {
        /// The run id.
        run: String,
    },
    /// List shard leases: which runner holds which run, token and expiry.
    Leases,
    /// Export every run with its logs, artifacts and approvals into DIR (a folder per run).
    Export {
        /// Target directory (new or empty).
        #[arg(long)]
        to: PathBuf,
    },
    /// Import an export directory into the store (idempotent).
    Import {
        /// The export directory.
        #[arg(long)]
        from: PathBuf,
    },
    /// Serve the runs API and the web console (see docs/serve.md).
    Serve(ServeArgs),
    /// Create, list and revoke API tokens of `berth serve`.
    #[command(subcommand)]
    Token(TokenCommand),
}

/// Options of `berth serve`.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0: any free port); beyond 127.0.0.1 put TLS in front.
    #[arg(long, env = "BERTH_LISTEN", default_value = "127.0.0.1:8420")]
    pub listen: std::net::SocketAddr,
    /// Largest request body in bytes.
    #[arg(long, default_value_t = 65_536)]
    pub max_body: usize,
    /// Longest a request may take, in seconds (live log follows excepted).
    #[arg(long, default_value_t = 30)]
    pub request_timeout: u64,
}

/// `berth token …`.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token; it is printed once and stored hashed.
    Create {
        /// Who holds it (recorded as the approver of their decisions).
        #[arg(long)]
        name: String,
        /// viewer (read), approver (also approve/reject/resume/cancel) or admin.
        #[arg(long)]
        role: crate::serve::tokens::Role,
        /// Lifetime: 90s, 15m, 12h, 30d (default: until revoked).
        #[arg(long, value_parser = crate::commands::token::parse_duration)]
        expires_in: Option<std::time::Duration>,
    },
    /// List tokens (never the tokens themselves).
    List,
    /// Revoke a token by id; it stops working at once.
    Revoke {
        /// The token id (from `berth token list`).
        id: String,
    },
}
