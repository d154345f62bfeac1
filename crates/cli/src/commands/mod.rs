//! The commands, one module per group.

pub mod demo;
pub mod drive;
pub mod inspect;
pub mod logs;
pub mod token;
pub mod transfer;

use crate::args::Cli;
use crate::exit::CliError;
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
    /// Opens the store named by `--store`. A malformed URL is a usage error; the URL is only
    /// ever shown with its password as `***`.
    pub async fn store(&self) -> Result<Store, CliError> {
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
        berth::open(&self.cli.store).await.map_err(|e| {
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
