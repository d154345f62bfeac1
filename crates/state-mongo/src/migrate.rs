//! Checking and applying the migrations of [`schema`](crate::schema).

use crate::errors::ctx;
use crate::schema::{indexes, validator, CollectionNames, Migration, Role, MIGRATE_COMMAND};
use berth_core::{Error, Result};
use mongodb::bson::{doc, DateTime, Document};
use mongodb::options::IndexOptions;
use mongodb::{Database, IndexModel};

/// Server code for "collection already exists".
const NAMESPACE_EXISTS: i32 = 48;

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
            doc! {"$setOnInsert": {"description": migration.description, "appliedAt": DateTime::now()}},
        )
        .upsert(true)
        .await
        .map_err(ctx("record migration"))?;
    Ok(())
}
