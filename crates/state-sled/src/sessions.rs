//! [`SessionStore`] on sled: a tree of sessions beside the lease slots; a slot taken in a
//! session names it and lives exactly as long as it, so a keepalive rewrites one entry.

use crate::blocking::{run, Cost};
use crate::commit::abort;
use crate::database::Database;
use crate::encoding::{decode_lease, decode_session, encode_lease, encode_session, SessionRow};
use crate::errors::{from_sled, from_transaction};
use crate::leases::{grant, TxResult};
use crate::registry::Shared;
use async_trait::async_trait;
use berth_core::{
    expiry_after, session_expired, session_not_found, validate_lease_name, validate_lease_request,
    Claimant, Durability, Error, IdGenerator, Lease, OpenOptions, Result, Session, SessionId,
    SessionStore, SharedClock, Timestamp,
};
use sled::transaction::{Transactional, TransactionalTree};
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// The sled backend's [`SessionStore`].
pub struct SledSessions {
    db: Arc<Shared>,
    clock: SharedClock,
    ids: Arc<dyn IdGenerator>,
    durability: Durability,
}

impl SledSessions {
    pub(crate) fn new(db: Arc<Shared>, options: &OpenOptions) -> Self {
        SledSessions {
            db,
            clock: options.clock.clone(),
            ids: options.ids.clone(),
            durability: options.durability,
        }
    }

    /// Runs a write and makes it durable before returning.
    async fn write<T, F>(&self, cost: Cost, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Database) -> Result<T> + Send + 'static,
    {
        let db = self.db.clone();
        let durability = self.durability;
        run(cost, move || {
            let out = f(&db)?;
            db.sync(durability)?;
            Ok(out)
        })
        .await
    }
}

fn session(id: SessionId, row: &SessionRow) -> Session {
    Session {
        id,
        owner: row.owner.clone(),
        ttl: Duration::from_millis(u64::try_from(row.ttl_ms).unwrap_or(0)),
        expires_at: row.expires_at,
    }
}

fn get(tx: &TransactionalTree, id: SessionId) -> TxResult<Option<SessionRow>> {
    match tx.get(id.0.as_bytes())? {
        Some(bytes) => Ok(Some(decode_session(&bytes).map_err(abort)?)),
        None => Ok(None),
    }
}

/// The session `id` if it is live at `now`; a typed error otherwise.
fn live_row(tx: &TransactionalTree, id: SessionId, now: Timestamp) -> TxResult<SessionRow> {
    match get(tx, id)? {
        None => Err(abort(session_not_found(id))),
        Some(r) if r.expires_at <= now => Err(abort(session_expired(id))),
        Some(r) => Ok(r),
    }
}

/// Shards of every slot held by session `id` (a scan: a transaction cannot iterate).
fn shards_of(db: &Database, id: SessionId) -> Result<Vec<(String, berth_core::LeaseSlot)>> {
    let mut out = Vec::new();
    for entry in db.leases.iter() {
        let (k, v) = entry.map_err(from_sled)?;
        let slot = decode_lease(&v)?;
        if slot.session == Some(id) && slot.owner.is_some() {
            out.push((crate::encoding::shard_name(&k)?, slot));
        }
    }
    Ok(out)
}

/// Clears those of `shards` that session `id` holds, inside a transaction.
fn release_in<'a>(
    leases: &TransactionalTree,
    id: SessionId,
    shards: impl Iterator<Item = &'a String>,
) -> TxResult<()> {
    for shard in shards {
        if let Some(mut slot) = crate::leases::slot(leases, shard)? {
            if slot.session == Some(id) {
                slot.release();
                leases.insert(shard.as_bytes(), encode_lease(&slot))?;
            }
        }
    }
    Ok(())
}

