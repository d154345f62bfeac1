//! Pack-run records as BSON documents: serde's camelCase fields, timestamps as BSON dates.

use crate::bson_json::{dates_to_millis, doc_to_json, json_to_doc, millis_to_dates};
use berth_core::codec::{from_json, to_json};
use berth_core::Result;
use mongodb::bson::Document;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// `value` as a document with the timestamp fields at `dates` stored as BSON dates.
pub(crate) fn to_doc<T: Serialize>(
    value: &T,
    dates: &[&str],
    what: &'static str,
) -> Result<Document> {
    let mut doc = json_to_doc(&to_json(value)?, what)?;
    millis_to_dates(&mut doc, dates);
    Ok(doc)
}

/// A stored document back as `T`; `_id` is dropped unless `id_field` renames it.
pub(crate) fn from_doc<T: DeserializeOwned>(
    mut doc: Document,
    dates: &[&str],
    id_field: Option<&str>,
    what: &'static str,
) -> Result<T> {
    let id = doc.remove("_id");
    if let (Some(field), Some(id)) = (id_field, id) {
        doc.insert(field, id);
    }
    dates_to_millis(&mut doc, dates);
    from_json(doc_to_json(doc, what)?, what)
}
