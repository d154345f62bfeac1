use crate::state::{State, Stored};
use async_trait::async_trait;
use berth_core::{
    limits, Batch, Committed, Error, OpKind, Precondition, Record, RecordStore, Result, Scan,
    SharedClock,
};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::ops::Bound;
use std::sync::Arc;

/// The memory backend's [`RecordStore`].
pub struct MemoryRecords {
    state: Arc<Mutex<State>>,
    clock: SharedClock,
}

impl MemoryRecords {
    pub(crate) fn new(state: Arc<Mutex<State>>, clock: SharedClock) -> Self {
        MemoryRecords { state, clock }
    }
}

/// The smallest string greater than every string starting with `prefix` (by bytes, which for
/// UTF-8 is code-point order), or `None` when no such string exists.
fn str_upper_bound(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = match last as u32 {
            0xD7FF => Some('\u{E000}'),
            n => char::from_u32(n + 1),
        };
        if let Some(c) = next {
            chars.push(c);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

fn to_record(key: &str, s: &Stored) -> Record {
    Record {
        key: key.to_owned(),
        value: s.value.clone(),
        version: s.version,
        created_at: s.created_at,
        updated_at: s.updated_at,
    }
}

#[async_trait]
impl RecordStore for MemoryRecords {
    async fn get_many(&self, collection: &str, keys: &[String]) -> Result<Vec<Option<Record>>> {
        limits::validate_collection(collection)?;
        for k in keys {
            limits::validate_key(k)?;
        }
        tracing::trace!(collection, keys = keys.len(), "memory get_many");
        let state = self.state.lock();
        let coll = state.collections.get(collection);
        Ok(keys
            .iter()
            .map(|k| coll.and_then(|c| c.get(k)).map(|s| to_record(k, s)))
            .collect())
    }

    async fn scan(&self, collection: &str, scan: &Scan) -> Result<Vec<Record>> {
        limits::validate_collection(collection)?;
        tracing::trace!(collection, ?scan, "memory scan");
        let state = self.state.lock();
        let Some(coll) = state.collections.get(collection) else {
            return Ok(Vec::new());
        };
        let limit = scan.limit.unwrap_or(usize::MAX);
        let lower = match (&scan.start_after, scan.reverse) {
            (Some(after), false) if after.as_str() >= scan.prefix.as_str() => {
                Bound::Excluded(after.clone())
            }
            _ => Bound::Included(scan.prefix.clone()),
        };
        // The end of the prefix range, so a reverse scan starts at the prefix's last key
        // instead of walking back over every key after it.
        let prefix_end = str_upper_bound(&scan.prefix);
        let upper = match (&scan.start_after, scan.reverse, prefix_end) {
            (Some(after), true, Some(end)) if end.as_str() < after.as_str() => Bound::Excluded(end),
            (Some(after), true, _) => Bound::Excluded(after.clone()),
            (None, _, Some(end)) => Bound::Excluded(end),
            _ => Bound::Unbounded,
        };
        if let (Bound::Excluded(u), Bound::Included(l) | Bound::Excluded(l)) = (&upper, &lower) {
            if u <= l {
                return Ok(Vec::new());
            }
        }
        let range = coll.range::<String, _>((lower, upper));
        let admitted = |(k, _): &(&String, &Stored)| k.starts_with(&scan.prefix);
        let out = if scan.reverse {
            range
                .rev()
                .skip_while(|e| !admitted(e))
                .take_while(admitted)
                .take(limit)
                .map(|(k, s)| to_record(k, s))
                .collect()
        } else {
            range
                .take_while(admitted)
                .take(limit)
                .map(|(k, s)| to_record(k, s))
                .collect()
        };
        Ok(out)
    }

    async fn count(&self, collection: &str, prefix: &str) -> Result<u64> {
        limits::validate_collection(collection)?;
        let state = self.state.lock();
        let Some(coll) = state.collections.get(collection) else {
            return Ok(0);
        };
        let n = coll
            .range::<str, _>((Bound::Included(prefix), Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(prefix))
            .count();
        Ok(n as u64)
    }

    async fn commit(&self, batch: Batch) -> Result<Committed> {
        batch.validate()?;
        tracing::debug!(ops = batch.len(), "memory commit");
        let mut state = self.state.lock();
        let now = self.clock.now();
        // Stage every op over the current state; apply only if all preconditions hold.
        let mut staged: HashMap<(&str, &str), Option<Stored>> = HashMap::new();
        let mut versions = Vec::with_capacity(batch.len());
        for (i, op) in batch.ops().iter().enumerate() {
            let slot = (op.collection.as_str(), op.key.as_str());
            let current: Option<Stored> = match staged.get(&slot) {
                Some(s) => s.clone(),
                None => state
                    .collections
                    .get(&op.collection)
                    .and_then(|c| c.get(&op.key))
                    .cloned(),
            };
            if let Some(pre) = &op.precondition {
                check(
                    i,
                    op.collection.as_str(),
                    op.key.as_str(),
                    pre,
                    current.as_ref(),
                    &state,
                    now,
                )?;
            }
            match &op.kind {
                OpKind::Put(value) => {
                    let (version, created_at) = match &current {
                        Some(c) => (c.version + 1, c.created_at),
                        None => (1, now),
                    };
                    versions.push(Some(version));
                    staged.insert(
                        slot,
                        Some(Stored {
                            value: value.clone(),
                            version,
                            created_at,
                            updated_at: now,
                        }),
                    );
                }
                OpKind::Delete => {
                    versions.push(None);
                    staged.insert(slot, None);
                }
                OpKind::Check => versions.push(None),
            }
        }
        for ((collection, key), value) in staged {
            match value {
                Some(v) => {
                    state
                        .collections
                        .entry(collection.to_owned())
                        .or_default()
                        .insert(key.to_owned(), v);
                }
                None => {
                    if let Some(c) = state.collections.get_mut(collection) {
                        c.remove(key);
                        if c.is_empty() {
                            state.collections.remove(collection);
                        }
                    }
                }
            }
        }
        Ok(Committed { versions, at: now })
    }
}

fn check(
    op: usize,
    collection: &str,
    key: &str,
    pre: &Precondition,
    current: Option<&Stored>,
    state: &State,
    now: berth_core::Timestamp,
) -> Result<()> {
    let fail = |reason: String| Err(Error::conflict(op, collection, key, reason));
    match pre {
        Precondition::Absent => match current {
            Some(c) => fail(format!("expected absent, found version {}", c.version)),
            None => Ok(()),
        },
        Precondition::Exists => match current {
            Some(_) => Ok(()),
            None => fail("expected to exist, found nothing".into()),
        },
        Precondition::Version(v) => match current {
            Some(c) if c.version == *v => Ok(()),
            Some(c) => fail(format!("expected version {v}, found {}", c.version)),
            None => fail(format!("expected version {v}, found nothing")),
        },
        Precondition::Fence { shard, token } => {
            let held = state
                .leases
                .get(shard)
                .is_some_and(|l| l.fence_holds(*token, now, state.session_expiry(l)));
            if held {
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
    use super::str_upper_bound;

    #[test]
    fn upper_bound_is_just_past_every_key_with_the_prefix() {
        assert_eq!(str_upper_bound("ab").as_deref(), Some("ac"));
        assert_eq!(str_upper_bound("a\u{D7FF}").as_deref(), Some("a\u{E000}"));
        assert_eq!(str_upper_bound("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(str_upper_bound(""), None);
        assert_eq!(str_upper_bound("\u{10FFFF}"), None);
        for key in ["ab", "ab\u{10FFFF}\u{10FFFF}", "abzzz"] {
            assert!(key < str_upper_bound("ab").unwrap().as_str());
        }
    }
}
