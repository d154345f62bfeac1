//! The commands, one module per group.

pub mod demo;
pub mod drive;
pub mod inspect;
pub mod logs;
pub mod token;
pub mod transfer;

use crate::args::Cli;
use crate::exit::{self, CliError};
use crate::output::Out;
use berth::Store;

/// What every command gets.
#[derive(Debug)]
pub struct Ctx {
    /// The parsed command line.
    pub cli: Cli,
    /// Output settings.
    pub out: Out,
}

impl Ctx {
    /// Opens the store named by `--store` to read and write. A malformed URL is a usage error;
    /// the URL is only ever shown with its password as `***`.
    pub async fn store(&self) -> Result<Store, CliError> {
        self.open(berth::OpenOptions::default()).await
    }

    /// Opens the store named by `--store` for reading only: it is never created, migrated or
    /// locked for writing, so a missing store is an error ([`exit::NOT_FOUND`]) and reading
    /// works while another process writes.
    pub async fn store_read_only(&self) -> Result<Store, CliError> {
        self.open(berth::OpenOptions::default().read_only())
            .await
            .map_err(|e| match e {
                CliError::Store(e) if e.kind() == berth::ErrorKind::NotFound => CliError::other(
                    e.to_string(),
                    "check --store (or BERTH_STORE); `berth run PLAN` or `berth demo` creates the database",
                    exit::NOT_FOUND,
                ),
                other => other,
            })
    }

    async fn open(&self, options: berth::OpenOptions) -> Result<Store, CliError> {
        let location = berth::Location::parse(&self.cli.store).map_err(CliError::usage)?;
        if !location.is_available() {
            return Err(CliError::MissingBackend(berth::Error::Unsupported(
                format!(
                    "this berth was built without the `{}` feature",
                    location.feature()
                ),
            )));
        }
        tracing::debug!(url = %berth::redact_url(&self.cli.store), "opening store");
        berth::open_with(&self.cli.store, options)
            .await
            .map_err(|e| {
                // A driver's message may quote the connection string.
                let message = berth::scrub_secret(&e.to_string(), &self.cli.store);
                match e.kind() {
                    berth::ErrorKind::InvalidInput => {
                        CliError::usage(berth::Error::invalid("url", message))
                    }
                    _ if message != e.to_string() => CliError::Store(berth::Error::Backend {
                        message,
                        retryable: e.is_retryable(),
                        source: None,
                    }),
                    _ => CliError::Store(e),
                }
            })
    }
}
