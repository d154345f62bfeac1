//! [`RecordStore`] on sled: one tree for every collection, ordered by key bytes.

use crate::blocking::{run, Cost, INLINE_BYTES, INLINE_KEYS, INLINE_SCAN};
use crate::commit::apply;
use crate::encoding::{decode_record, record_key, user_key};
use crate::errors::{from_sled, from_transaction};
use crate::registry::Shared;
use berth_core::{
    limits, Batch, Committed, Durability, Error, OpKind, Record, RecordStore, Result, Scan,
    SharedClock,
};
use sled::Transactional;
use std::ops::Bound;
use std::sync::Arc;

/// The sled backend's [`RecordStore`].
pub struct SledRecords {
    db: Arc<Shared>,
    clock: SharedClock,
    durability: Durability,
}

impl SledRecords {
    pub(crate) fn new(db: Arc<Shared>, clock: SharedClock, durability: Durability) -> Self {
        SledRecords {
            db,
            clock,
            durability,
        }
    }
}

/// The tree-key prefix of every key of `collection`: its bytes and a NUL.
fn collection_prefix(collection: &str) -> Vec<u8> {
    let mut out = collection.as_bytes().to_vec();
    out.push(0);
    out
}

/// The smallest byte string above every string starting with `prefix`.
///
/// `prefix` always holds the collection's NUL, so some byte below 0xff exists.
fn upper_bound(prefix: &[u8]) -> Bound<Vec<u8>> {
    let mut bytes = prefix.to_vec();
    while let Some(last) = bytes.pop() {
        if last < 0xff {
            bytes.push(last + 1);
            return Bound::Excluded(bytes);
        }
    }
    Bound::Unbounded
}

/// A range of records-tree keys.
type KeyRange = (Bound<Vec<u8>>, Bound<Vec<u8>>);

/// The tree range a scan covers, or `None` when it is empty.
fn scan_range(collection: &str, scan: &Scan) -> Option<KeyRange> {
    let mut full = collection_prefix(collection);
    full.extend_from_slice(scan.prefix.as_bytes());
    let at = |key: &str| record_key(collection, key);
    let lower = match (&scan.start_after, scan.reverse) {
        (Some(after), false) if after.as_str() >= scan.prefix.as_str() => {
            Bound::Excluded(at(after))
        }
        _ => Bound::Included(full.clone()),
    };
    let prefix_end = upper_bound(&full);
    let upper = match (&scan.start_after, scan.reverse, prefix_end) {
        (Some(after), true, Bound::Excluded(end)) if at(after) < end => Bound::Excluded(at(after)),
        (Some(after), true, Bound::Unbounded) => Bound::Excluded(at(after)),
        (_, _, end) => end,
    };
    let empty = match (&lower, &upper) {
        (Bound::Included(l), Bound::Excluded(u)) | (Bound::Excluded(l), Bound::Excluded(u)) => {
            l >= u
        }
        _ => false,
    };
    (!empty).then_some((lower, upper))
}

fn decode_entry(entry: sled::Result<(sled::IVec, sled::IVec)>, skip: usize) -> Result<Record> {
    let (k, v) = entry.map_err(from_sled)?;
    decode_record(&v)?.into_record(user_key(&k, skip)?)
}

#[async_trait::async_trait]
impl RecordStore for SledRecords {
    async fn get_many(&self, collection: &str, keys: &[String]) -> Result<Vec<Option<Record>>> {
        limits::validate_collection(collection)?;
        for k in keys {
            limits::validate_key(k)?;
        }
        let span = tracing::trace_span!("sled get_many", collection, keys = keys.len());
        let db = self.db.clone();
        let tree_keys: Vec<(Vec<u8>, String)> = keys
            .iter()
            .map(|k| (record_key(collection, k), k.clone()))
            .collect();
        run(Cost::small_if(keys.len() <= INLINE_KEYS), move || {
            let _span = span.entered();
            // One read-only transaction, so the keys are read at one instant.
            let found = db
                .records
                .transaction(|tx| {
                    let mut out = Vec::with_capacity(tree_keys.len());
                    for (tree_key, _) in &tree_keys {
                        out.push(tx.get(tree_key)?);
                    }
                    Ok(out)
                })
                .map_err(from_transaction)?;
            found
                .into_iter()
                .zip(tree_keys)
                .map(|(bytes, (_, key))| match bytes {
                    Some(bytes) => decode_record(&bytes)?.into_record(key).map(Some),
                    None => Ok(None),
                })
                .collect()
        })
        .await
    }

