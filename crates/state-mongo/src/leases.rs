//! Shard leases on MongoDB: conditional upserts judged by the server's clock.
//!
//! A lease is `{_id: shard, owner, token, exp}` with `exp` in Int64 epoch milliseconds,
//! computed and compared on the server (`{"$toLong": "$$NOW"}`) so client clocks never matter
//! (numbers rather than dates: see DESIGN.md on the test server). Acquire is a multi-statement
//! `update` (`ordered: false`), one upsert per shard whose filter matches only a free or own
//! lease: a duplicate key on `_id` means someone else has it; for those shards alone
//! [`take_over`] reads the leases and their sessions and takes the lapsed ones with a
//! compare-and-set on the token. A read of the live leases then reports what is held. Lease
//! documents are never deleted, so tokens only grow. Sessions: see `session_docs`.
//!
//! Filters stay plain equalities (`_id`, `owner`) wherever they can, with the clock comparison in
//! the update pipeline: servers serve those from an index, while a `$expr`/`$or` filter may make
//! some (the test server among them) scan the collection per statement.

use crate::errors::{ctx, is_duplicate_code, raw_error, raw_write_errors};
use crate::schema::Role;
use crate::session_docs::{self, sid};
use crate::shared::Shared;
use berth_core::{expiry_after, validate_ttl, Lease, Result, SessionId, Timestamp};
use mongodb::bson::{doc, Bson, Document};
use std::collections::{HashMap, HashSet};
use std::time::Duration;

fn ttl_ms(ttl: Duration) -> Result<i64> {
    validate_ttl(ttl)
}

pub(crate) fn distinct(shards: &[String]) -> Vec<&str> {
    let mut seen = HashSet::new();
    shards
        .iter()
        .map(String::as_str)
        .filter(|s| seen.insert(*s))
        .collect()
}

/// The shards of `shards` at the statement indexes `taken`.
pub(crate) fn picked<'a>(shards: &[&'a str], taken: &HashSet<usize>) -> Vec<&'a str> {
    shards
        .iter()
        .enumerate()
        .filter(|(i, _)| taken.contains(i))
        .map(|(_, s)| *s)
        .collect()
}

/// Live owner leases (not a session's) of `owner` among `shards`, in the order of `shards`.
async fn held(shared: &Shared, owner: &str, shards: &[&str]) -> Result<Vec<Lease>> {
    let docs = session_docs::read(shared, doc! {"_id": {"$in": shards}, "owner": owner}).await?;
    Ok(shards
        .iter()
        .filter_map(|s| {
            docs.iter()
                .find(|d| d.shard == *s && d.slot.session.is_none())
        })
        .filter_map(|d| d.lease(&HashMap::new()))
        .collect())
}

/// Who takes a lapsed lease in [`take_over`].
pub(crate) enum Taker<'a> {
    /// An owner lease lapsing `ttl_ms` after the server's now.
    Owner { owner: &'a str, ttl_ms: i64 },
    /// A session's lease.
    Session {
        id: SessionId,
        owner: &'a str,
        expires_at: Timestamp,
    },
}

impl Taker<'_> {
    fn set(&self, shared: &Shared, token: i64) -> Document {
        match self {
            Taker::Owner { owner, ttl_ms } => doc! {
                "owner": owner, "token": token, "sid": Bson::Null,
                "exp": {"$add": [shared.now_expr(), *ttl_ms]},
            },
            Taker::Session {
                id,
                owner,
                expires_at,
            } => doc! {
                "owner": owner, "token": token, "sid": sid(*id), "exp": expires_at.millis(),
            },
        }
    }
}

/// Takes those of `shards` whose holder's claim lapsed (its own expiry, or its session's),
/// each with a compare-and-set on the token read: expiry of a session is final and a token
/// only grows, so a lease seen lapsed with token `t` is still lapsed while its token is `t`.
pub(crate) async fn take_over(shared: &Shared, taker: &Taker<'_>, shards: &[&str]) -> Result<()> {
    let docs = session_docs::read(shared, doc! {"_id": {"$in": shards}}).await?;
    let live = session_docs::live_sessions(shared, &docs).await?;
    let mut statements = Vec::new();
    for d in &docs {
        if d.slot.is_live(d.now, d.session_expiry(&live)) {
            continue;
        }
        let token = crate::bson_json::to_i64(d.slot.token, "lease token")?;
        let next = token
            .checked_add(1)
            .ok_or_else(|| berth_core::Error::backend_msg("fencing tokens exhausted", false))?;
        let mut q = doc! {"_id": &d.shard, "token": token};
        match d.slot.session {
            Some(id) => q.insert("sid", sid(id)),
            // An owner lease read lapsed stays lapsed unless it was refreshed since.
            None => q.insert("exp", d.slot.expires_at.millis()),
        };
        statements.push(doc! {"q": q, "u": [{"$set": taker.set(shared, next)}]});
    }
    if !statements.is_empty() {
        update_leases(shared, statements, "take over lapsed leases").await?;
    }
    Ok(())
}

