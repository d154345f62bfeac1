//! Sessions: an owner's liveness, kept with one write whatever it holds (etcd leases,
//! Chubby/ZooKeeper sessions).
//!
//! An owner opens a [`Session`] with a TTL and keeps it alive with
//! [`SessionStore::keepalive`], one write whose cost does not depend on how many leases the
//! session holds: a lease taken in a session lives exactly as long as the session. When the
//! session expires everything it held is free for others at once; [`SessionStore::close`]
//! releases all of it in one commit. Expiry is final: a lapsed session cannot be kept alive
//! again; its owner opens a new session and acquires again, getting new fencing tokens for
//! whatever nobody else took.

use crate::error::{Error, Result};
use crate::lease::Lease;
use crate::time::Timestamp;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;
use uuid::Uuid;

/// A session's id, made by the store's id generator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SessionId(pub Uuid);

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl FromStr for SessionId {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Uuid::parse_str(s)
            .map(SessionId)
            .map_err(|_| Error::invalid("session id", "must be a UUID"))
    }
}

/// An open session as the store last saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// Its id.
    pub id: SessionId,
    /// The owner it acts for (a runner address, a process name); leases report it as `owner`.
    pub owner: String,
    /// How long it lives after each keepalive.
    pub ttl: Duration,
    /// When it (and every lease it holds) lapses unless kept alive.
    pub expires_at: Timestamp,
}

/// Checks a lease or session TTL: at least 1 ms, and a whole number of milliseconds that a
/// timestamp can hold. Returns it in milliseconds.
pub fn validate_ttl(ttl: Duration) -> Result<i64> {
    let millis = i64::try_from(ttl.as_millis())
        .map_err(|_| Error::invalid("ttl", "is beyond what a timestamp can hold"))?;
    if millis <= 0 {
        return Err(Error::invalid("ttl", "must be at least 1 ms"));
    }
    Ok(millis)
}

/// When something granted at `now` for `ttl` lapses. An expiry a timestamp cannot hold is an
/// error, never a saturated value: a grant whose expiry equals `now` would be free again at
/// once and granted twice.
pub fn expiry_after(now: Timestamp, ttl: Duration) -> Result<Timestamp> {
    let millis = validate_ttl(ttl)?;
    now.millis()
        .checked_add(millis)
        .map(Timestamp::from_millis)
        .ok_or_else(|| {
            Error::invalid(
                "ttl",
                format!("expiry {now} + {millis} ms is beyond what a timestamp can hold"),
            )
        })
}

/// Sessions and the leases attached to them.
///
/// Object safe; reached through [`Store::sessions`](crate::Store::sessions). Every backend
/// judges expiry by one clock (the server's on MongoDB, the injected clock elsewhere), the
/// same one fenced batches are checked with.
///
/// ```
/// # async fn demo(store: berth_core::Store) -> berth_core::Result<()> {
/// use std::time::Duration;
/// let sessions = store.sessions();
/// let me = sessions.open("10.0.0.1:34431", Duration::from_secs(35)).await?;
/// let held = sessions.acquire(me.id, &["default:1".into(), "default:2".into()]).await?;
/// sessions.keepalive(me.id).await?; // one write, however many shards are held
/// sessions.close(me.id).await?;     // releases both in one commit
/// # let _ = held; Ok(()) }
/// ```
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Opens a session for `owner` that lapses `ttl` from now unless kept alive.
    async fn open(&self, owner: &str, ttl: Duration) -> Result<Session>;

    /// Extends the session by its TTL from now, with one write. A lapsed session fails with
    /// [`SessionExpired`](crate::Error::SessionExpired); an unknown or closed one with
    /// [`NotFound`](crate::Error::NotFound).
    async fn keepalive(&self, id: SessionId) -> Result<Session>;

    /// Closes the session and releases every lease it holds, in one commit.
    /// [`NotFound`](crate::Error::NotFound) if it is unknown or already closed.
    async fn close(&self, id: SessionId) -> Result<()>;

    /// Takes every shard of `shards` that is free, lapsed or already this session's, attaches
    /// it to the session, and returns exactly those it now holds (partial success is normal).
    /// Fails like [`keepalive`](Self::keepalive) if the session is not live.
    async fn acquire(&self, id: SessionId, shards: &[String]) -> Result<Vec<Lease>>;

    /// Releases those of `shards` the session holds.
    async fn release(&self, id: SessionId, shards: &[String]) -> Result<()>;

    /// Every lease the session holds, ordered by shard (empty once it lapsed).
    async fn held(&self, id: SessionId) -> Result<Vec<Lease>>;

    /// Every live session, ordered by owner then id.
    async fn live(&self) -> Result<Vec<Session>>;
}

/// The error of an operation on a session that is not live.
pub fn session_expired(id: SessionId) -> Error {
    Error::SessionExpired {
        session: id.to_string(),
    }
}

/// The error of an operation on a session that does not exist.
pub fn session_not_found(id: SessionId) -> Error {
    Error::NotFound(format!("session {id}"))
}

/// What a [`Store`](crate::Store) built without sessions answers: `Unsupported`.
pub(crate) struct NoSessions;

fn unsupported<T>() -> Result<T> {
    Err(Error::Unsupported("this backend has no sessions".into()))
}

#[async_trait]
impl SessionStore for NoSessions {
    async fn open(&self, _: &str, _: Duration) -> Result<Session> {
        unsupported()
    }
    async fn keepalive(&self, _: SessionId) -> Result<Session> {
        unsupported()
    }
    async fn close(&self, _: SessionId) -> Result<()> {
        unsupported()
    }
    async fn acquire(&self, _: SessionId, _: &[String]) -> Result<Vec<Lease>> {
        unsupported()
    }
    async fn release(&self, _: SessionId, _: &[String]) -> Result<()> {
        unsupported()
    }
    async fn held(&self, _: SessionId) -> Result<Vec<Lease>> {
        unsupported()
    }
    async fn live(&self) -> Result<Vec<Session>> {
        unsupported()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn ttl_and_expiry_at_the_edges() {
        assert_eq!(
            validate_ttl(Duration::ZERO).unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
        assert_eq!(
            validate_ttl(Duration::from_micros(999)).unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
        assert_eq!(
            validate_ttl(Duration::MAX).unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
        assert_eq!(validate_ttl(Duration::from_secs(35)).unwrap(), 35_000);
        let edge = Timestamp::from_millis(i64::MAX);
        assert_eq!(
            expiry_after(edge, Duration::from_secs(30))
                .unwrap_err()
                .kind(),
            ErrorKind::InvalidInput
        );
        let near = Timestamp::from_millis(i64::MAX - 30_000);
        assert_eq!(
            expiry_after(near, Duration::from_secs(30)).unwrap(),
            Timestamp::from_millis(i64::MAX)
        );
        assert!("not-a-uuid".parse::<SessionId>().is_err());
    }
}
