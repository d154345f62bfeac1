//! Settings resolved from flags, then environment variables (both through clap), then the
//! config file in seed 002's shape:
//!
//! ```json
//! { "TaskRunner": { "Storage": { "Mode": "mongo", "Mongo": {
//!     "ConnectionString": "mongodb://127.0.0.1:27017/taskrunner", "Database": "taskrunner",
//!     "RunsCollection": "pack_runs", "LogsCollection": "pack_run_logs",
//!     "ArtifactsCollection": "pack_artifacts", "ApprovalsCollection": "pack_run_approvals" } } } }
//! ```
//!
//! The worker's mirrored `Worker` section is read when `TaskRunner` is absent. `Mode` is not
//! checked: migrations run before the switch to `mongo` (seed 002, step 4).

use crate::cli::Global;
use crate::error::MigrateError;
use berth_state_mongo::schema::CollectionNames;
use serde::Deserialize;
use std::path::Path;
use std::time::Duration;

/// Everything needed to reach the collections.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// The connection string (it may hold a password: shown as `***`).
    pub uri: berth_core::Secret<String>,
    /// The database; `None` falls back to the connection string's, then `berth`.
    pub database: Option<String>,
    /// Collection names.
    pub names: CollectionNames,
    /// How long to wait for another operator's lock.
    pub lock_timeout: Duration,
    /// How long a lock outlives its holder's last heartbeat.
    pub lock_ttl: Duration,
    /// `LogRetentionDays` from the config file, if any (flags and environment come first).
    pub file_log_retention_days: Option<u32>,
}

/// The `Mongo` section of the config file.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct MongoSection {
    connection_string: Option<String>,
    database: Option<String>,
    log_retention_days: Option<u32>,
    #[serde(flatten)]
    collections: CollectionNames,
}

