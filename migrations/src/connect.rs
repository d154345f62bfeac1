//! Connecting: parse the connection string, pick the database, and check the server answers.

use crate::config::Settings;
use crate::error::MigrateError;
use berth_core::{redact_url, scrub_secret};
use berth_state_mongo::schema::CollectionNames;
use berth_state_mongo::DEFAULT_DATABASE;
use mongodb::bson::doc;
use mongodb::options::{Acknowledgment, ClientOptions, WriteConcern};
use mongodb::{Client, Database};
use std::time::Duration;

/// A live connection to the target database.
#[derive(Debug, Clone)]
pub struct Target {
    /// The database.
    pub db: Database,
    /// Collection names.
    pub names: CollectionNames,
}

/// Connects as `settings` says and pings the server, so a wrong address fails here, clearly.
pub async fn connect(settings: &Settings) -> Result<Target, MigrateError> {
    let uri = settings.uri.expose();
    let target = redact_url(uri);
    let failed = |target: &str, e: mongodb::error::Error| MigrateError::Connect {
        target: target.to_owned(),
        reason: scrub_secret(&e.to_string(), uri),
    };
    let mut options = ClientOptions::parse(uri)
        .await
        .map_err(|e| failed(&target, e))?;
    if options.app_name.is_none() {
        options.app_name = Some("berth-migrate".into());
    }
    if options.server_selection_timeout.is_none() {
        options.server_selection_timeout = Some(Duration::from_secs(10));
    }
    if options.write_concern.is_none() {
        // Schema changes and migration records must survive a failover.
        options.write_concern = Some(
            WriteConcern::builder()
                .w(Acknowledgment::Majority)
                .journal(true)
                .build(),
        );
    }
    let database = settings
        .database
        .clone()
        .or_else(|| options.default_database.clone())
        .unwrap_or_else(|| DEFAULT_DATABASE.to_owned());
    let client = Client::with_options(options).map_err(|e| failed(&target, e))?;
    let db = client.database(&database);
    db.run_command(doc! {"ping": 1})
        .await
        .map_err(|e| failed(&target, e))?;
    tracing::debug!(database, "connected");
    Ok(Target {
        db,
        names: settings.names.clone(),
    })
}
