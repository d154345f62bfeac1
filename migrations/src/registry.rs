//! The migrations, as code: each one's id, description and checksum come from
//! [`berth_state_mongo::schema`] (the one definition of every collection and index), and its
//! steps are derived from that same definition here.

use berth_state_mongo::schema::{self, IndexDef, Migration, Role};
use mongodb::bson::Document;

/// One idempotent change a migration makes.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// A collection, with its `$jsonSchema` validator if it has one.
    Collection {
        /// Which collection.
        role: Role,
        /// Its validator.
        validator: Option<Document>,
    },
    /// An index.
    Index(IndexDef),
}

/// A migration and its steps, in the order they apply.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Id, description and checksum.
    pub migration: Migration,
    /// What it creates: collections first, then indexes with unique ones first.
    pub steps: Vec<Step>,
}

impl Spec {
    /// Its id.
    pub fn id(&self) -> &'static str {
        self.migration.id
    }

    /// Its checksum.
    pub fn checksum(&self) -> String {
        self.migration.checksum()
    }
}

/// The steps of the baseline (seed 002's execution order: collections with validators, then
/// indexes, unique first).
fn baseline() -> Vec<Step> {
    let collections = Role::ALL.iter().map(|role| Step::Collection {
        role: *role,
        validator: schema::validator(*role),
    });
    collections
        .chain(schema::indexes().into_iter().map(Step::Index))
        .collect()
}

/// Every migration, oldest first.
pub fn all() -> Vec<Spec> {
    schema::MIGRATIONS
        .iter()
        .map(|m| Spec {
            migration: *m,
            steps: if m.id == schema::BASELINE.id {
                baseline()
            } else {
                Vec::new()
            },
        })
        .collect()
}

/// The migrations up to and including `to` (all without it); `None` when `to` is unknown.
pub fn up_to(to: Option<&str>) -> Option<Vec<Spec>> {
    let all = all();
    match to {
        None => Some(all),
        Some(id) => {
            let end = all.iter().position(|s| s.id() == id)?;
            Some(all.into_iter().take(end + 1).collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_baseline_follows_the_seed_order() {
        let all = all();
        assert_eq!(all.len(), schema::MIGRATIONS.len());
        let base = &all[0];
        assert_eq!(base.id(), "20251106-task-runner-baseline");
        assert!(
            all.iter().all(|s| !s.steps.is_empty()),
            "every migration has steps"
        );
        let first_index = base
            .steps
            .iter()
            .position(|s| matches!(s, Step::Index(_)))
            .unwrap();
        assert!(base.steps[..first_index]
            .iter()
            .all(|s| matches!(s, Step::Collection { .. })));
        let unique: Vec<bool> = base.steps[first_index..]
            .iter()
            .map(|s| matches!(s, Step::Index(i) if i.unique))
            .collect();
        assert!(unique.windows(2).all(|w| w[0] >= w[1]), "unique first");
        assert!(up_to(Some("nope")).is_none());
        assert_eq!(up_to(Some(base.id())).unwrap().len(), 1);
    }
}
