//! [`LeaseStore`] on sled: shard leases with fencing tokens, and the runner registry.
//!
//! A shard's entry is never deleted: release only clears its owner, so the token of the next
//! grant continues from the last one and never goes back. Expiry is judged with the injected
//! clock (`expires_at > now` is live), the same clock fenced batches are checked with.

use crate::blocking::{run, Cost, INLINE_KEYS};
use crate::commit::abort;
use crate::database::Database;
use crate::encoding::{decode_lease, decode_session, encode_lease, shard_name};
use crate::errors::{from_sled, from_transaction};
use crate::registry::Shared;
use crate::runners;
use async_trait::async_trait;
use berth_core::{
    expiry_after, validate_lease_name, validate_lease_request, Claimant, Durability, Error, Lease,
    LeaseSlot, LeaseStore, MachineId, Result, RunnerEntry, SharedClock, Timestamp,
};
use sled::transaction::{ConflictableTransactionError, Transactional, TransactionalTree};

/// What a transaction body returns: an abort carries berth's own error.
pub(crate) type TxResult<T> = std::result::Result<T, ConflictableTransactionError<Error>>;
use std::sync::Arc;
use std::time::Duration;

/// The sled backend's [`LeaseStore`].
pub struct SledLeases {
    db: Arc<Shared>,
    clock: SharedClock,
    durability: Durability,
}

impl SledLeases {
    pub(crate) fn new(db: Arc<Shared>, clock: SharedClock, durability: Durability) -> Self {
        SledLeases {
            db,
            clock,
            durability,
        }
    }

    /// Runs a write of `items` entries and makes it durable before returning.
    async fn write<T, F>(&self, items: usize, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Database) -> Result<T> + Send + 'static,
    {
        let db = self.db.clone();
        let durability = self.durability;
        let cost = Cost::small_if(durability == Durability::Relaxed && items <= INLINE_KEYS);
        run(cost, move || {
            let out = f(&db)?;
            db.sync(durability)?;
            Ok(out)
        })
        .await
    }

    /// Runs a read over an unbounded tree.
    async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Database) -> Result<T> + Send + 'static,
    {
        let db = self.db.clone();
        run(Cost::Large, move || f(&db)).await
    }
}

/// Reads a slot inside a transaction.
pub(crate) fn slot(tx: &TransactionalTree, shard: &str) -> TxResult<Option<LeaseSlot>> {
    match tx.get(shard.as_bytes())? {
        Some(bytes) => Ok(Some(decode_lease(&bytes).map_err(abort)?)),
        None => Ok(None),
    }
}

/// The expiry of `slot`'s session, if it has one that still exists (inside a transaction).
pub(crate) fn session_expiry(
    sessions: &TransactionalTree,
    slot: &LeaseSlot,
) -> TxResult<Option<Timestamp>> {
    let Some(id) = slot.session else {
        return Ok(None);
    };
    match sessions.get(id.0.as_bytes())? {
        Some(bytes) => Ok(Some(decode_session(&bytes).map_err(abort)?.expires_at)),
        None => Ok(None),
    }
}

/// The expiry of `slot`'s session, outside a transaction.
fn session_expiry_now(db: &Database, slot: &LeaseSlot) -> Result<Option<Timestamp>> {
    let Some(id) = slot.session else {
        return Ok(None);
    };
    match db.sessions.get(id.0.as_bytes()).map_err(from_sled)? {
        Some(bytes) => Ok(Some(decode_session(&bytes)?.expires_at)),
        None => Ok(None),
    }
}

