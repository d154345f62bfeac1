//! Applying a batch on the write connection: ops in order, preconditions against the state
//! left by earlier ops (the transaction itself), nothing kept if one fails.

use crate::sql_error::SqlResult;
use crate::values::{json_text, to_u64};
use berth_core::{Batch, Committed, Error, OpKind, Precondition, Result, Timestamp};
use rusqlite::{params, Connection, OptionalExtension};

/// Applies `batch` at time `now`. On error the caller (the writer) rolls back whatever the
/// earlier ops wrote.
pub(crate) fn apply(conn: &Connection, batch: &Batch, now: Timestamp) -> Result<Committed> {
    let now_ms = now.millis();
    let mut versions = Vec::with_capacity(batch.len());
    for (i, op) in batch.ops().iter().enumerate() {
        if let Some(pre) = &op.precondition {
            check(conn, i, &op.collection, &op.key, pre, now)?;
        }
        match &op.kind {
            OpKind::Put(value) => {
                let text = json_text(value)?;
                let version: i64 = conn
                    .prepare_cached(
                        "INSERT INTO records (collection, key, value, version, created_at, updated_at) \
                         VALUES (?1, ?2, ?3, 1, ?4, ?4) \
                         ON CONFLICT (collection, key) DO UPDATE SET \
                         value = excluded.value, version = version + 1, updated_at = excluded.updated_at \
                         RETURNING version",
                    )
                    .and_then(|mut s| {
                        s.query_row(
                            params![op.collection, op.key.as_bytes(), text, now_ms],
                            |r| r.get(0),
                        )
                    })
                    .sql()?;
                versions.push(Some(to_u64("version", version)?));
            }
            OpKind::Delete => {
                conn.prepare_cached("DELETE FROM records WHERE collection = ?1 AND key = ?2")
                    .and_then(|mut s| s.execute(params![op.collection, op.key.as_bytes()]))
                    .sql()?;
                versions.push(None);
            }
            OpKind::Check => versions.push(None),
        }
    }
    Ok(Committed { versions, at: now })
}

fn current_version(conn: &Connection, collection: &str, key: &str) -> Result<Option<u64>> {
    let found: Option<i64> = conn
        .prepare_cached("SELECT version FROM records WHERE collection = ?1 AND key = ?2")
        .and_then(|mut s| {
            s.query_row(params![collection, key.as_bytes()], |r| r.get(0))
                .optional()
        })
        .sql()?;
    found.map(|v| to_u64("version", v)).transpose()
}

/// Whether the lease of `shard` is held, unexpired, with `token`.
pub(crate) fn fence_holds(
    conn: &Connection,
    shard: &str,
    token: u64,
    now: Timestamp,
) -> Result<bool> {
    let Ok(token) = i64::try_from(token) else {
        return Ok(false);
    };
    conn.prepare_cached(
        "SELECT 1 FROM leases WHERE shard = ?1 AND owner IS NOT NULL AND token = ?2 AND expires_at > ?3",
    )
    .and_then(|mut s| s.exists(params![shard, token, now.millis()]))
    .sql()
}

fn check(
    conn: &Connection,
    op: usize,
    collection: &str,
    key: &str,
    pre: &Precondition,
    now: Timestamp,
) -> Result<()> {
    let fail = |reason: String| Err(Error::conflict(op, collection, key, reason));
    match pre {
        Precondition::Absent => match current_version(conn, collection, key)? {
            Some(v) => fail(format!("expected absent, found version {v}")),
            None => Ok(()),
        },
        Precondition::Exists => match current_version(conn, collection, key)? {
            Some(_) => Ok(()),
            None => fail("expected to exist, found nothing".into()),
        },
        Precondition::Version(want) => match current_version(conn, collection, key)? {
            Some(v) if v == *want => Ok(()),
            Some(v) => fail(format!("expected version {want}, found {v}")),
            None => fail(format!("expected version {want}, found nothing")),
        },
        Precondition::Fence { shard, token } => {
            if fence_holds(conn, shard, *token, now)? {
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
