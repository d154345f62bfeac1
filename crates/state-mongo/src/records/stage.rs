//! Staging a batch: every op checked, in order, against the state the ops before it left.
//!
//! The same rules as the memory backend's: version 1 on create and +1 per put, `created_at`
//! kept, a failed precondition names its op and nothing is written.

use super::layout::Meta;
use berth_core::{Error, Op, OpKind, Precondition, Result, Timestamp};
use std::collections::HashMap;

/// One (collection, key) a batch touches.
#[derive(Debug, Clone)]
pub(crate) struct Slot {
    pub collection: String,
    pub key: String,
    /// What the store held when the batch read it.
    pub original: Option<Meta>,
    /// What the batch leaves: version, created_at and the op whose value is put.
    pub staged: Option<(u64, Timestamp, usize)>,
    /// Whether any put or delete touched it.
    pub written: bool,
    /// Whether a precondition other than a fence was checked on it.
    pub checked: bool,
}

/// The staged outcome of a batch.
#[derive(Debug)]
pub(crate) struct Staged {
    /// Touched slots in the order they were first named.
    pub slots: Vec<Slot>,
    /// The new version of each op (puts only).
    pub versions: Vec<Option<u64>>,
    /// Fenced shards with the token each fence presented (first fence per shard).
    pub fences: Vec<(String, u64)>,
    /// The session holding each fenced shard that is held in one (filled in after staging).
    pub fence_sessions: HashMap<String, berth_core::SessionId>,
}

/// The distinct (collection, key) pairs of `ops`, in first-named order.
pub(crate) fn slots_of(ops: &[Op]) -> Vec<(String, String)> {
    let mut seen: HashMap<(&str, &str), ()> = HashMap::new();
    let mut out = Vec::new();
    for op in ops {
        if seen.insert((&op.collection, &op.key), ()).is_none() {
            out.push((op.collection.clone(), op.key.clone()));
        }
    }
    out
}

/// Stages `ops` over `originals` (aligned with [`slots_of`]) and the live `leases`
/// (shard → token of its unexpired holder).
pub(crate) fn stage(
    ops: &[Op],
    originals: Vec<Option<Meta>>,
    leases: &HashMap<String, u64>,
    now: Timestamp,
) -> Result<Staged> {
    let mut slots: Vec<Slot> = slots_of(ops)
        .into_iter()
        .zip(originals)
        .map(|((collection, key), original)| Slot {
            staged: original
                .as_ref()
                .map(|m| (m.version, m.created_at, usize::MAX)),
            collection,
            key,
            original,
            written: false,
            checked: false,
        })
        .collect();
    let index: HashMap<(String, String), usize> = slots
        .iter()
        .enumerate()
        .map(|(i, s)| ((s.collection.clone(), s.key.clone()), i))
        .collect();
    let mut versions = Vec::with_capacity(ops.len());
    let mut fences: Vec<(String, u64)> = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        let at = index[&(op.collection.clone(), op.key.clone())];
        let slot = &mut slots[at];
        if let Some(pre) = &op.precondition {
            check(i, op, pre, slot.staged.map(|(v, _, _)| v), leases)?;
            slot.checked |= !matches!(pre, Precondition::Fence { .. });
            if let Precondition::Fence { shard, token } = pre {
                if !fences.iter().any(|(s, _)| s == shard) {
                    fences.push((shard.clone(), *token));
                }
            }
        }
        match &op.kind {
            OpKind::Put(_) => {
                let (version, created_at) = match slot.staged {
                    Some((v, created, _)) => (v + 1, created),
                    None => (1, now),
                };
                slot.staged = Some((version, created_at, i));
                slot.written = true;
                versions.push(Some(version));
            }
            OpKind::Delete => {
                slot.staged = None;
                slot.written = true;
                versions.push(None);
            }
            OpKind::Check => versions.push(None),
        }
    }
    Ok(Staged {
        slots,
        versions,
        fences,
        fence_sessions: HashMap::new(),
    })
}

fn check(
    op: usize,
    o: &Op,
    pre: &Precondition,
    version: Option<u64>,
    leases: &HashMap<String, u64>,
) -> Result<()> {
    let fail = |reason: String| Err(Error::conflict(op, &o.collection, &o.key, reason));
    match (pre, version) {
        (Precondition::Absent, Some(v)) => fail(format!("expected absent, found version {v}")),
        (Precondition::Absent, None) | (Precondition::Exists, Some(_)) => Ok(()),
        (Precondition::Exists, None) => fail("expected to exist, found nothing".into()),
        (Precondition::Version(want), Some(v)) if *want == v => Ok(()),
        (Precondition::Version(want), Some(v)) => {
            fail(format!("expected version {want}, found {v}"))
        }
        (Precondition::Version(want), None) => {
            fail(format!("expected version {want}, found nothing"))
        }
        (Precondition::Fence { shard, token }, _) => {
            if leases.get(shard) == Some(token) {
                Ok(())
            } else {
                Err(Error::StaleFence {
                    op,
                    shard: shard.clone(),
                    token: *token,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_core::{Batch, ErrorKind};
    use serde_json::json;

    fn meta(version: u64) -> Option<Meta> {
        Some(Meta {
            version,
            created_at: Timestamp::from_millis(5),
            generation: None,
        })
    }

    #[test]
    fn ops_see_earlier_ops_and_failures_name_their_op() {
        let mut b = Batch::new();
        b.put("c", "k", json!(1)).when(Precondition::Absent);
        b.put("c", "k", json!(2)).when(Precondition::Version(1));
        b.delete("d", "x");
        let now = Timestamp::from_millis(9);
        let s = stage(b.ops(), vec![None, meta(3)], &HashMap::new(), now).unwrap();
        assert_eq!(s.versions, vec![Some(1), Some(2), None]);
        assert_eq!(s.slots[0].staged, Some((2, now, 1)));
        assert!(s.slots[1].staged.is_none() && s.slots[1].written);

        let mut b = Batch::new();
        b.delete("c", "k");
        b.put("c", "k", json!(1)).when(Precondition::Exists);
        let err = stage(b.ops(), vec![meta(1)], &HashMap::new(), now).unwrap_err();
        assert_eq!((err.kind(), err.op_index()), (ErrorKind::Conflict, Some(1)));

        let mut b = Batch::new();
        b.check(
            "c",
            "k",
            Precondition::Fence {
                shard: "g:1".into(),
                token: 2,
            },
        );
        let live: HashMap<String, u64> = [("g:1".to_owned(), 3)].into();
        assert_eq!(
            stage(b.ops(), vec![None], &live, now).unwrap_err().kind(),
            ErrorKind::StaleFence
        );
    }
}