/// Runs a multi-statement `update` on the leases collection; returns the statements that
/// failed with a duplicate key.
pub(crate) async fn update_leases(
    shared: &Shared,
    statements: Vec<Document>,
    what: &str,
) -> Result<HashSet<usize>> {
    let command =
        doc! {"update": Role::Leases.name(&shared.names), "updates": statements, "ordered": false};
    let reply = shared
        .db
        .run_command(command)
        .await
        .map_err(|e| crate::errors::map(what, e))?;
    let mut duplicate = HashSet::new();
    for e in raw_write_errors(&reply)? {
        if !is_duplicate_code(e.code) {
            return Err(raw_error(what, &e));
        }
        duplicate.insert(e.index);
    }
    Ok(duplicate)
}

/// The update pipeline of a grant: an own live lease keeps its token, every new grant takes
/// the next one.
fn grant(shared: &Shared, owner: &str, ttl_ms: i64) -> Vec<Document> {
    let now = shared.now_expr();
    vec![doc! {"$set": {
        "token": {"$cond": [
            {"$and": [{"$eq": ["$owner", owner]}, {"$gt": ["$exp", now.clone()]}]},
            "$token",
            {"$add": [{"$ifNull": ["$token", 0_i64]}, 1_i64]},
        ]},
        "owner": owner,
        "exp": {"$add": [now, ttl_ms]},
    }}]
}

pub(crate) async fn acquire(
    shared: &Shared,
    owner: &str,
    shards: &[String],
    ttl: Duration,
) -> Result<Vec<Lease>> {
    let ttl_ms = ttl_ms(ttl)?;
    expiry_after(shared.clock.now(), ttl)?;
    let shards = distinct(shards);
    if shards.is_empty() {
        return Ok(Vec::new());
    }
    // Round 1: free or own leases, one upsert per shard; a duplicate key on `_id` means the
    // shard has another holder (live or lapsed; a session's lease always lands here).
    let statements: Vec<Document> = shards
        .iter()
        .map(|shard| {
            doc! {
                "q": {"_id": shard, "owner": {"$in": [Bson::Null, owner]}, "sid": Bson::Null},
                "u": grant(shared, owner, ttl_ms),
                "upsert": true,
            }
        })
        .collect();
    let taken = update_leases(shared, statements, "acquire leases").await?;
    let others = picked(&shards, &taken);
    if !others.is_empty() {
        take_over(shared, &Taker::Owner { owner, ttl_ms }, &others).await?;
    }
    held(shared, owner, &shards).await
}

pub(crate) async fn refresh(
    shared: &Shared,
    owner: &str,
    shards: &[String],
    ttl: Duration,
) -> Result<Vec<Lease>> {
    let ttl_ms = ttl_ms(ttl)?;
    expiry_after(shared.clock.now(), ttl)?;
    let shards = distinct(shards);
    if shards.is_empty() {
        return Ok(Vec::new());
    }
    let now = shared.now_expr();
    // Only a live lease is extended; a lapsed one keeps its expiry and must be acquired again.
    let statements: Vec<Document> = shards
        .iter()
        .map(|shard| {
            doc! {
                "q": {"_id": shard, "owner": owner, "sid": Bson::Null},
                "u": [{"$set": {"exp": {"$cond": [
                    {"$gt": ["$exp", now.clone()]},
                    {"$add": [now.clone(), ttl_ms]},
                    "$exp",
                ]}}}],
            }
        })
        .collect();
    update_leases(shared, statements, "refresh leases").await?;
    held(shared, owner, &shards).await
}

pub(crate) async fn release(shared: &Shared, owner: &str, shard: &str) -> Result<()> {
    shared
        .coll(Role::Leases)
        .update_one(
            doc! {"_id": shard, "owner": owner, "sid": Bson::Null},
            doc! {"$set": {"owner": Bson::Null}},
        )
        .await
        .map_err(ctx("release lease"))?;
    Ok(())
}

pub(crate) async fn release_all(shared: &Shared, owner: &str) -> Result<()> {
    shared
        .coll(Role::Leases)
        .update_many(
            doc! {"owner": owner, "sid": Bson::Null},
            doc! {"$set": {"owner": Bson::Null}},
        )
        .await
        .map_err(ctx("release leases"))?;
    Ok(())
}

pub(crate) async fn lease(shared: &Shared, shard: &str) -> Result<Option<Lease>> {
    let found =
        session_docs::live_leases(shared, doc! {"_id": shard, "owner": {"$ne": Bson::Null}})
            .await?;
    Ok(found.into_iter().next())
}

pub(crate) async fn held_by(shared: &Shared, owner: &str) -> Result<Vec<Lease>> {
    let mut out = session_docs::live_leases(shared, doc! {"owner": owner}).await?;
    out.sort_by(|a, b| a.shard.cmp(&b.shard));
    Ok(out)
}