    async fn scan(&self, collection: &str, scan: &Scan) -> Result<Vec<Record>> {
        limits::validate_collection(collection)?;
        let span = tracing::trace_span!("sled scan", collection, ?scan);
        let Some(range) = scan_range(collection, scan) else {
            return Ok(Vec::new());
        };
        let limit = scan.limit.unwrap_or(usize::MAX);
        let skip = collection.len() + 1;
        let reverse = scan.reverse;
        let db = self.db.clone();
        run(Cost::small_if(limit <= INLINE_SCAN), move || {
            let _span = span.entered();
            let iter = db.records.range(range);
            if reverse {
                iter.rev()
                    .take(limit)
                    .map(|e| decode_entry(e, skip))
                    .collect()
            } else {
                iter.take(limit).map(|e| decode_entry(e, skip)).collect()
            }
        })
        .await
    }

    async fn count(&self, collection: &str, prefix: &str) -> Result<u64> {
        limits::validate_collection(collection)?;
        let span = tracing::trace_span!("sled count", collection, prefix);
        let mut full = collection_prefix(collection);
        full.extend_from_slice(prefix.as_bytes());
        let db = self.db.clone();
        run(Cost::Large, move || {
            let _span = span.entered();
            let mut n = 0u64;
            for entry in db.records.scan_prefix(full) {
                entry.map_err(from_sled)?;
                n += 1;
            }
            Ok(n)
        })
        .await
    }

    async fn commit(&self, batch: Batch) -> Result<Committed> {
        batch.validate()?;
        let span = tracing::debug_span!("sled commit", ops = batch.len());
        let jsons = batch
            .ops()
            .iter()
            .map(|op| match &op.kind {
                OpKind::Put(value) => serde_json::to_vec(value)
                    .map(Some)
                    .map_err(|e| Error::invalid("value", e.to_string())),
                _ => Ok(None),
            })
            .collect::<Result<Vec<_>>>()?;
        let db = self.db.clone();
        let clock = self.clock.clone();
        let durability = self.durability;
        let bytes: usize = jsons.iter().flatten().map(Vec::len).sum();
        let cost = Cost::small_if(
            durability == Durability::Relaxed
                && batch.len() <= INLINE_KEYS
                && bytes <= INLINE_BYTES,
        );
        run(cost, move || {
            let _span = span.entered();
            let now = clock.now();
            let versions = (&db.records, &db.leases, &db.sessions)
                .transaction(|(records, leases, sessions)| {
                    apply(records, leases, sessions, &batch, &jsons, now)
                })
                .map_err(from_transaction)?;
            db.sync(durability)?;
            Ok(Committed { versions, at: now })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_core::{ErrorKind, LeaseStore, Precondition, SystemClock};

    fn kind<T: std::fmt::Debug>(r: Result<T>) -> ErrorKind {
        r.unwrap_err().kind()
    }

    #[tokio::test]
    async fn undecodable_stored_data_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::open::open_database(dir.path().join("db"), false)
            .await
            .unwrap();
        db.records
            .insert(record_key("c", "bad"), &b"\x07junk"[..])
            .unwrap();
        db.records
            .insert(
                record_key("c", "json"),
                crate::encoding::encode_record(1, Default::default(), Default::default(), b"{"),
            )
            .unwrap();
        db.leases.insert(b"s:1", &b"\x01"[..]).unwrap();
        let records = SledRecords::new(db.clone(), Arc::new(SystemClock), Durability::Immediate);
        assert_eq!(kind(records.get("c", "bad").await), ErrorKind::Corrupt);
        assert_eq!(kind(records.get("c", "json").await), ErrorKind::Corrupt);
        assert_eq!(
            kind(records.scan("c", &Scan::all()).await),
            ErrorKind::Corrupt
        );
        let mut batch = Batch::new();
        batch
            .put("c", "bad", serde_json::json!(1))
            .when(Precondition::Version(1));
        assert_eq!(kind(records.commit(batch).await), ErrorKind::Corrupt);
        let mut fenced = Batch::new();
        fenced
            .put("c", "ok", serde_json::json!(1))
            .when(Precondition::Fence {
                shard: "s:1".into(),
                token: 1,
            });
        assert_eq!(kind(records.commit(fenced).await), ErrorKind::Corrupt);
        assert_eq!(records.get("c", "ok").await.unwrap(), None);
        let leases = crate::SledLeases::new(db, Arc::new(SystemClock), Durability::Immediate);
        let ttl = std::time::Duration::from_secs(1);
        assert_eq!(
            kind(leases.acquire("h:1", &["s:1".into()], ttl).await),
            ErrorKind::Corrupt
        );
    }

    #[test]
    fn reverse_cursor_is_capped_by_the_prefix() {
        let scan = Scan::prefix("a").after("b").reversed();
        let (lower, upper) = scan_range("c", &scan).unwrap();
        assert_eq!(lower, Bound::Included(b"c\0a".to_vec()));
        assert_eq!(upper, Bound::Excluded(b"c\0b".to_vec()));
        assert!(scan_range("c", &Scan::prefix("b").after("a").reversed()).is_none());
        assert!(scan_range("c", &Scan::prefix("a").after("b")).is_none());
        assert!(scan_range("c", &Scan::prefix("a").after("a")).is_some());
    }
}
