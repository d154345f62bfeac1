//! berth-migrate: the MongoDB migration tool operators run before enabling berth on MongoDB.
//!
//! Migrations are code: each has an id (the baseline is `20251106-task-runner-baseline`), a
//! description and a checksum, all from [`berth_state_mongo::schema`], the one definition of
//! every collection, `$jsonSchema` validator and index. Applied migrations are recorded in
//! `_berth_migrations` with checksum, time and duration; a record whose checksum no longer
//! matches the code is drift, an error.
//!
//! Commands: `status`, `up [--to ID] [--dry-run] [--log-retention-days N]`,
//! `down --to ID [--drop --confirm DATABASE]`, `verify`, `import --from DIR`. Every change is
//! planned from what the database holds ([`plan`]), so a second `up` sends nothing and an `up`
//! killed half-way is completed by the next one; a lock document ([`lock`]) keeps two
//! operators apart. See `docs/migrations.md` for the operator's guide and exit codes.
//!
//! ```
//! use berth_migrate::{plan, registry};
//! use berth_state_mongo::schema::CollectionNames;
//!
//! // What `up --dry-run` prints on an empty database: collections first, then indexes.
//! let all = registry::all();
//! let fresh = plan::plan(&all, &Default::default(), &CollectionNames::default(), None);
//! assert!(fresh.actions[0].command.contains_key("create"));
//! assert_eq!(all[0].id(), "20251106-task-runner-baseline");
//! ```

pub mod cli;
pub mod commands;
pub mod config;
pub mod connect;
pub mod error;
pub mod exec;
pub mod exit;
pub mod failpoint;
pub mod inspect;
pub mod ledger;
pub mod lock;
pub mod output;
pub mod plan;
pub mod progress;
pub mod registry;

use cli::{Cli, Command};
use error::MigrateError;
use output::{Out, Report};

/// Runs the command line `cli` and returns the process exit code, having printed the outcome.
pub async fn run(cli: Cli) -> u8 {
    let out = Out {
        json: cli.global.json,
    };
    let report = dispatch(&cli, out).await;
    match report {
        Ok(report) => {
            if out.json {
                let mut doc = report.json;
                if let Some(map) = doc.as_object_mut() {
                    map.insert("exitCode".into(), report.exit.code().into());
                }
                output::print_line(doc);
            }
            report.exit.code()
        }
        Err(e) => {
            let exit = e.exit();
            if out.json {
                output::print_line(
                    serde_json::json!({"error": e.to_string(), "exitCode": exit.code()}),
                );
            } else {
                eprintln!("berth-migrate: error: {e}");
            }
            exit.code()
        }
    }
}

async fn dispatch(cli: &Cli, out: Out) -> Result<Report, MigrateError> {
    let settings = config::resolve(&cli.global)?;
    let target = connect::connect(&settings).await?;
    match &cli.command {
        Command::Status => commands::status::run(&target, out).await,
        Command::Up(args) => commands::up::run(&target, &settings, args, out).await,
        Command::Down(args) => commands::down::run(&target, &settings, args, out).await,
        Command::Verify(args) => commands::verify::run(&target, &settings, args, out).await,
        Command::Import(args) => {
            commands::import::run(&target, settings.uri.expose(), args, out).await
        }
    }
}
