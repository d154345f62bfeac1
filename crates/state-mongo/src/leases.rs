//! Shard leases on MongoDB: conditional upserts judged by the server's clock.
//!
//! A lease is `{_id: shard, owner, token, exp}` with `exp` in Int64 epoch milliseconds,
//! computed and compared on the server (`{"$toLong": "$$NOW"}`) so client clocks never matter
//! (numbers rather than dates: see DESIGN.md on the test server). Acquire is one multi-statement
//! `update` (`ordered: false`), one upsert per shard whose filter matches only a free, lapsed
//! or own lease: a duplicate key on `_id` means someone else holds it. Lease documents are
//! never deleted, so tokens only grow.

use crate::errors::{ctx, is_duplicate_code, raw_error, raw_write_errors};
use crate::schema::Role;
use crate::shared::{collect, Shared};
use berth_core::{validate_lease_name, Lease, Result, Timestamp};
use mongodb::bson::{doc, Bson, Document};
use std::collections::HashSet;
use std::time::Duration;

fn ttl_ms(ttl: Duration) -> i64 {
    i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX / 4)
}

fn distinct(shards: &[String]) -> Vec<&str> {
    let mut seen = HashSet::new();
    shards
        .iter()
        .map(String::as_str)
        .filter(|s| seen.insert(*s))
        .collect()
}

pub(crate) fn validate_all(owner: &str, shards: &[String]) -> Result<()> {
    validate_lease_name("runner address", owner)?;
    shards
        .iter()
        .try_for_each(|s| validate_lease_name("shard id", s))
}

fn to_lease(d: &Document) -> Result<Lease> {
    Ok(Lease {
        shard: crate::bson_json::stored_str(d, "_id", "lease")?.to_owned(),
        owner: crate::bson_json::stored_str(d, "owner", "lease")?.to_owned(),
        token: crate::bson_json::stored_u64(d, "token", "lease")?,
        expires_at: Timestamp::from_millis(crate::errors::number(d, "exp").unwrap_or(0)),
    })
}

/// Live leases of `owner` among `shards`, in the order of `shards`.
async fn held(shared: &Shared, owner: &str, shards: &[&str]) -> Result<Vec<Lease>> {
    let filter = doc! {"_id": {"$in": shards}, "owner": owner, "$expr": {"$gt": ["$exp", shared.now_expr()]}};
    let cursor = shared
        .coll(Role::Leases)
        .find(filter)
        .await
        .map_err(ctx("read leases"))?;
    let found: Vec<Lease> = collect(cursor, "read leases")
        .await?
        .iter()
        .map(to_lease)
        .collect::<Result<_>>()?;
    Ok(shards
        .iter()
        .filter_map(|s| found.iter().find(|l| l.shard == *s).cloned())
        .collect())
}

pub(crate) async fn acquire(
    shared: &Shared,
    owner: &str,
    shards: &[String],
    ttl: Duration,
) -> Result<Vec<Lease>> {
    let shards = distinct(shards);
    if shards.is_empty() {
        return Ok(Vec::new());
    }
    let now = shared.now_expr();
    let live = doc! {"$gt": ["$exp", now.clone()]};
    let statements: Vec<Document> = shards
        .iter()
        .map(|shard| {
            doc! {
                "q": {"_id": shard, "$or": [
                    {"owner": Bson::Null},
                    {"owner": owner},
                    {"$expr": {"$lte": ["$exp", now.clone()]}},
                ]},
                "u": [{"$set": {
                    // Re-acquiring an own live lease keeps its token; every new grant takes the next.
                    "token": {"$cond": [
                        {"$and": [{"$eq": ["$owner", owner]}, live.clone()]},
                        "$token",
                        {"$add": [{"$ifNull": ["$token", 0_i64]}, 1_i64]},
                    ]},
                    "owner": owner,
                    "exp": {"$add": [now.clone(), ttl_ms(ttl)]},
                }}],
                "upsert": true,
            }
        })
        .collect();
    let command =
        doc! {"update": Role::Leases.name(&shared.names), "updates": statements, "ordered": false};
    let reply = shared
        .db
        .run_command(command)
        .await
        .map_err(ctx("acquire leases"))?;
    let mut lost: HashSet<usize> = HashSet::new();
    for e in raw_write_errors(&reply)? {
        if !is_duplicate_code(e.code) {
            return Err(raw_error("acquire leases", &e));
        }
        lost.insert(e.index);
    }
    let won: Vec<&str> = shards
        .iter()
        .enumerate()
        .filter(|(i, _)| !lost.contains(i))
        .map(|(_, s)| *s)
        .collect();
    if won.is_empty() {
        return Ok(Vec::new());
    }
    held(shared, owner, &won).await
}

pub(crate) async fn refresh(
    shared: &Shared,
    owner: &str,
    shards: &[String],
    ttl: Duration,
) -> Result<Vec<Lease>> {
    let shards = distinct(shards);
    if shards.is_empty() {
        return Ok(Vec::new());
    }
    let now = shared.now_expr();
    let statements: Vec<Document> = shards
        .iter()
        .map(|shard| {
            doc! {
                "q": {"_id": shard, "owner": owner, "$expr": {"$gt": ["$exp", now.clone()]}},
                "u": [{"$set": {"exp": {"$add": [now.clone(), ttl_ms(ttl)]}}}],
            }
        })
        .collect();
    let command =
        doc! {"update": Role::Leases.name(&shared.names), "updates": statements, "ordered": false};
    let reply = shared
        .db
        .run_command(command)
        .await
        .map_err(ctx("refresh leases"))?;
    if let Some(e) = raw_write_errors(&reply)?.first() {
        return Err(raw_error("refresh leases", e));
    }
    held(shared, owner, &shards).await
}

pub(crate) async fn release(shared: &Shared, owner: &str, shard: &str) -> Result<()> {
    shared
        .coll(Role::Leases)
        .update_one(
            doc! {"_id": shard, "owner": owner},
            doc! {"$set": {"owner": Bson::Null}},
        )
        .await
        .map_err(ctx("release lease"))?;
    Ok(())
}

pub(crate) async fn release_all(shared: &Shared, owner: &str) -> Result<()> {
    shared
        .coll(Role::Leases)
        .update_many(doc! {"owner": owner}, doc! {"$set": {"owner": Bson::Null}})
        .await
        .map_err(ctx("release leases"))?;
    Ok(())
}

pub(crate) async fn lease(shared: &Shared, shard: &str) -> Result<Option<Lease>> {
    let filter = doc! {"_id": shard, "owner": {"$ne": Bson::Null}, "$expr": {"$gt": ["$exp", shared.now_expr()]}};
    let found = shared
        .coll(Role::Leases)
        .find_one(filter)
        .await
        .map_err(ctx("read lease"))?;
    found.as_ref().map(to_lease).transpose()
}

pub(crate) async fn held_by(shared: &Shared, owner: &str) -> Result<Vec<Lease>> {
    let filter = doc! {"owner": owner, "$expr": {"$gt": ["$exp", shared.now_expr()]}};
    let cursor = shared
        .coll(Role::Leases)
        .find(filter)
        .sort(doc! {"_id": 1})
        .await
        .map_err(ctx("read leases"))?;
    collect(cursor, "read leases")
        .await?
        .iter()
        .map(to_lease)
        .collect()
}
