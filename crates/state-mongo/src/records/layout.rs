//! The layout of record and chunk documents.
//!
//! A record is one document `{_id, c, k, ver, ca, ua, v}` in the records collection, unique on
//! `(c, k)`: `c` the berth collection, `k` the key, `_id` the string `"<bytes of c>:<c><k>"`
//! (unambiguous thanks to the length; guarded writes address a record by `_id`, which every
//! server serves from the primary index even with the extra `ver` condition), `ver` the version (Int64), `ca`/`ua` the
//! created/updated dates from the store's clock, `v` the value as compact JSON text (exact
//! round trip of any JSON, no BSON field-name rules, readable in `mongosh`).
//!
//! BSON documents stop at 16 MiB but berth values may be 16 MiB of JSON, so a value over
//! [`INLINE_MAX`] bytes is stored instead as chunks of at most [`CHUNK`] bytes in the chunks
//! collection, `{g, n, d}` (generation, index, bytes), and the record holds `g` (a fresh
//! ObjectId per put) and `n` (the chunk count) instead of `v`. Chunks are written before the
//! record that names them and a replaced generation is deleted after it, in the batch's
//! transaction, so a reader only ever follows a record to a complete generation.

use berth_core::{Error, Record, Result, Timestamp};
use mongodb::bson::oid::ObjectId;
use mongodb::bson::spec::BinarySubtype;
use mongodb::bson::{doc, Binary, Bson, Document};

/// Largest value kept inline in its record document.
pub(crate) const INLINE_MAX: usize = 4 * 1024 * 1024;
/// Size of one chunk of a large value.
pub(crate) const CHUNK: usize = 4 * 1024 * 1024;

/// What a staged or stored record is, without its value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Meta {
    pub version: u64,
    pub created_at: Timestamp,
    /// The chunk generation of a large value.
    pub generation: Option<ObjectId>,
}

/// The `_id` of the record of `collection`/`key`.
pub(crate) fn record_id(collection: &str, key: &str) -> String {
    format!("{}:{collection}{key}", collection.len())
}

/// Reads the bookkeeping of a stored record document.
pub(crate) fn meta(doc: &Document) -> Result<Meta> {
    Ok(Meta {
        version: crate::bson_json::stored_u64(doc, "ver", "record")?,
        created_at: crate::bson_json::stored_ts(doc, "ca", "record")?,
        generation: doc.get_object_id("g").ok(),
    })
}

/// A new record document and, for a large value, its chunk documents.
pub(crate) fn encode(
    collection: &str,
    key: &str,
    json: Vec<u8>,
    version: u64,
    created_at: Timestamp,
    updated_at: Timestamp,
) -> Result<(Document, Vec<Document>, Option<ObjectId>)> {
    let ver = crate::bson_json::to_i64(version, "version")?;
    let mut record = doc! {
        "_id": record_id(collection, key),
        "c": collection,
        "k": key,
        "ver": ver,
        "ca": crate::bson_json::date(created_at),
        "ua": crate::bson_json::date(updated_at),
    };
    if json.len() <= INLINE_MAX {
        let text = String::from_utf8(json)
            .map_err(|e| Error::invalid("value", format!("JSON is not UTF-8: {e}")))?;
        record.insert("v", text);
        return Ok((record, Vec::new(), None));
    }
    let generation = ObjectId::new();
    let chunks: Vec<Document> = json
        .chunks(CHUNK)
        .enumerate()
        .map(|(n, part)| {
            doc! {
                "g": generation,
                "n": n as i64,
                "d": Binary { subtype: BinarySubtype::Generic, bytes: part.to_vec() },
            }
        })
        .collect();
    record.insert("g", generation);
    record.insert("n", chunks.len() as i64);
    Ok((record, chunks, Some(generation)))
}

/// How a stored record's value is held.
pub(crate) enum Stored {
    /// Inline JSON text.
    Inline(String),
    /// In `count` chunks of generation `generation`.
    Chunked { generation: ObjectId, count: usize },
}

/// Splits a stored record document into its record (value still `Null`) and where its value is.
pub(crate) fn decode(doc: &Document) -> Result<(Record, Stored)> {
    let key = crate::bson_json::stored_str(doc, "k", "record")?.to_owned();
    let meta = meta(doc)?;
    let record = Record {
        key,
        value: serde_json::Value::Null,
        version: meta.version,
        created_at: meta.created_at,
        updated_at: crate::bson_json::stored_ts(doc, "ua", "record")?,
    };
    let stored = match (doc.get("v"), meta.generation) {
        (Some(Bson::String(text)), _) => Stored::Inline(text.clone()),
        (_, Some(generation)) => Stored::Chunked {
            generation,
            count: crate::bson_json::stored_u64(doc, "n", "record")? as usize,
        },
        _ => {
            return Err(Error::Corrupt(format!(
                "record {:?} has no value",
                record.key
            )))
        }
    };
    Ok((record, stored))
}

/// Parses stored JSON text.
pub(crate) fn parse(bytes: &[u8], key: &str) -> Result<serde_json::Value> {
    berth_core::limits::decode_stored(bytes, &format!("record {key:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_values_inline_large_ones_chunked() {
        let t = Timestamp::from_millis(1);
        let (rec, chunks, g) = encode("c", "k", b"\"x\"".to_vec(), 1, t, t).unwrap();
        assert!(chunks.is_empty() && g.is_none());
        assert!(matches!(decode(&rec).unwrap().1, Stored::Inline(ref s) if s == "\"x\""));
        let big = vec![b'1'; CHUNK * 2 + 1];
        let (rec, chunks, g) = encode("c", "k", big, 2, t, t).unwrap();
        assert_eq!(chunks.len(), 3);
        match decode(&rec).unwrap().1 {
            Stored::Chunked { generation, count } => assert_eq!((Some(generation), count), (g, 3)),
            Stored::Inline(_) => panic!("expected chunks"),
        }
    }
}
