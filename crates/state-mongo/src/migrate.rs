//! Checking and applying the migrations of [`schema`](crate::schema).

use crate::errors::ctx;
use crate::schema::{indexes, validator, CollectionNames, Migration, Role, MIGRATE_COMMAND};
use berth_core::{Error, Result};
use mongodb::bson::{doc, DateTime, Document};
use mongodb::options::IndexOptions;
use mongodb::{Database, IndexModel};
use std::time::{Duration, Instant};

/// Server code for "collection already exists".
const NAMESPACE_EXISTS: i32 = 48;

/// A migration as recorded in the migrations collection.
#[derive(Debug, Clone, PartialEq)]
pub struct AppliedMigration {
    /// Its id (`_id`).
    pub id: String,
    /// Its description when applied.
    pub description: Option<String>,
    /// Its [`checksum`](Migration::checksum) when applied; `None` in records written before
    /// checksums were kept.
    pub checksum: Option<String>,
    /// When it was applied.
    pub applied_at: Option<DateTime>,
    /// How long applying it took.
    pub duration_ms: Option<i64>,
    /// Who applied it (`berth-migrate …` or the backend's `auto_migrate`).
    pub applied_by: Option<String>,
}

impl AppliedMigration {
    /// Reads a record; fields of the wrong type read as absent.
    pub fn from_document(d: &Document) -> Option<AppliedMigration> {
        let text = |k: &str| d.get_str(k).ok().map(str::to_owned);
        Some(AppliedMigration {
            id: d.get_str("_id").ok()?.to_owned(),
            description: text("description"),
            checksum: text("checksum"),
            applied_at: d.get_datetime("appliedAt").ok().copied(),
            duration_ms: crate::errors::number(d, "durationMs"),
            applied_by: text("appliedBy"),
        })
    }
}

/// The fields (all but `_id`) of the record of `migration` applied at `applied_at` in
/// `duration` by `applied_by`.
pub fn record_fields(
    migration: Migration,
    applied_at: DateTime,
    duration: Duration,
    applied_by: &str,
) -> Document {
    doc! {
        "description": migration.description,
        "checksum": migration.checksum(),
        "appliedAt": applied_at,
        "durationMs": i64::try_from(duration.as_millis()).unwrap_or(i64::MAX),
        "appliedBy": applied_by,
    }
}

/// Every migration recorded in `db`, by id.
pub async fn applied(db: &Database, names: &CollectionNames) -> Result<Vec<AppliedMigration>> {
    let mut cursor = db
        .collection::<Document>(&names.migrations)
        .find(doc! {})
        .sort(doc! {"_id": 1})
        .await
        .map_err(ctx("read migrations"))?;
    let mut out = Vec::new();
    while cursor.advance().await.map_err(ctx("read migrations"))? {
        let d = cursor
            .deserialize_current()
            .map_err(ctx("read migrations"))?;
        if let Some(m) = AppliedMigration::from_document(&d) {
            out.push(m);
        }
    }
    Ok(out)
}

/// Whether `migration` is recorded as applied in `db`.
pub async fn is_applied(
    db: &Database,
    names: &CollectionNames,
    migration: Migration,
) -> Result<bool> {
    let found = db
        .collection::<Document>(&names.migrations)
        .find_one(doc! {"_id": migration.id})
        .await
        .map_err(ctx("read migrations"))?;
    Ok(found.is_some())
}

/// Fails with [`Error::NotFound`] naming the command to run unless `migration` is applied.
pub async fn require(db: &Database, names: &CollectionNames, migration: Migration) -> Result<()> {
    if is_applied(db, names, migration).await? {
        return Ok(());
    }
    Err(Error::NotFound(format!(
        "migration {} is not applied to MongoDB database {:?}; run `{MIGRATE_COMMAND}` against it \
         (or open with auto_migrate for development)",
        migration.id,
        db.name()
    )))
}

/// Applies the baseline: collections with validators, then indexes (unique first), then records
/// it as applied. Idempotent: existing collections and identical indexes are left alone.
pub async fn apply_baseline(
    db: &Database,
    names: &CollectionNames,
    migration: Migration,
) -> Result<()> {
    tracing::info!(
        database = db.name(),
        migration = migration.id,
        "applying migration"
    );
    let started = Instant::now();
    for role in Role::ALL {
        let name = role.name(names);
        let mut create = db.create_collection(name);
        if let Some(v) = validator(role) {
            create = create.validator(v);
        }
        match create.await {
            Ok(()) => {}
            Err(e) if matches!(e.kind.as_ref(), mongodb::error::ErrorKind::Command(c) if c.code == NAMESPACE_EXISTS) =>
                {}
            Err(e) => return Err(ctx("create collection")(e)),
        }
    }
    for def in indexes() {
        let mut options = IndexOptions::builder().name(def.name.to_owned()).build();
        if def.unique {
            options.unique = Some(true);
        }
        options.partial_filter_expression = def.partial.clone();
        let model = IndexModel::builder()
            .keys(def.keys.clone())
            .options(options)
            .build();
        db.collection::<Document>(def.role.name(names))
            .create_index(model)
            .await
            .map_err(ctx("create index"))?;
    }
    db.collection::<Document>(&names.migrations)
        .update_one(
            doc! {"_id": migration.id},
            doc! {"$setOnInsert": record_fields(
                migration,
                DateTime::now(),
                started.elapsed(),
                "berth-state-mongo auto_migrate",
            )},
        )
        .upsert(true)
        .await
        .map_err(ctx("record migration"))?;
    Ok(())
}
