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
            migrations: "_berth_migrations".into(),
        }
    }
}

impl CollectionNames {
    /// The collection holding `berth-migrate`'s lock document (beside the migrations one).
    pub fn migration_lock(&self) -> String {
        format!("{}_lock", self.migrations)
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
    /// Whether a retention period (a TTL, `expireAfterSeconds`) may be set on it when migrating
    /// (`berth-migrate --log-retention-days`); without one it is a plain index.
    pub retention: bool,
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
        retention: false,
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
        IndexDef {
            retention: true,
            ..def(Role::Logs, "timestamp_1", doc! {"timestamp": 1}, false)
        },
        def(Role::Artifacts, "runId_1", doc! {"runId": 1}, false),
        IndexDef {
            // Listing the gates still waiting, oldest first, across runs; decided gates (the
            // bulk) stay out of it.
            partial: Some(doc! {"status": "pending"}),
            ..def(
                Role::Approvals,
                "status_1_requestedAt_1",
                doc! {"status": 1, "requestedAt": 1},
                false,
            )
        },
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

impl Migration {
    /// What it creates, as one canonical document (collections under their default names):
    /// the input of [`checksum`](Migration::checksum). The description is not part of it.
    pub fn definition(self) -> Document {
        if self.id != BASELINE.id {
            return doc! {"id": self.id};
        }
        let names = CollectionNames::default();
        let collections: Vec<Document> = Role::ALL
            .iter()
            .map(|role| {
                let mut c = doc! {"name": role.name(&names)};
                if let Some(v) = validator(*role) {
                    c.insert("validator", v);
                }
                c
            })
            .collect();
        let indexes: Vec<Document> = indexes()
            .into_iter()
            .map(|i| {
                let mut d = doc! {
                    "collection": i.role.name(&names),
                    "name": i.name,
                    "key": i.keys,
                    "unique": i.unique,
                    "retention": i.retention,
                };
                if let Some(p) = i.partial {
                    d.insert("partialFilterExpression", p);
                }
                d
            })
            .collect();
        doc! {"id": self.id, "collections": collections, "indexes": indexes}
    }

    /// Checksum of its [`definition`](Migration::definition): `fnv1a128:<32 hex digits>` of
    /// the definition's BSON bytes (field order is part of BSON, so it is stable). Recorded
    /// when the migration is applied; a record that no longer matches is drift.
    pub fn checksum(self) -> String {
        // FNV-1a detects accidental change, which is all drift detection needs.
        const OFFSET: u128 = 0x6c62272e07bb014262b821756295c58d;
        const PRIME: u128 = 0x0000000001000000000000000000013B;
        let mut bytes = Vec::new();
        if self.definition().to_writer(&mut bytes).is_err() {
            // Writing into a Vec only fails for documents BSON cannot hold; ours are small.
            bytes.clear();
        }
        let hash = bytes
            .iter()
            .fold(OFFSET, |h, b| (h ^ u128::from(*b)).wrapping_mul(PRIME));
        format!("fnv1a128:{hash:032x}")
    }
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

    #[test]
    fn checksum_is_stable_and_follows_the_definition() {
        let a = BASELINE.checksum();
        assert_eq!(a, BASELINE.checksum());
        assert!(a.starts_with("fnv1a128:") && a.len() == 9 + 32, "{a}");
        let other = Migration {
            id: "20990101-other",
            description: "",
        };
        assert_ne!(a, other.checksum());
        let described = Migration {
            description: "reworded",
            ..BASELINE
        };
        assert_eq!(a, described.checksum());
        assert_eq!(
            CollectionNames::default().migration_lock(),
            "_berth_migrations_lock"
        );
    }
}
