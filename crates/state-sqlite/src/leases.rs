//! [`LeaseStore`] in SQL: one upsert grants every free, lapsed or own shard at once.
//!
//! Lease rows are never deleted (release only clears the owner), so a shard's token only
//! grows. Expiry is judged with the store's clock: `expires_at > now` means live.

use crate::db::Db;
use crate::runners;
use crate::sql_error::SqlResult;
use crate::values::{json_text, text_of, timestamp, to_u64};
use async_trait::async_trait;
use berth_core::{
    expiry_after, validate_lease_name, validate_lease_request, Lease, LeaseStore, MachineId,
    Result, RunnerEntry, Timestamp,
};
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;

/// The SQLite backend's [`LeaseStore`] (runner registry and shard leases).
pub struct SqliteLeases {
    db: Arc<Db>,
}

impl SqliteLeases {
    pub(crate) fn new(db: Arc<Db>) -> Self {
        SqliteLeases { db }
    }
}

pub(crate) fn shard_list(shards: &[String]) -> Result<String> {
    json_text(&serde_json::Value::from(shards.to_vec()))
}

/// When the holder's claim of a `leases` row ends: its own expiry, or its session's (the
/// smallest integer once the session is gone). `berth_core::LeaseSlot::ends_at` in SQL.
macro_rules! lease_end {
    () => {
        "(CASE WHEN leases.session IS NULL THEN leases.expires_at ELSE COALESCE(\
         (SELECT s.expires_at FROM sessions s WHERE s.id = leases.session), \
         -9223372036854775808) END)"
    };
}
pub(crate) use lease_end;

/// Grants or extends in one statement: a free, lapsed or own row is taken; a new grant
/// takes the next token, an extension of a live own lease keeps it. A row held by a session
/// is someone else's, whatever its owner name.
const ACQUIRE: &str = concat!(
    "INSERT INTO leases (shard, owner, token, expires_at, session)
SELECT value, ?1, 1, ?2, NULL FROM json_each(?3) WHERE true
ON CONFLICT (shard) DO UPDATE SET
    token = CASE WHEN leases.owner = excluded.owner AND leases.session IS NULL
                      AND leases.expires_at > ?4
                 THEN leases.token ELSE leases.token + 1 END,
    owner = excluded.owner,
    expires_at = excluded.expires_at,
    session = NULL
WHERE leases.owner IS NULL OR (leases.owner = excluded.owner AND leases.session IS NULL)
    OR ",
    lease_end!(),
    " <= ?4
RETURNING shard, token"
);

const REFRESH: &str = "
UPDATE leases SET expires_at = ?1
WHERE owner = ?2 AND session IS NULL AND expires_at > ?3
    AND shard IN (SELECT value FROM json_each(?4))
RETURNING shard, token";

/// Runs an `ACQUIRE`/`REFRESH`-shaped statement and returns the leases in request order.
pub(crate) fn granted(
    conn: &Connection,
    sql: &str,
    params: &[&dyn rusqlite::ToSql],
    owner: &str,
    shards: &[String],
    expires_at: Timestamp,
) -> Result<Vec<Lease>> {
    let mut stmt = conn.prepare_cached(sql).sql()?;
    let mut rows = stmt.query(params).sql()?;
    let mut tokens: HashMap<String, u64> = HashMap::new();
    while let Some(row) = rows.next().sql()? {
        let shard = text_of(row.get_ref(0).sql()?, "shard id")?;
        tokens.insert(shard, to_u64("token", row.get(1).sql()?)?);
    }
    let mut out = Vec::with_capacity(tokens.len());
    for shard in shards {
        if let Some(token) = tokens.remove(shard) {
            out.push(Lease {
                shard: shard.clone(),
                owner: owner.to_owned(),
                token,
                expires_at,
            });
        }
    }
    Ok(out)
}

#[async_trait]
impl LeaseStore for SqliteLeases {
    async fn register(&self, address: &str, runner: &str, healthy: bool) -> Result<MachineId> {
        validate_lease_name("runner address", address)?;
        let (address, runner) = (address.to_owned(), runner.to_owned());
        let span = tracing::debug_span!("sqlite.register", address = %address);
        self.db
            .writer
            .run(move |conn| runners::register(conn, &address, &runner, healthy))
            .instrument(span)
            .await
    }

    async fn unregister(&self, address: &str) -> Result<()> {
        validate_lease_name("runner address", address)?;
        let address = address.to_owned();
        let span = tracing::debug_span!("sqlite.unregister", address = %address);
        self.db
            .writer
            .run(move |conn| runners::unregister(conn, &address))
            .instrument(span)
            .await
    }

    async fn runners(&self) -> Result<Vec<RunnerEntry>> {
        let span = tracing::trace_span!("sqlite.runners");
        span.in_scope(|| self.db.readers.read(runners::all))
    }

    async fn set_health(&self, address: &str, healthy: bool) -> Result<()> {
        validate_lease_name("runner address", address)?;
        let address = address.to_owned();
        let span = tracing::debug_span!("sqlite.set_health", address = %address, healthy);
        self.db
            .writer
            .run(move |conn| runners::set_health(conn, &address, healthy))
            .instrument(span)
            .await
    }

