//! A batch as one sled transaction over the records, leases and sessions trees.
//!
//! Ops are applied in order inside the transaction, whose reads see its own earlier writes,
//! so each precondition is judged against the state the ops before it left. A failed
//! precondition aborts the transaction: nothing of the batch reaches the trees.

use crate::encoding::{decode_lease, decode_record_header, encode_record, record_key};
use crate::leases::{session_expiry, TxResult};
use berth_core::{Batch, Error, OpKind, Precondition, Timestamp};
use sled::transaction::{ConflictableTransactionError, TransactionalTree};

/// Applies `batch` (already validated) with `now` as the time of its puts.
///
/// Runs inside a transaction; returns the version after each put, `None` for the rest.
pub(crate) fn apply(
    records: &TransactionalTree,
    leases: &TransactionalTree,
    sessions: &TransactionalTree,
    batch: &Batch,
    jsons: &[Option<Vec<u8>>],
    now: Timestamp,
) -> TxResult<Vec<Option<u64>>> {
    let mut versions = Vec::with_capacity(batch.len());
    for (i, (op, json)) in batch.ops().iter().zip(jsons).enumerate() {
        let key = record_key(&op.collection, &op.key);
        let current = match records.get(&key)? {
            Some(bytes) => Some(decode_record_header(&bytes).map_err(abort)?),
            None => None,
        };
        if let Some(pre) = &op.precondition {
            check(
                i,
                &op.collection,
                &op.key,
                pre,
                current.map(|c| c.0),
                &Slots { leases, sessions },
                now,
            )?;
        }
        match (&op.kind, json) {
            (OpKind::Put(_), Some(json)) => {
                let (version, created_at) = match current {
                    Some((version, created_at, _)) => (version + 1, created_at),
                    None => (1, now),
                };
                records.insert(key, encode_record(version, created_at, now, json))?;
                versions.push(Some(version));
            }
            (OpKind::Delete, _) => {
                if current.is_some() {
                    records.remove(key)?;
                }
                versions.push(None);
            }
            _ => versions.push(None),
        }
    }
    Ok(versions)
}

/// The trees a fence is judged by.
struct Slots<'a> {
    leases: &'a TransactionalTree,
    sessions: &'a TransactionalTree,
}

/// Checks one precondition; `current` is the version of the key as the batch sees it.
fn check(
    op: usize,
    collection: &str,
    key: &str,
    pre: &Precondition,
    current: Option<u64>,
    slots: &Slots<'_>,
    now: Timestamp,
) -> TxResult<()> {
    let fail = |reason: String| Err(abort(Error::conflict(op, collection, key, reason)));
    match pre {
        Precondition::Absent => match current {
            Some(v) => fail(format!("expected absent, found version {v}")),
            None => Ok(()),
        },
        Precondition::Exists => match current {
            Some(_) => Ok(()),
            None => fail("expected to exist, found nothing".into()),
        },
        Precondition::Version(want) => match current {
            Some(v) if v == *want => Ok(()),
            Some(v) => fail(format!("expected version {want}, found {v}")),
            None => fail(format!("expected version {want}, found nothing")),
        },
        Precondition::Fence { shard, token } => {
            let held = match slots.leases.get(shard.as_bytes())? {
                Some(bytes) => {
                    let slot = decode_lease(&bytes).map_err(abort)?;
                    let expiry = session_expiry(slots.sessions, &slot)?;
                    slot.fence_holds(*token, now, expiry)
                }
                None => false,
            };
            if held {
                Ok(())
            } else {
                Err(abort(Error::StaleFence {
                    op,
                    shard: shard.clone(),
                    token: *token,
                }))
            }
        }
    }
}

/// Ends the transaction with `e`.
pub(crate) fn abort(e: Error) -> ConflictableTransactionError<Error> {
    ConflictableTransactionError::Abort(e)
}
