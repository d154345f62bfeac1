//! The `_berth_migrations` collection: which migrations are applied, with checksum, time and
//! duration, and drift between those records and the code.

use crate::error::MigrateError;
use crate::plan::Action;
use crate::registry::Spec;
use berth_state_mongo::migrate::{self, record_fields, AppliedMigration};
use berth_state_mongo::schema::CollectionNames;
use mongodb::bson::{doc, DateTime};
use mongodb::Database;
use std::time::Duration;

/// Every recorded migration, by id.
pub async fn read(
    db: &Database,
    names: &CollectionNames,
) -> Result<Vec<AppliedMigration>, MigrateError> {
    Ok(migrate::applied(db, names).await?)
}

/// Records that do not match the code: a different checksum, or an id the code does not know.
/// A record without a checksum (written before checksums were kept) is not drift: `up` adopts
/// it once the objects are in place.
pub fn drift(all: &[Spec], records: &[AppliedMigration]) -> Vec<String> {
    records
        .iter()
        .filter_map(|r| match all.iter().find(|s| s.id() == r.id) {
            None => Some(format!(
                "migration {} is recorded as applied but this berth-migrate does not know it \
                 (applied by a newer version?)",
                r.id
            )),
            Some(spec) => match &r.checksum {
                Some(c) if *c != spec.checksum() => Some(format!(
                    "migration {} was applied with checksum {c} but the code's is {}; the \
                     migration was changed after it was applied",
                    r.id,
                    spec.checksum()
                )),
                _ => None,
            },
        })
        .collect()
}

/// Whether `spec` is recorded with its current checksum.
pub fn is_recorded(spec: &Spec, records: &[AppliedMigration]) -> bool {
    records
        .iter()
        .any(|r| r.id == spec.id() && r.checksum.as_deref() == Some(&spec.checksum()))
}

/// The command recording `spec` as applied now, after `duration`.
pub fn record(spec: &Spec, names: &CollectionNames, duration: Duration) -> Action {
    let by = format!(
        "berth-migrate {} on {}",
        env!("CARGO_PKG_VERSION"),
        crate::lock::Holder::me("").describe()
    );
    let fields = record_fields(spec.migration, DateTime::now(), duration, &by);
    Action {
        migration: spec.id(),
        summary: format!("record migration {} as applied", spec.id()),
        finding: format!("migration {} is not recorded as applied", spec.id()),
        command: doc! {
            "update": &names.migrations,
            "updates": [{"q": {"_id": spec.id()}, "u": {"$set": fields}, "upsert": true}],
        },
    }
}

/// The command removing the record of `id`.
pub fn unrecord(id: &'static str, names: &CollectionNames) -> Action {
    Action {
        migration: id,
        summary: format!("remove the record of migration {id}"),
        finding: String::new(),
        command: doc! {
            "delete": &names.migrations,
            "deletes": [{"q": {"_id": id}, "limit": 1}],
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry;

    fn rec(id: &str, checksum: Option<&str>) -> AppliedMigration {
        AppliedMigration {
            id: id.into(),
            description: None,
            checksum: checksum.map(str::to_owned),
            applied_at: None,
            duration_ms: None,
            applied_by: None,
        }
    }

    #[test]
    fn drift_is_a_changed_checksum_or_an_unknown_id() {
        let all = registry::all();
        let id = all[0].id();
        let good = all[0].checksum();
        assert!(drift(&all, &[rec(id, Some(&good))]).is_empty());
        assert!(drift(&all, &[rec(id, None)]).is_empty());
        assert!(!is_recorded(&all[0], &[rec(id, None)]));
        let changed = drift(&all, &[rec(id, Some("fnv1a128:00"))]);
        assert_eq!(changed.len(), 1);
        assert!(changed[0].contains(&good), "{changed:?}");
        assert_eq!(drift(&all, &[rec("20990101-future", Some("x"))]).len(), 1);
    }
}
