//! How the MongoDB backend is configured: connection, database, collection names, options.

use crate::schema::CollectionNames;
use serde::Deserialize;
use std::time::Duration;

/// Which clock judges lease expiry and fences.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum LeaseClock {
    /// The server's clock (`$$NOW`), so hosts with skewed clocks still exclude each other.
    #[default]
    Server,
    /// The store's injected [`Clock`](berth_core::Clock); for tests on a manual clock, and only
    /// sound when every client shares one clock.
    Injected,
}

/// Whether multi-op batches may use transactions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum Transactions {
    /// Use them when the server's `hello` reports a replica set (or mongos) with sessions.
    #[default]
    Detect,
    /// Behave as on a standalone server: multi-op batches fail with `Unsupported`.
    Never,
}

/// Configuration of the MongoDB backend.
///
/// It deserializes from the `TaskRunner:Storage:Mongo` section of seed 002 as it is
/// (`ConnectionString`, `Database`, `RunsCollection`, `LogsCollection`, `ArtifactsCollection`,
/// `ApprovalsCollection`); berth's own collections and options have defaults.
///
/// ```
/// let config: berth_state_mongo::MongoConfig = serde_json::from_value(serde_json::json!({
///     "ConnectionString": "mongodb://127.0.0.1:27017/taskrunner",
///     "RunsCollection": "pack_runs"
/// })).unwrap();
/// assert_eq!(config.database, None); // falls back to `taskrunner` from the URI
/// assert_eq!(config.collections.logs, "pack_run_logs");
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MongoConfig {
    /// The connection string (`mongodb://…` or `mongodb+srv://…`).
    pub connection_string: berth_core::Secret<String>,
    /// The database; `None` falls back to the one in the connection string, then `berth`.
    #[serde(default)]
    pub database: Option<String>,
    /// Collection names.
    #[serde(flatten)]
    pub collections: CollectionNames,
    /// Apply the baseline migration on open instead of failing when it is missing.
    #[serde(default)]
    pub auto_migrate: bool,
    /// Which clock judges lease expiry.
    #[serde(default)]
    pub lease_clock: LeaseClock,
    /// Whether multi-op batches may use transactions.
    #[serde(default)]
    pub transactions: Transactions,
    /// Deadline of every store operation, so a hung call fails fast instead of holding leases.
    #[serde(default = "default_op_timeout", with = "millis")]
    pub op_timeout: Duration,
}

fn default_op_timeout() -> Duration {
    Duration::from_secs(30)
}

mod millis {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

/// Database used when neither the configuration nor the connection string names one.
pub const DEFAULT_DATABASE: &str = "berth";

impl MongoConfig {
    /// A configuration for `connection_string` with every default.
    pub fn new(connection_string: impl Into<String>) -> Self {
        MongoConfig {
            connection_string: berth_core::Secret::new(connection_string.into()),
            database: None,
            collections: CollectionNames::default(),
            auto_migrate: false,
            lease_clock: LeaseClock::Server,
            transactions: Transactions::Detect,
            op_timeout: default_op_timeout(),
        }
    }

    /// This configuration with `database`.
    pub fn database(mut self, database: impl Into<String>) -> Self {
        self.database = Some(database.into());
        self
    }

    /// This configuration applying the baseline migration on open when missing.
    pub fn auto_migrate(mut self, on: bool) -> Self {
        self.auto_migrate = on;
        self
    }

    /// This configuration with `clock` judging lease expiry.
    pub fn lease_clock(mut self, clock: LeaseClock) -> Self {
        self.lease_clock = clock;
        self
    }

    /// This configuration with `transactions`.
    pub fn transactions(mut self, transactions: Transactions) -> Self {
        self.transactions = transactions;
        self
    }

    /// This configuration with `collections`.
    pub fn collections(mut self, collections: CollectionNames) -> Self {
        self.collections = collections;
        self
    }

    /// This configuration with operations bounded by `timeout`.
    pub fn op_timeout(mut self, timeout: Duration) -> Self {
        self.op_timeout = timeout;
        self
    }
}
