//! Sending a planned command and checking its reply.

use crate::error::MigrateError;
use crate::output::doc_json;
use crate::plan::Action;
use mongodb::bson::Document;
use mongodb::Database;

/// Sends `action`'s command to `db`; write errors in an `ok: 1` reply are failures too.
pub async fn send(db: &Database, action: &Action) -> Result<Document, MigrateError> {
    tracing::debug!(command = %action.command, "sending");
    let reply = db
        .run_command(action.command.clone())
        .await
        .map_err(MigrateError::mongo(action.summary.clone()))?;
    if reply.contains_key("writeErrors") || reply.contains_key("writeConcernError") {
        return Err(MigrateError::Refused {
            what: action.summary.clone(),
            reply: doc_json(&reply).to_string(),
        });
    }
    Ok(reply)
}
