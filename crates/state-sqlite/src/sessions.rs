//! [`SessionStore`] in SQL: a `sessions` row per session; lease rows name their session and
//! live exactly as long as it (see `lease_end!`), so a keepalive updates one row.

use crate::db::Db;
use crate::leases::{granted, lease_end, shard_list};
use crate::sql_error::SqlResult;
use crate::values::{text_of, timestamp, to_u64};
use async_trait::async_trait;
use berth_core::{
    expiry_after, session_expired, session_not_found, validate_lease_name, validate_lease_request,
    validate_ttl, Error, IdGenerator, Lease, Result, Session, SessionId, SessionStore, Timestamp,
};
use rusqlite::{params, Connection, OptionalExtension};
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;
use uuid::Uuid;

/// The SQLite backend's [`SessionStore`].
pub struct SqliteSessions {
    db: Arc<Db>,
    ids: Arc<dyn IdGenerator>,
}

impl SqliteSessions {
    pub(crate) fn new(db: Arc<Db>, ids: Arc<dyn IdGenerator>) -> Self {
        SqliteSessions { db, ids }
    }
}

/// A session-held slot is taken when free, lapsed (its own expiry or its session's), or
/// already this session's; only a new grant takes the next token.
const ACQUIRE: &str = concat!(
    "INSERT INTO leases (shard, owner, token, expires_at, session)
SELECT value, ?1, 1, ?2, ?5 FROM json_each(?3) WHERE true
ON CONFLICT (shard) DO UPDATE SET
    token = CASE WHEN leases.session = ?5 AND leases.owner IS NOT NULL
                 THEN leases.token ELSE leases.token + 1 END,
    owner = excluded.owner,
    expires_at = excluded.expires_at,
    session = ?5
WHERE (leases.session = ?5 AND leases.owner IS NOT NULL) OR leases.owner IS NULL OR ",
    lease_end!(),
    " <= ?4
RETURNING shard, token"
);

/// What is stored of a session.
struct Row {
    owner: String,
    ttl: i64,
    expires_at: i64,
}

fn ttl_of(millis: i64) -> Duration {
    Duration::from_millis(u64::try_from(millis).unwrap_or(0))
}

fn session(id: SessionId, row: &Row) -> Session {
    Session {
        id,
        owner: row.owner.clone(),
        ttl: ttl_of(row.ttl),
        expires_at: timestamp(row.expires_at),
    }
}

fn row(conn: &Connection, id: SessionId) -> Result<Option<Row>> {
    conn.prepare_cached("SELECT owner, ttl, expires_at FROM sessions WHERE id = ?1")
        .and_then(|mut s| {
            s.query_row(params![id.0.as_bytes()], |r| {
                Ok(Row {
                    owner: r.get(0)?,
                    ttl: r.get(1)?,
                    expires_at: r.get(2)?,
                })
            })
            .optional()
        })
        .sql()
}

/// The session `id` if it is live at `now`; a typed error otherwise.
fn live_row(conn: &Connection, id: SessionId, now: Timestamp) -> Result<Row> {
    match row(conn, id)? {
        None => Err(session_not_found(id)),
        Some(r) if r.expires_at <= now.millis() => Err(session_expired(id)),
        Some(r) => Ok(r),
    }
}

fn keepalive(conn: &Connection, id: SessionId, now: Timestamp) -> Result<Session> {
    // The one write of the happy path; the guard on `ttl` keeps `now + ttl` from overflowing.
    let updated: Option<Row> = conn
        .prepare_cached(
            "UPDATE sessions SET expires_at = ?2 + ttl \
             WHERE id = ?1 AND expires_at > ?2 AND ttl <= 9223372036854775807 - ?2 \
             RETURNING owner, ttl, expires_at",
        )
        .and_then(|mut s| {
            s.query_row(params![id.0.as_bytes(), now.millis()], |r| {
                Ok(Row {
                    owner: r.get(0)?,
                    ttl: r.get(1)?,
                    expires_at: r.get(2)?,
                })
            })
            .optional()
        })
        .sql()?;
    if let Some(r) = updated {
        return Ok(session(id, &r));
    }
    // Why not: unknown, lapsed, or an expiry a timestamp cannot hold.
    let r = live_row(conn, id, now)?;
    expiry_after(now, ttl_of(r.ttl))?;
    Err(Error::backend_msg(
        format!("keepalive of session {id} changed nothing"),
        true,
    ))
}

#[async_trait]
impl SessionStore for SqliteSessions {
    async fn open(&self, owner: &str, ttl: Duration) -> Result<Session> {
        validate_lease_name("session owner", owner)?;
        let ttl_ms = validate_ttl(ttl)?;
        let id = SessionId(self.ids.next_id());
        let owner = owner.to_owned();
        let clock = self.db.clock.clone();
        let span = tracing::debug_span!("sqlite.session_open", owner = %owner);
        self.db
            .writer
            .run(move |conn| {
                let expires_at = expiry_after(clock.now(), ttl)?;
                conn.prepare_cached(
                    "INSERT INTO sessions (id, owner, ttl, expires_at) VALUES (?1, ?2, ?3, ?4)",
                )
                .and_then(|mut s| {
                    s.execute(params![id.0.as_bytes(), owner, ttl_ms, expires_at.millis()])
                })
                .sql()?;
                Ok(Session {
                    id,
                    owner,
                    ttl,
                    expires_at,
                })
            })
            .instrument(span)
            .await
    }

