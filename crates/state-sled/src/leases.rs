//! [`LeaseStore`] on sled: shard leases with fencing tokens, and the runner registry.
//!
//! A shard's entry is never deleted: release only clears its owner, so the token of the next
//! grant continues from the last one and never goes back. Expiry is judged with the injected
//! clock (`expires_at > now` is live), the same clock fenced batches are checked with.

use crate::blocking::{run, Cost, INLINE_KEYS};
use crate::commit::abort;
use crate::database::Database;
use crate::encoding::{decode_lease, encode_lease, shard_name, LeaseSlot};
use crate::errors::{from_sled, from_transaction};
use crate::registry::Shared;
use crate::runners;
use async_trait::async_trait;
use berth_core::{
    validate_lease_name, validate_lease_request, Durability, Error, Lease, LeaseStore, MachineId,
    Result, RunnerEntry, SharedClock, Timestamp,
};
use sled::transaction::TransactionalTree;
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

fn slot(
    tx: &TransactionalTree,
    shard: &str,
) -> Result<Option<LeaseSlot>, sled::transaction::ConflictableTransactionError<Error>> {
    match tx.get(shard.as_bytes())? {
        Some(bytes) => Ok(Some(decode_lease(&bytes).map_err(abort)?)),
        None => Ok(None),
    }
}

/// Grants or extends `shards` for `owner` in one transaction; returns those now held.
fn acquire(
    db: &Database,
    owner: &str,
    shards: &[String],
    now: Timestamp,
    expires_at: Timestamp,
) -> Result<Vec<Lease>> {
    db.leases
        .transaction(|tx| {
            let mut out: Vec<Lease> = Vec::new();
            for shard in shards {
                let mut s = slot(tx, shard)?.unwrap_or_default();
                if s.held_by(owner, now) {
                    s.expires_at = expires_at;
                } else if !s.is_live(now) {
                    s.token = s.token.checked_add(1).ok_or_else(|| {
                        abort(Error::backend_msg("fencing tokens exhausted", false))
                    })?;
                    s.owner = Some(owner.to_owned());
                    s.expires_at = expires_at;
                } else {
                    continue;
                }
                tx.insert(shard.as_bytes(), encode_lease(&s))?;
                if let Some(l) = s.lease(shard) {
                    if !out.iter().any(|o| o.shard == l.shard) {
                        out.push(l);
                    }
                }
            }
            Ok(out)
        })
        .map_err(from_transaction)
}

/// Extends the shards `owner` still holds unexpired; returns them.
fn refresh(
    db: &Database,
    owner: &str,
    shards: &[String],
    now: Timestamp,
    expires_at: Timestamp,
) -> Result<Vec<Lease>> {
    db.leases
        .transaction(|tx| {
            let mut out: Vec<Lease> = Vec::new();
            for shard in shards {
                let Some(mut s) = slot(tx, shard)? else {
                    continue;
                };
                if !s.held_by(owner, now) {
                    continue;
                }
                s.expires_at = expires_at;
                tx.insert(shard.as_bytes(), encode_lease(&s))?;
                if let Some(l) = s.lease(shard) {
                    if !out.iter().any(|o| o.shard == l.shard) {
                        out.push(l);
                    }
                }
            }
            Ok(out)
        })
        .map_err(from_transaction)
}

/// Clears the owner of each of `shards` that `owner` holds (expired or not).
fn release(db: &Database, owner: &str, shards: &[String]) -> Result<()> {
    db.leases
        .transaction(|tx| {
            for shard in shards {
                if let Some(mut s) = slot(tx, shard)? {
                    if s.owner.as_deref() == Some(owner) {
                        s.owner = None;
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
        let expires_at = now.plus(ttl);
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
        let expires_at = now.plus(ttl);
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
            let mine = slots(&db, |s| s.owner.as_deref() == Some(owner.as_str()))?;
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
                Ok(s.lease(shard).filter(|_| s.is_live(now)))
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
            let held = slots(db, |s| s.held_by(&owner, now))?;
            Ok(held
                .iter()
                .filter_map(|(shard, s)| s.lease(shard))
                .collect())
        })
        .await
    }
}
