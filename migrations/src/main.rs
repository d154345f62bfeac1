//! `berth-migrate`: applies, checks and rolls back berth's MongoDB migrations and imports
//! pack-run exports. See the library docs and `docs/migrations.md`; `berth-migrate --help`
//! lists the commands and exit codes.

use clap::Parser;
use std::process::ExitCode;
use tracing::level_filters::LevelFilter;

fn main() -> ExitCode {
    let cli = berth_migrate::cli::Cli::parse();
    let level = match cli.global.verbose {
        0 => LevelFilter::WARN,
        1 => LevelFilter::DEBUG,
        _ => LevelFilter::TRACE,
    };
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("berth-migrate: error: cannot start the async runtime: {e}");
            return ExitCode::from(berth_migrate::exit::Exit::Failure.code());
        }
    };
    ExitCode::from(runtime.block_on(berth_migrate::run(cli)))
}