/// Applies an acquire of `shards` by `claimant` inside a transaction over the leases and
/// sessions trees; returns the leases it now holds, in request order, each shard once.
pub(crate) fn grant(
    leases: &TransactionalTree,
    sessions: &TransactionalTree,
    claimant: &Claimant<'_>,
    shards: &[String],
    now: Timestamp,
) -> TxResult<Vec<Lease>> {
    let mine = match claimant {
        Claimant::Session { expires_at, .. } => Some(*expires_at),
        Claimant::Owner { .. } => None,
    };
    let mut out: Vec<Lease> = Vec::new();
    for shard in shards {
        if out.iter().any(|o| &o.shard == shard) {
            continue;
        }
        let mut s = slot(leases, shard)?.unwrap_or_default();
        let expiry = session_expiry(sessions, &s)?;
        if s.acquire(claimant, now, expiry).map_err(abort)? {
            leases.insert(shard.as_bytes(), encode_lease(&s))?;
            out.extend(s.lease(shard, now, mine));
        }
    }
    Ok(out)
}

/// Grants or extends `shards` for `owner` in one transaction; returns those now held.
fn acquire(
    db: &Database,
    owner: &str,
    shards: &[String],
    now: Timestamp,
    expires_at: Timestamp,
) -> Result<Vec<Lease>> {
    let claimant = Claimant::Owner { owner, expires_at };
    (&db.leases, &db.sessions)
        .transaction(|(leases, sessions)| grant(leases, sessions, &claimant, shards, now))
        .map_err(from_transaction)
}

/// Extends the shards `owner` still holds unexpired as its own leases; returns them.
fn refresh(
    db: &Database,
    owner: &str,
    shards: &[String],
    now: Timestamp,
    expires_at: Timestamp,
) -> Result<Vec<Lease>> {
    let claimant = Claimant::Owner { owner, expires_at };
    db.leases
        .transaction(|tx| {
            let mut out: Vec<Lease> = Vec::new();
            for shard in shards {
                let Some(mut s) = slot(tx, shard)? else {
                    continue;
                };
                if !s.is_held_by(&claimant)
                    || !s.is_live(now, None)
                    || out.iter().any(|o| &o.shard == shard)
                {
                    continue;
                }
                s.acquire(&claimant, now, None).map_err(abort)?;
                tx.insert(shard.as_bytes(), encode_lease(&s))?;
                out.extend(s.lease(shard, now, None));
            }
            Ok(out)
        })
        .map_err(from_transaction)
}

/// Clears each of `shards` that `owner` holds as its own lease (expired or not).
fn release(db: &Database, owner: &str, shards: &[String]) -> Result<()> {
    db.leases
        .transaction(|tx| {
            for shard in shards {
                if let Some(mut s) = slot(tx, shard)? {
                    if s.owner.as_deref() == Some(owner) && s.session.is_none() {
                        s.release();
                        tx.insert(shard.as_bytes(), encode_lease(&s))?;
                    }
                }
            }
            Ok(())
        })
        .map_err(from_transaction)
}

/// Every lease slot, ordered by shard, with `keep` applied.
fn slots(
    db: &Database,
    mut keep: impl FnMut(&LeaseSlot) -> bool,
) -> Result<Vec<(String, LeaseSlot)>> {
    let mut out = Vec::new();
    for entry in db.leases.iter() {
        let (k, v) = entry.map_err(from_sled)?;
        let s = decode_lease(&v)?;
        if keep(&s) {
            out.push((shard_name(&k)?, s));
        }
    }
    Ok(out)
}

#[async_trait]
impl LeaseStore for SledLeases {
    async fn register(&self, address: &str, runner: &str, healthy: bool) -> Result<MachineId> {
        validate_lease_name("runner address", address)?;
        let span = tracing::debug_span!("sled register", address);
        let (address, runner) = (address.to_owned(), runner.to_owned());
        self.write(1, move |db| {
            let _span = span.entered();
            runners::register(db, &address, &runner, healthy)
        })
        .await
    }

    async fn unregister(&self, address: &str) -> Result<()> {
        validate_lease_name("runner address", address)?;
        let span = tracing::debug_span!("sled unregister", address);
        let address = address.to_owned();
        self.write(1, move |db| {
            let _span = span.entered();
            runners::unregister(db, &address).map(drop)
        })
        .await
    }

    async fn runners(&self) -> Result<Vec<RunnerEntry>> {
        let span = tracing::trace_span!("sled runners");
        self.read(move |db| {
            let _span = span.entered();
            runners::runners(db)
        })
        .await
    }