    async fn acquire(&self, owner: &str, shards: &[String], ttl: Duration) -> Result<Vec<Lease>> {
        validate_lease_request(owner, shards)?;
        if shards.is_empty() {
            return Ok(Vec::new());
        }
        let list = shard_list(shards)?;
        let (owner, shards) = (owner.to_owned(), shards.to_vec());
        let clock = self.db.clock.clone();
        let span = tracing::debug_span!("sqlite.acquire", owner = %owner, shards = shards.len());
        self.db
            .writer
            .run(move |conn| {
                let now = clock.now();
                let expires_at = expiry_after(now, ttl)?;
                let p: [&dyn rusqlite::ToSql; 4] =
                    [&owner, &expires_at.millis(), &list, &now.millis()];
                granted(conn, ACQUIRE, &p, &owner, &shards, expires_at)
            })
            .instrument(span)
            .await
    }

    async fn refresh(&self, owner: &str, shards: &[String], ttl: Duration) -> Result<Vec<Lease>> {
        validate_lease_request(owner, shards)?;
        if shards.is_empty() {
            return Ok(Vec::new());
        }
        let list = shard_list(shards)?;
        let (owner, shards) = (owner.to_owned(), shards.to_vec());
        let clock = self.db.clock.clone();
        let span = tracing::debug_span!("sqlite.refresh", owner = %owner, shards = shards.len());
        self.db
            .writer
            .run(move |conn| {
                let now = clock.now();
                let expires_at = expiry_after(now, ttl)?;
                let p: [&dyn rusqlite::ToSql; 4] =
                    [&expires_at.millis(), &owner, &now.millis(), &list];
                granted(conn, REFRESH, &p, &owner, &shards, expires_at)
            })
            .instrument(span)
            .await
    }

    async fn release(&self, owner: &str, shard: &str) -> Result<()> {
        validate_lease_name("runner address", owner)?;
        validate_lease_name("shard id", shard)?;
        let (owner, shard) = (owner.to_owned(), shard.to_owned());
        let span = tracing::debug_span!("sqlite.release", owner = %owner, shard = %shard);
        self.db
            .writer
            .run(move |conn| {
                conn.prepare_cached(
                    "UPDATE leases SET owner = NULL \
                     WHERE shard = ?1 AND owner = ?2 AND session IS NULL",
                )
                .and_then(|mut s| s.execute(params![shard, owner]))
                .sql()
                .map(|_| ())
            })
            .instrument(span)
            .await
    }

    async fn release_all(&self, owner: &str) -> Result<()> {
        validate_lease_name("runner address", owner)?;
        let owner = owner.to_owned();
        let span = tracing::debug_span!("sqlite.release_all", owner = %owner);
        self.db
            .writer
            .run(move |conn| {
                conn.prepare_cached(
                    "UPDATE leases SET owner = NULL WHERE owner = ?1 AND session IS NULL",
                )
                .and_then(|mut s| s.execute(params![owner]))
                .sql()
                .map(|_| ())
            })
            .instrument(span)
            .await
    }

    async fn lease(&self, shard: &str) -> Result<Option<Lease>> {
        validate_lease_name("shard id", shard)?;
        let now = self.db.clock.now();
        let span = tracing::trace_span!("sqlite.lease", shard);
        span.in_scope(|| {
            self.db.readers.read(|conn| {
                let row: Option<(String, i64, i64)> = conn
                    .prepare_cached(concat!(
                        "SELECT owner, token, ",
                        lease_end!(),
                        " AS ends FROM leases WHERE shard = ?1 AND owner IS NOT NULL AND ends > ?2"
                    ))
                    .and_then(|mut s| {
                        s.query_row(params![shard, now.millis()], |r| {
                            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                        })
                        .optional()
                    })
                    .sql()?;
                row.map(|(owner, token, expires_at)| {
                    Ok(Lease {
                        shard: shard.to_owned(),
                        owner,
                        token: to_u64("token", token)?,
                        expires_at: timestamp(expires_at),
                    })
                })
                .transpose()
            })
        })
    }

    async fn held_by(&self, owner: &str) -> Result<Vec<Lease>> {
        validate_lease_name("runner address", owner)?;
        let now = self.db.clock.now();
        let span = tracing::trace_span!("sqlite.held_by", owner);
        span.in_scope(|| {
            self.db.readers.read(|conn| {
                let mut stmt = conn
                    .prepare_cached(concat!(
                        "SELECT shard, token, ",
                        lease_end!(),
                        " AS ends FROM leases WHERE owner = ?1 AND ends > ?2 ORDER BY shard"
                    ))
                    .sql()?;
                let mut rows = stmt.query(params![owner, now.millis()]).sql()?;
                let mut out = Vec::new();
                while let Some(row) = rows.next().sql()? {
                    out.push(Lease {
                        shard: text_of(row.get_ref(0).sql()?, "shard id")?,
                        owner: owner.to_owned(),
                        token: to_u64("token", row.get(1).sql()?)?,
                        expires_at: timestamp(row.get(2).sql()?),
                    });
                }
                Ok(out)
            })
        })
    }
}
