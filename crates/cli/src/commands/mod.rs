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
    /// Opens the store named by `--store`.
    pub async fn store(&self) -> Result<Store, CliError> {
        tracing::debug!(url = %self.cli.store, "opening store");
        berth::open(&self.cli.store).await.map_err(CliError::from)
    }
}