/// Every key the `Mongo` section may hold; anything else is refused by name (a misspelt key
/// would otherwise be silently ignored).
const MONGO_KEYS: &[&str] = &[
    "ConnectionString",
    "Database",
    "LogRetentionDays",
    "RunsCollection",
    "LogsCollection",
    "ArtifactsCollection",
    "ApprovalsCollection",
    "RecordsCollection",
    "ChunksCollection",
    "LeasesCollection",
    "RunnersCollection",
    "MetaCollection",
    "MigrationsCollection",
];

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Storage {
    mongo: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Service {
    storage: Option<Storage>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct File {
    task_runner: Option<Service>,
    worker: Option<Service>,
}

fn read_file(path: &Path) -> Result<MongoSection, MigrateError> {
    let fail = |reason: String| MigrateError::ConfigFile {
        path: path.to_owned(),
        reason,
    };
    let text = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
    let file: File = serde_json::from_slice(&text).map_err(|e| fail(e.to_string()))?;
    let section = file
        .task_runner
        .or(file.worker)
        .and_then(|s| s.storage)
        .and_then(|s| s.mongo)
        .ok_or_else(|| fail("no TaskRunner:Storage:Mongo section".into()))?;
    let unknown: Vec<&str> = section
        .keys()
        .map(String::as_str)
        .filter(|k| !MONGO_KEYS.contains(k))
        .collect();
    if !unknown.is_empty() {
        return Err(fail(format!(
            "unknown key(s) in TaskRunner:Storage:Mongo: {}; known keys: {}",
            unknown.join(", "),
            MONGO_KEYS.join(", ")
        )));
    }
    serde_json::from_value(serde_json::Value::Object(section)).map_err(|e| fail(e.to_string()))
}

/// Resolves `global` (flags and environment) over the config file it names, if any.
pub fn resolve(global: &Global) -> Result<Settings, MigrateError> {
    let file = match &global.config {
        Some(path) => read_file(path)?,
        None => MongoSection::default(),
    };
    let uri = global
        .uri
        .clone()
        .or(file.connection_string)
        .filter(|u| !u.trim().is_empty())
        .map(berth_core::Secret::new)
        .ok_or_else(|| {
            MigrateError::Config(
                "no connection string: pass --uri, set BERTH_MONGODB_URI, or give a config \
                 file (--config) with TaskRunner:Storage:Mongo:ConnectionString"
                    .into(),
            )
        })?;
    let mut names = file.collections;
    let overrides = [
        (&global.runs_collection, &mut names.runs),
        (&global.logs_collection, &mut names.logs),
        (&global.artifacts_collection, &mut names.artifacts),
        (&global.approvals_collection, &mut names.approvals),
    ];
    for (flag, name) in overrides {
        if let Some(v) = flag {
            *name = v.clone();
        }
    }
    for name in [&names.runs, &names.logs, &names.artifacts, &names.approvals] {
        if name.is_empty() || name.contains('\0') || name.starts_with("system.") {
            return Err(MigrateError::Config(format!(
                "invalid collection name {name:?}"
            )));
        }
    }
    Ok(Settings {
        uri,
        database: global.database.clone().or(file.database),
        names,
        lock_timeout: Duration::from_secs(global.lock_timeout),
        lock_ttl: Duration::from_secs(global.lock_ttl.max(1)),
        file_log_retention_days: file.log_retention_days,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn global(args: &[&str]) -> Global {
        let mut argv = vec!["berth-migrate"];
        argv.extend_from_slice(args);
        argv.push("status");
        crate::cli::Cli::try_parse_from(argv).unwrap().global
    }

    #[test]
    fn flags_win_over_the_file_and_the_file_fills_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("appsettings.json");
        std::fs::write(
            &path,
            r#"{"TaskRunner":{"Storage":{"Mode":"filesystem","Mongo":{
                "ConnectionString":"mongodb://file:27017/taskrunner","Database":"fromfile",
                "RunsCollection":"runs_f","LogsCollection":"logs_f","LogRetentionDays":30}}}}"#,
        )
        .unwrap();
        let p = path.to_str().unwrap();
        let s = resolve(&global(&["--config", p])).unwrap();
        assert_eq!(s.uri.expose(), "mongodb://file:27017/taskrunner");
        assert_eq!(s.database.as_deref(), Some("fromfile"));
        assert_eq!(s.names.runs, "runs_f");
        assert_eq!(s.names.artifacts, "pack_artifacts");
        assert_eq!(s.file_log_retention_days, Some(30));
        let s = resolve(&global(&[
            "--config",
            p,
            "--uri",
            "mongodb://flag:1/",
            "--database",
            "flagdb",
            "--runs-collection",
            "runs_x",
        ]))
        .unwrap();
        assert_eq!(s.uri.expose(), "mongodb://flag:1/");
        assert_eq!(s.database.as_deref(), Some("flagdb"));
        assert_eq!(s.names.runs, "runs_x");
        assert_eq!(s.names.logs, "logs_f");
    }

    #[test]
    fn missing_uri_and_bad_files_are_configuration_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.json");
        std::fs::write(&path, r#"{"Other":{}}"#).unwrap();
        let err = resolve(&global(&["--config", path.to_str().unwrap()])).unwrap_err();
        assert!(
            err.to_string().contains("TaskRunner:Storage:Mongo"),
            "{err}"
        );
        assert_eq!(err.exit(), crate::exit::Exit::Usage);
        std::fs::write(&path, "{not json").unwrap();
        let err = resolve(&global(&["--config", path.to_str().unwrap()])).unwrap_err();
        assert!(err.to_string().contains("c.json"), "{err}");
    }

    #[test]
    fn the_connection_string_never_shows() {
        let s = resolve(&global(&["--uri", "mongodb://ops:s3cret@db1/x"])).unwrap();
        assert!(!format!("{s:?}").contains("s3cret"));
        assert_eq!(s.uri.expose(), "mongodb://ops:s3cret@db1/x");
    }

    #[test]
    fn misspelt_keys_of_the_mongo_section_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.json");
        std::fs::write(
            &path,
            r#"{"TaskRunner":{"Storage":{"Mongo":{"ConectionString":"mongodb://h/"}}}}"#,
        )
        .unwrap();
        let err = resolve(&global(&["--config", path.to_str().unwrap()])).unwrap_err();
        assert!(err.to_string().contains("ConectionString"), "{err}");
    }
}