    async fn set_health(&self, address: &str, healthy: bool) -> Result<()> {
        validate_lease_name("runner address", address)?;
        let span = tracing::debug_span!("sled set_health", address, healthy);
        let address = address.to_owned();
        self.write(1, move |db| {
            let _span = span.entered();
            runners::set_health(db, &address, healthy)
        })
        .await
    }

    async fn acquire(&self, owner: &str, shards: &[String], ttl: Duration) -> Result<Vec<Lease>> {
        validate_lease_request(owner, shards)?;
        let span = tracing::debug_span!("sled acquire", owner, shards = shards.len());
        let now = self.clock.now();
        let expires_at = expiry_after(now, ttl)?;
        let (owner, shards) = (owner.to_owned(), shards.to_vec());
        self.write(shards.len(), move |db| {
            let _span = span.entered();
            acquire(db, &owner, &shards, now, expires_at)
        })
        .await
    }

    async fn refresh(&self, owner: &str, shards: &[String], ttl: Duration) -> Result<Vec<Lease>> {
        validate_lease_request(owner, shards)?;
        let span = tracing::debug_span!("sled refresh", owner, shards = shards.len());
        let now = self.clock.now();
        let expires_at = expiry_after(now, ttl)?;
        let (owner, shards) = (owner.to_owned(), shards.to_vec());
        self.write(shards.len(), move |db| {
            let _span = span.entered();
            refresh(db, &owner, &shards, now, expires_at)
        })
        .await
    }

    async fn release(&self, owner: &str, shard: &str) -> Result<()> {
        validate_lease_name("runner address", owner)?;
        validate_lease_name("shard id", shard)?;
        let span = tracing::debug_span!("sled release", owner, shard);
        let (owner, shards) = (owner.to_owned(), vec![shard.to_owned()]);
        self.write(1, move |db| {
            let _span = span.entered();
            release(db, &owner, &shards)
        })
        .await
    }

    async fn release_all(&self, owner: &str) -> Result<()> {
        validate_lease_name("runner address", owner)?;
        let span = tracing::debug_span!("sled release_all", owner);
        let owner = owner.to_owned();
        let db = self.db.clone();
        let durability = self.durability;
        run(Cost::Large, move || {
            let _span = span.entered();
            // Find the candidates first (a transaction cannot iterate), then re-check each
            // inside the transaction; a grant made in between is simply ordered after this.
            let mine = slots(&db, |s| {
                s.owner.as_deref() == Some(owner.as_str()) && s.session.is_none()
            })?;
            let shards: Vec<String> = mine.into_iter().map(|(shard, _)| shard).collect();
            release(&db, &owner, &shards)?;
            db.sync(durability)
        })
        .await
    }

    async fn lease(&self, shard: &str) -> Result<Option<Lease>> {
        validate_lease_name("shard id", shard)?;
        let _span = tracing::trace_span!("sled lease", shard).entered();
        let now = self.clock.now();
        // A point read in memory: inline (see `blocking`).
        match self.db.leases.get(shard.as_bytes()).map_err(from_sled)? {
            Some(bytes) => {
                let s = decode_lease(&bytes)?;
                Ok(s.lease(shard, now, session_expiry_now(&self.db, &s)?))
            }
            None => Ok(None),
        }
    }

    async fn held_by(&self, owner: &str) -> Result<Vec<Lease>> {
        validate_lease_name("runner address", owner)?;
        let span = tracing::trace_span!("sled held_by", owner);
        let now = self.clock.now();
        let owner = owner.to_owned();
        self.read(move |db| {
            let _span = span.entered();
            let mine = slots(db, |s| s.owner.as_deref() == Some(owner.as_str()))?;
            let mut out = Vec::with_capacity(mine.len());
            for (shard, s) in &mine {
                out.extend(s.lease(shard, now, session_expiry_now(db, s)?));
            }
            Ok(out)
        })
        .await
    }
}
