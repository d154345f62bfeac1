//! The one definition of every collection, index and validator the backend uses.
//!
//! The backend checks and (with `auto_migrate`) applies these; the `berth-migrate` binary
//! applies the same definitions, so each index is defined exactly once, here.
//!
//! Pack-run collections follow seed 002 (`20251106-task-runner-baseline`): camelCase fields,
//! BSON dates, `_id` of a run = its id, unique indexes first.

use mongodb::bson::{doc, Document};
use serde::Deserialize;

/// Names of every collection of the backend; the four pack-run names are the seed's settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct CollectionNames {
    /// Pack runs (`RunsCollection`).
    #[serde(rename = "RunsCollection")]
    pub runs: String,
    /// Pack-run log entries (`LogsCollection`).
    #[serde(rename = "LogsCollection")]
    pub logs: String,
    /// Pack-run artifacts (`ArtifactsCollection`).
    #[serde(rename = "ArtifactsCollection")]
    pub artifacts: String,
    /// Pack-run approval gates (`ApprovalsCollection`).
    #[serde(rename = "ApprovalsCollection")]
    pub approvals: String,
    /// Generic records of every berth collection, keyed by (collection, key).
    #[serde(rename = "RecordsCollection")]
    pub records: String,
    /// Chunks of record values too large for one document.
    #[serde(rename = "ChunksCollection")]
    pub chunks: String,
    /// Shard leases (never deleted, so fencing tokens never go back).
    #[serde(rename = "LeasesCollection")]
    pub leases: String,
    /// The runner registry.
    #[serde(rename = "RunnersCollection")]
    pub runners: String,
    /// Counters (machine ids).
    #[serde(rename = "MetaCollection")]
    pub meta: String,
    /// Applied migrations.
    #[serde(rename = "MigrationsCollection")]
    pub migrations: String,
}

impl Default for CollectionNames {
    fn default() -> Self {
        CollectionNames {
            runs: "pack_runs".into(),
            logs: "pack_run_logs".into(),
            artifacts: "pack_artifacts".into(),
            approvals: "pack_run_approvals".into(),
            records: "berth_records".into(),
            chunks: "berth_record_chunks".into(),
            leases: "berth_leases".into(),
            runners: "berth_runners".into(),
            meta: "berth_meta".into(),
            migrations: "berth_migrations".into(),
        }
    }
}

/// Which collection of [`CollectionNames`] a definition is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// `pack_runs`
    Runs,
    /// `pack_run_logs`
    Logs,
    /// `pack_artifacts`
    Artifacts,
    /// `pack_run_approvals`
    Approvals,
    /// generic records
    Records,
    /// large-value chunks
    Chunks,
    /// shard leases
    Leases,
    /// runner registry
    Runners,
    /// counters
    Meta,
}

impl Role {
    /// Every role, in the order collections are created.
    pub const ALL: [Role; 9] = [
        Role::Runs,
        Role::Logs,
        Role::Artifacts,
        Role::Approvals,
        Role::Records,
        Role::Chunks,
        Role::Leases,
        Role::Runners,
        Role::Meta,
    ];

    /// The configured name of this collection.
    pub fn name(self, names: &CollectionNames) -> &str {
        match self {
            Role::Runs => &names.runs,
            Role::Logs => &names.logs,
            Role::Artifacts => &names.artifacts,
            Role::Approvals => &names.approvals,
            Role::Records => &names.records,
            Role::Chunks => &names.chunks,
            Role::Leases => &names.leases,
            Role::Runners => &names.runners,
            Role::Meta => &names.meta,
        }
    }
}

/// One index definition.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexDef {
    /// The collection it belongs to.
    pub role: Role,
    /// Its name on the server.
    pub name: &'static str,
    /// Key pattern.
    pub keys: Document,
    /// Whether it enforces uniqueness.
    pub unique: bool,
    /// Partial filter, if the index covers only some documents.
    pub partial: Option<Document>,
}

