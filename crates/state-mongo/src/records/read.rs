//! Reads: `get_many`, `scan`, `count`, and reassembly of chunked values.

use super::layout::{decode, parse, Stored};
use super::range::{key_filter, prefix_filter};
use crate::errors::ctx;
use crate::schema::Role;
use crate::shared::{collect, Shared};
use berth_core::{Error, Record, Result, Scan};
use mongodb::bson::oid::ObjectId;
use mongodb::bson::{doc, Document};
use std::collections::{BTreeSet, HashMap};

/// How often a read retries when an overwrite removed the chunks it was about to read.
const CHUNK_READ_ATTEMPTS: usize = 3;

pub(crate) async fn get_many(
    shared: &Shared,
    collection: &str,
    keys: &[String],
) -> Result<Vec<Option<Record>>> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let distinct: BTreeSet<&str> = keys.iter().map(String::as_str).collect();
    let filter = doc! {"c": collection, "k": {"$in": distinct.into_iter().collect::<Vec<_>>()}};
    let found = load(shared, filter, None, None).await?;
    let mut by_key: HashMap<String, Record> =
        found.into_iter().map(|r| (r.key.clone(), r)).collect();
    let mut out = Vec::with_capacity(keys.len());
    for (i, k) in keys.iter().enumerate() {
        // A key asked for twice gets the record twice.
        let again = keys[i + 1..].contains(k);
        out.push(if again {
            by_key.get(k).cloned()
        } else {
            by_key.remove(k)
        });
    }
    Ok(out)
}

pub(crate) async fn scan(shared: &Shared, collection: &str, scan: &Scan) -> Result<Vec<Record>> {
    if scan.limit == Some(0) {
        return Ok(Vec::new());
    }
    let Some(keys) = key_filter(scan) else {
        return Ok(Vec::new());
    };
    let mut filter = doc! {"c": collection};
    if !keys.is_empty() {
        filter.insert("k", keys);
    }
    let dir = if scan.reverse { -1 } else { 1 };
    let limit = scan.limit.map(|l| i64::try_from(l).unwrap_or(i64::MAX));
    let records = load(shared, filter, Some(doc! {"c": dir, "k": dir}), limit).await?;
    Ok(records
        .into_iter()
        .filter(|r| scan.admits(&r.key))
        .collect())
}

pub(crate) async fn count(shared: &Shared, collection: &str, prefix: &str) -> Result<u64> {
    shared
        .coll(Role::Records)
        .count_documents(prefix_filter(collection, prefix))
        .await
        .map_err(ctx("count"))
}

/// Finds records and their values, chunked ones included.
async fn load(
    shared: &Shared,
    filter: Document,
    sort: Option<Document>,
    limit: Option<i64>,
) -> Result<Vec<Record>> {
    let mut attempt = 0;
    loop {
        let records = shared.coll(Role::Records);
        let mut find = records.find(filter.clone());
        if let Some(sort) = sort.clone() {
            find = find.sort(sort);
        }
        if let Some(limit) = limit {
            find = find.limit(limit);
        }
        let docs = collect(find.await.map_err(ctx("find records"))?, "find records").await?;
        match assemble(shared, docs).await {
            Err(Error::Corrupt(_)) if attempt + 1 < CHUNK_READ_ATTEMPTS => attempt += 1,
            other => return other,
        }
    }
}

async fn assemble(shared: &Shared, docs: Vec<Document>) -> Result<Vec<Record>> {
    let mut records = Vec::with_capacity(docs.len());
    let mut chunked: Vec<(usize, ObjectId, usize)> = Vec::new();
    for d in &docs {
        let (mut record, stored) = decode(d)?;
        match stored {
            Stored::Inline(text) => record.value = parse(text.as_bytes(), &record.key)?,
            Stored::Chunked { generation, count } => {
                chunked.push((records.len(), generation, count))
            }
        }
        records.push(record);
    }
    if chunked.is_empty() {
        return Ok(records);
    }
    let generations: Vec<ObjectId> = chunked.iter().map(|(_, g, _)| *g).collect();
    let cursor = shared
        .coll(Role::Chunks)
        .find(doc! {"g": {"$in": generations}})
        .sort(doc! {"g": 1, "n": 1})
        .await
        .map_err(ctx("find chunks"))?;
    let mut parts: HashMap<ObjectId, Vec<u8>> = HashMap::new();
    let mut counts: HashMap<ObjectId, usize> = HashMap::new();
    for chunk in collect(cursor, "find chunks").await? {
        let g = chunk
            .get_object_id("g")
            .map_err(|_| Error::Corrupt("chunk without generation".into()))?;
        let bytes = chunk
            .get_binary_generic("d")
            .map_err(|_| Error::Corrupt("chunk without data".into()))?;
        parts.entry(g).or_default().extend_from_slice(bytes);
        *counts.entry(g).or_default() += 1;
    }
    for (index, generation, count) in chunked {
        let key = records[index].key.clone();
        if counts.get(&generation).copied() != Some(count) {
            return Err(Error::Corrupt(format!(
                "record {key:?}: chunks of its value are missing"
            )));
        }
        let bytes = parts.remove(&generation).unwrap_or_default();
        records[index].value = parse(&bytes, &key)?;
    }
    Ok(records)
}
