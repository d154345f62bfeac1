//! What the database holds now: collections with their validators and indexes.

use crate::error::MigrateError;
use futures::TryStreamExt;
use mongodb::bson::{doc, Bson, Document};
use mongodb::Database;
use std::collections::HashMap;

/// An index as the server reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexInfo {
    /// Its name.
    pub name: String,
    /// Key pattern.
    pub key: Document,
    /// Unique.
    pub unique: bool,
    /// Partial filter.
    pub partial: Option<Document>,
    /// TTL in seconds.
    pub expire_after_seconds: Option<i64>,
}

/// A collection as the server reports it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CollectionInfo {
    /// Its validator.
    pub validator: Option<Document>,
    /// Its indexes, `_id_` included.
    pub indexes: Vec<IndexInfo>,
}

/// The collections (of those asked about) that exist.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Snapshot {
    /// By name.
    pub collections: HashMap<String, CollectionInfo>,
}

/// Reads the collections named `names` that exist in `db`, with their indexes.
pub async fn snapshot(db: &Database, names: &[&str]) -> Result<Snapshot, MigrateError> {
    let specs: Vec<_> = db
        .list_collections()
        .filter(doc! {"name": {"$in": names}})
        .await
        .map_err(MigrateError::mongo("list collections"))?
        .try_collect()
        .await
        .map_err(MigrateError::mongo("list collections"))?;
    let mut snapshot = Snapshot::default();
    for spec in specs {
        let models: Vec<_> = db
            .collection::<Document>(&spec.name)
            .list_indexes()
            .await
            .map_err(MigrateError::mongo(format!(
                "list indexes of {}",
                spec.name
            )))?
            .try_collect()
            .await
            .map_err(MigrateError::mongo(format!(
                "list indexes of {}",
                spec.name
            )))?;
        let indexes = models
            .into_iter()
            .map(|m| {
                let o = m.options.unwrap_or_default();
                IndexInfo {
                    name: o.name.unwrap_or_default(),
                    key: m.keys,
                    unique: o.unique.unwrap_or(false),
                    partial: o.partial_filter_expression,
                    expire_after_seconds: o
                        .expire_after
                        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)),
                }
            })
            .collect();
        let info = CollectionInfo {
            validator: spec.options.validator,
            indexes,
        };
        snapshot.collections.insert(spec.name, info);
    }
    Ok(snapshot)
}

/// `a` and `b` equal with every number compared as a number (servers echo `1` as int or double).
pub fn same(a: &Bson, b: &Bson) -> bool {
    fn num(v: &Bson) -> Option<f64> {
        match v {
            Bson::Int32(i) => Some(f64::from(*i)),
            Bson::Int64(i) => Some(*i as f64),
            Bson::Double(d) => Some(*d),
            _ => None,
        }
    }
    match (a, b) {
        (Bson::Document(x), Bson::Document(y)) => same_doc(x, y),
        (Bson::Array(x), Bson::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q))
        }
        _ => match (num(a), num(b)) {
            (Some(x), Some(y)) => x == y,
            _ => a == b,
        },
    }
}

/// Documents equal field by field, in order, numbers compared as numbers.
pub fn same_doc(a: &Document, b: &Document) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b.iter())
            .all(|((ka, va), (kb, vb))| ka == kb && same(va, vb))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_compare_by_value_and_order_matters() {
        assert!(same_doc(
            &doc! {"a": 1, "b": -1},
            &doc! {"a": 1.0, "b": -1_i64}
        ));
        assert!(!same_doc(&doc! {"a": 1, "b": -1}, &doc! {"b": -1, "a": 1}));
        assert!(!same_doc(&doc! {"a": 1}, &doc! {"a": -1}));
        assert!(same_doc(
            &doc! {"x": {"$in": [1, "s"]}},
            &doc! {"x": {"$in": [1.0, "s"]}}
        ));
    }
}