/// Every index of the baseline, unique ones first (seed 002: "unique indexes first to surface
/// data issues early").
pub fn indexes() -> Vec<IndexDef> {
    let def = |role, name, keys, unique| IndexDef {
        role,
        name,
        keys,
        unique,
        partial: None,
    };
    vec![
        def(
            Role::Logs,
            "runId_1_sequence_1",
            doc! {"runId": 1, "sequence": 1},
            true,
        ),
        def(
            Role::Artifacts,
            "runId_1_name_1",
            doc! {"runId": 1, "name": 1},
            true,
        ),
        def(
            Role::Approvals,
            "runId_1_approvalId_1",
            doc! {"runId": 1, "approvalId": 1},
            true,
        ),
        def(Role::Records, "c_1_k_1", doc! {"c": 1, "k": 1}, true),
        def(Role::Chunks, "g_1_n_1", doc! {"g": 1, "n": 1}, true),
        def(Role::Runs, "updatedAt_-1", doc! {"updatedAt": -1}, false),
        IndexDef {
            // "Remains sparse until tenancy is enforced": only runs with a tenant are indexed.
            partial: Some(doc! {"tenantId": {"$exists": true}}),
            ..def(
                Role::Runs,
                "tenantId_1_updatedAt_-1",
                doc! {"tenantId": 1, "updatedAt": -1},
                false,
            )
        },
        def(
            Role::Logs,
            "runId_1_timestamp_1",
            doc! {"runId": 1, "timestamp": 1},
            false,
        ),
        // Seed 002: an optional TTL for retention, disabled by default (a plain index here).
        def(Role::Logs, "timestamp_1", doc! {"timestamp": 1}, false),
        def(Role::Artifacts, "runId_1", doc! {"runId": 1}, false),
        def(Role::Leases, "owner_1", doc! {"owner": 1}, false),
    ]
}

/// The `$jsonSchema` validator of a pack-run collection ("validator envelopes mirroring the
/// field expectations"); other collections have none.
pub fn validator(role: Role) -> Option<Document> {
    let date = doc! {"bsonType": "date"};
    let string = doc! {"bsonType": "string"};
    let opt_string = doc! {"bsonType": ["string", "null"]};
    let schema = match role {
        Role::Runs => doc! {
            "bsonType": "object",
            "required": ["_id", "planHash", "plan", "failurePolicy", "requestedAt", "createdAt", "updatedAt", "steps"],
            "properties": {
                "_id": string.clone(),
                "planHash": string.clone(),
                "plan": {"bsonType": "object"},
                "failurePolicy": {"bsonType": "object"},
                "requestedAt": date.clone(),
                "createdAt": date.clone(),
                "updatedAt": date.clone(),
                "steps": {"bsonType": "array"},
                "tenantId": string.clone(),
            },
        },
        Role::Logs => doc! {
            "bsonType": "object",
            "required": ["runId", "sequence", "timestamp", "level", "eventType", "message"],
            "properties": {
                "runId": string.clone(),
                "sequence": {"bsonType": "long"},
                "timestamp": date.clone(),
                "level": {"enum": ["trace", "debug", "info", "warn", "error"]},
                "eventType": string.clone(),
                "message": string.clone(),
                "stepId": opt_string.clone(),
                "metadata": {"bsonType": "object"},
            },
        },
        Role::Artifacts => doc! {
            "bsonType": "object",
            "required": ["runId", "name", "type", "status", "capturedAt"],
            "properties": {
                "runId": string.clone(),
                "name": string.clone(),
                "type": string.clone(),
                "sourcePath": opt_string.clone(),
                "storedPath": opt_string.clone(),
                "status": {"enum": ["pending", "copied", "materialized", "skipped"]},
                "notes": opt_string.clone(),
                "capturedAt": date.clone(),
            },
        },
        Role::Approvals => doc! {
            "bsonType": "object",
            "required": ["runId", "approvalId", "status", "requiredCount", "decisions", "requestedAt"],
            "properties": {
                "runId": string.clone(),
                "approvalId": string,
                "status": {"enum": ["pending", "approved", "rejected"]},
                "requiredGrants": {"bsonType": "array"},
                "decisions": {"bsonType": "array"},
                "requestedAt": date,
            },
        },
        _ => return None,
    };
    Some(doc! {"$jsonSchema": schema})
}

/// A versioned migration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migration {
    /// Its id, recorded in the migrations collection once applied.
    pub id: &'static str,
    /// What it does.
    pub description: &'static str,
}

/// The baseline: every collection, validator and index above.
pub const BASELINE: Migration = Migration {
    id: "20251106-task-runner-baseline",
    description: "berth records, leases, runners and the task-runner pack-run collections",
};

/// Every migration in the order they apply.
pub const MIGRATIONS: &[Migration] = &[BASELINE];

/// The command an operator runs to apply missing migrations.
pub const MIGRATE_COMMAND: &str = "berth-migrate up";

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn unique_indexes_come_first_and_names_are_unique() {
        let all = indexes();
        let first_plain = all.iter().position(|i| !i.unique).unwrap();
        assert!(all[first_plain..].iter().all(|i| !i.unique));
        let names: HashSet<(Role, &str)> = all.iter().map(|i| (i.role, i.name)).collect();
        assert_eq!(names.len(), all.len());
        assert!(
            Role::ALL
                .iter()
                .filter(|r| validator(**r).is_some())
                .count()
                == 4
        );
    }
}