#[async_trait]
impl SessionStore for SledSessions {
    async fn open(&self, owner: &str, ttl: Duration) -> Result<Session> {
        validate_lease_name("session owner", owner)?;
        let expires_at = expiry_after(self.clock.now(), ttl)?;
        let ttl_ms = berth_core::validate_ttl(ttl)?;
        let id = SessionId(self.ids.next_id());
        let row = SessionRow {
            owner: owner.to_owned(),
            ttl_ms,
            expires_at,
        };
        let out = session(id, &row);
        self.write(Cost::Large, move |db| {
            db.sessions
                .insert(id.0.as_bytes(), encode_session(&row))
                .map_err(from_sled)
                .map(drop)
        })
        .await?;
        Ok(out)
    }

    async fn keepalive(&self, id: SessionId) -> Result<Session> {
        let now = self.clock.now();
        self.write(Cost::Large, move |db| {
            db.sessions
                .transaction(|tx| {
                    let mut row = live_row(tx, id, now)?;
                    let ttl = Duration::from_millis(u64::try_from(row.ttl_ms).unwrap_or(0));
                    row.expires_at = expiry_after(now, ttl).map_err(abort)?;
                    tx.insert(id.0.as_bytes(), encode_session(&row))?;
                    Ok(session(id, &row))
                })
                .map_err(from_transaction)
        })
        .await
    }

    async fn close(&self, id: SessionId) -> Result<()> {
        self.write(Cost::Large, move |db| {
            let held = shards_of(db, id)?;
            (&db.leases, &db.sessions)
                .transaction(|(leases, sessions)| {
                    if sessions.remove(id.0.as_bytes())?.is_none() {
                        return Err(abort(session_not_found(id)));
                    }
                    release_in(leases, id, held.iter().map(|(shard, _)| shard))
                })
                .map_err(from_transaction)
        })
        .await
    }

    async fn acquire(&self, id: SessionId, shards: &[String]) -> Result<Vec<Lease>> {
        let now = self.clock.now();
        let shards = shards.to_vec();
        self.write(Cost::Large, move |db| {
            (&db.leases, &db.sessions)
                .transaction(|(leases, sessions)| {
                    let row = live_row(sessions, id, now)?;
                    validate_lease_request(&row.owner, &shards).map_err(abort)?;
                    let claimant = Claimant::Session {
                        id,
                        owner: &row.owner,
                        expires_at: row.expires_at,
                    };
                    grant(leases, sessions, &claimant, &shards, now)
                })
                .map_err(from_transaction)
        })
        .await
    }

    async fn release(&self, id: SessionId, shards: &[String]) -> Result<()> {
        let shards = shards.to_vec();
        self.write(Cost::Large, move |db| {
            (&db.leases, &db.sessions)
                .transaction(|(leases, sessions)| {
                    let row = get(sessions, id)?.ok_or_else(|| abort(session_not_found(id)))?;
                    validate_lease_request(&row.owner, &shards).map_err(abort)?;
                    release_in(leases, id, shards.iter())
                })
                .map_err(from_transaction)
        })
        .await
    }

    async fn held(&self, id: SessionId) -> Result<Vec<Lease>> {
        let now = self.clock.now();
        let db = self.db.clone();
        run(Cost::Large, move || {
            let bytes = db
                .sessions
                .get(id.0.as_bytes())
                .map_err(from_sled)?
                .ok_or_else(|| session_not_found(id))?;
            let row = decode_session(&bytes)?;
            Ok(shards_of(&db, id)?
                .iter()
                .filter_map(|(shard, slot)| slot.lease(shard, now, Some(row.expires_at)))
                .collect())
        })
        .await
    }

    async fn live(&self) -> Result<Vec<Session>> {
        let now = self.clock.now();
        let db = self.db.clone();
        run(Cost::Large, move || {
            let mut out = Vec::new();
            for entry in db.sessions.iter() {
                let (k, v) = entry.map_err(from_sled)?;
                let id = Uuid::from_slice(&k)
                    .map_err(|_| Error::Corrupt("a session key is not a UUID".into()))?;
                let row = decode_session(&v)?;
                if row.expires_at > now {
                    out.push(session(SessionId(id), &row));
                }
            }
            out.sort_by(|a, b| (&a.owner, a.id).cmp(&(&b.owner, b.id)));
            Ok(out)
        })
        .await
    }
}