    async fn keepalive(&self, id: SessionId) -> Result<Session> {
        let clock = self.db.clock.clone();
        let span = tracing::debug_span!("sqlite.keepalive", session = %id);
        self.db
            .writer
            .run(move |conn| keepalive(conn, id, clock.now()))
            .instrument(span)
            .await
    }

    async fn close(&self, id: SessionId) -> Result<()> {
        let span = tracing::debug_span!("sqlite.session_close", session = %id);
        self.db
            .writer
            .run(move |conn| {
                let gone = conn
                    .prepare_cached("DELETE FROM sessions WHERE id = ?1")
                    .and_then(|mut s| s.execute(params![id.0.as_bytes()]))
                    .sql()?;
                if gone == 0 {
                    return Err(session_not_found(id));
                }
                // Deleting the row already freed every lease; clearing them keeps rows tidy.
                conn.prepare_cached(
                    "UPDATE leases SET owner = NULL, session = NULL WHERE session = ?1",
                )
                .and_then(|mut s| s.execute(params![id.0.as_bytes()]))
                .sql()
                .map(|_| ())
            })
            .instrument(span)
            .await
    }

    async fn acquire(&self, id: SessionId, shards: &[String]) -> Result<Vec<Lease>> {
        let list = shard_list(shards)?;
        let shards = shards.to_vec();
        let clock = self.db.clock.clone();
        let span =
            tracing::debug_span!("sqlite.session_acquire", session = %id, shards = shards.len());
        self.db
            .writer
            .run(move |conn| {
                let now = clock.now();
                let r = live_row(conn, id, now)?;
                validate_lease_request(&r.owner, &shards)?;
                if shards.is_empty() {
                    return Ok(Vec::new());
                }
                let sid: &[u8] = id.0.as_bytes();
                let p: [&dyn rusqlite::ToSql; 5] =
                    [&r.owner, &r.expires_at, &list, &now.millis(), &sid];
                granted(
                    conn,
                    ACQUIRE,
                    &p,
                    &r.owner,
                    &shards,
                    timestamp(r.expires_at),
                )
            })
            .instrument(span)
            .await
    }

    async fn release(&self, id: SessionId, shards: &[String]) -> Result<()> {
        let list = shard_list(shards)?;
        let shards = shards.to_vec();
        let span = tracing::debug_span!("sqlite.session_release", session = %id);
        self.db
            .writer
            .run(move |conn| {
                let r = row(conn, id)?.ok_or_else(|| session_not_found(id))?;
                validate_lease_request(&r.owner, &shards)?;
                conn.prepare_cached(
                    "UPDATE leases SET owner = NULL, session = NULL \
                     WHERE session = ?1 AND shard IN (SELECT value FROM json_each(?2))",
                )
                .and_then(|mut s| s.execute(params![id.0.as_bytes(), list]))
                .sql()
                .map(|_| ())
            })
            .instrument(span)
            .await
    }

    async fn held(&self, id: SessionId) -> Result<Vec<Lease>> {
        let now = self.db.clock.now();
        let span = tracing::trace_span!("sqlite.session_held", session = %id);
        span.in_scope(|| {
            self.db.readers.read(|conn| {
                let r = row(conn, id)?.ok_or_else(|| session_not_found(id))?;
                if r.expires_at <= now.millis() {
                    return Ok(Vec::new());
                }
                let mut stmt = conn
                    .prepare_cached(
                        "SELECT shard, token FROM leases \
                         WHERE session = ?1 AND owner IS NOT NULL ORDER BY shard",
                    )
                    .sql()?;
                let mut rows = stmt.query(params![id.0.as_bytes()]).sql()?;
                let mut out = Vec::new();
                while let Some(row) = rows.next().sql()? {
                    out.push(Lease {
                        shard: text_of(row.get_ref(0).sql()?, "shard id")?,
                        owner: r.owner.clone(),
                        token: to_u64("token", row.get(1).sql()?)?,
                        expires_at: timestamp(r.expires_at),
                    });
                }
                Ok(out)
            })
        })
    }

    async fn live(&self) -> Result<Vec<Session>> {
        let now = self.db.clock.now();
        let span = tracing::trace_span!("sqlite.sessions_live");
        span.in_scope(|| {
            self.db.readers.read(|conn| {
                let mut stmt = conn
                    .prepare_cached(
                        "SELECT id, owner, ttl, expires_at FROM sessions \
                         WHERE expires_at > ?1 ORDER BY owner, id",
                    )
                    .sql()?;
                let mut rows = stmt.query(params![now.millis()]).sql()?;
                let mut out = Vec::new();
                while let Some(r) = rows.next().sql()? {
                    let bytes: Vec<u8> = r.get(0).sql()?;
                    let id = Uuid::from_slice(&bytes)
                        .map_err(|_| Error::Corrupt("a session id is not a UUID".into()))?;
                    let row = Row {
                        owner: r.get(1).sql()?,
                        ttl: r.get(2).sql()?,
                        expires_at: r.get(3).sql()?,
                    };
                    out.push(session(SessionId(id), &row));
                }
                Ok(out)
            })
        })
    }
}
