//! Shard leases on MongoDB: conditional upserts judged by the server's clock.
//!
//! A lease is `{_id: shard, owner, token, exp}` with `exp` in Int64 epoch milliseconds,
//! computed and compared on the server (`{"$toLong": "$$NOW"}`) so client clocks never matter
//! (numbers rather than dates: see DESIGN.md on the test server). Acquire is a multi-statement
//! `update` (`ordered: false`), one upsert per shard whose filter matches only a free or own
//! lease: a duplicate key on `_id` means someone else has it; for those shards alone a second
//! `update` takes the ones whose lease lapsed. A read of the live leases then reports what is held. Lease documents are
//! never deleted, so tokens only grow.
//!
//! Filters stay plain equalities (`_id`, `owner`) wherever they can, with the clock comparison in
//! the update pipeline: servers serve those from an index, while a `$expr`/`$or` filter may make
//! some (the test server among them) scan the collection per statement.

use crate::errors::{ctx, is_duplicate_code, raw_error, raw_write_errors};
use crate::schema::Role;
use crate::shared::{collect, Shared};
use berth_core::{Lease, Result, Timestamp};
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

fn to_lease(d: &Document) -> Result<Lease> {
    Ok(Lease {
        shard: crate::bson_json::stored_str(d, "_id", "lease")?.to_owned(),
        owner: crate::bson_json::stored_str(d, "owner", "lease")?.to_owned(),
        token: crate::bson_json::stored_u64(d, "token", "lease")?,
        expires_at: Timestamp::from_millis(crate::errors::number(d, "exp").unwrap_or(0)),
    })
}

/// Runs `pipeline` (ending in a liveness match) on the leases collection.
async fn live(shared: &Shared, first_match: Document, sort: bool) -> Result<Vec<Lease>> {
    // The cheap equality match first (served by `_id`/`owner` indexes), then liveness by the
    // lease clock.
    let mut pipeline = vec![
        doc! {"$match": first_match},
        doc! {"$match": {"$expr": {"$gt": ["$exp", shared.now_expr()]}}},
    ];
    if sort {
        pipeline.push(doc! {"$sort": {"_id": 1}});
    }
    let cursor = shared
        .coll(Role::Leases)
        .aggregate(pipeline)
        .await
        .map_err(ctx("read leases"))?;
    collect(cursor, "read leases")
        .await?
        .iter()
        .map(to_lease)
        .collect()
}

/// Live leases of `owner` among `shards`, in the order of `shards`.
async fn held(shared: &Shared, owner: &str, shards: &[&str]) -> Result<Vec<Lease>> {
    let found = live(shared, doc! {"_id": {"$in": shards}, "owner": owner}, false).await?;
    Ok(shards
        .iter()
        .filter_map(|s| found.iter().find(|l| l.shard == *s).cloned())
        .collect())
}

/// Runs a multi-statement `update` on the leases collection; returns the statements that
/// failed with a duplicate key.
async fn update_leases(
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
fn grant(shared: &Shared, owner: &str, ttl: Duration) -> Vec<Document> {
    let now = shared.now_expr();
    vec![doc! {"$set": {
        "token": {"$cond": [
            {"$and": [{"$eq": ["$owner", owner]}, {"$gt": ["$exp", now.clone()]}]},
            "$token",
            {"$add": [{"$ifNull": ["$token", 0_i64]}, 1_i64]},
        ]},
        "owner": owner,
        "exp": {"$add": [now, ttl_ms(ttl)]},
    }}]
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
    // Round 1: free or own leases, one upsert per shard; a duplicate key on `_id` means the
    // shard has another owner (live or lapsed).
    let statements: Vec<Document> = shards
        .iter()
        .map(|shard| {
            doc! {
                "q": {"_id": shard, "owner": {"$in": [Bson::Null, owner]}},
                "u": grant(shared, owner, ttl),
                "upsert": true,
            }
        })
        .collect();
    let taken = update_leases(shared, statements, "acquire leases").await?;
    // Round 2, only for shards another owner had: take those whose lease lapsed. The clock test
    // is in the pipeline (a live lease is written back unchanged, which servers skip).
    if !taken.is_empty() {
        let now = shared.now_expr();
        let lapsed = doc! {"$lte": ["$exp", now.clone()]};
        let statements: Vec<Document> = shards
            .iter()
            .enumerate()
            .filter(|(i, _)| taken.contains(i))
            .map(|(_, shard)| {
                doc! {
                    "q": {"_id": shard, "owner": {"$nin": [Bson::Null, owner]}},
                    "u": [{"$set": {
                        "token": {"$cond": [lapsed.clone(), {"$add": ["$token", 1_i64]}, "$token"]},
                        "owner": {"$cond": [lapsed.clone(), owner, "$owner"]},
                        "exp": {"$cond": [lapsed.clone(), {"$add": [now.clone(), ttl_ms(ttl)]}, "$exp"]},
                    }}],
                }
            })
            .collect();
        update_leases(shared, statements, "take over lapsed leases").await?;
    }
    held(shared, owner, &shards).await
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
    // Only a live lease is extended; a lapsed one keeps its expiry and must be acquired again.
    let statements: Vec<Document> = shards
        .iter()
        .map(|shard| {
            doc! {
                "q": {"_id": shard, "owner": owner},
                "u": [{"$set": {"exp": {"$cond": [
                    {"$gt": ["$exp", now.clone()]},
                    {"$add": [now.clone(), ttl_ms(ttl)]},
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
    let found = live(
        shared,
        doc! {"_id": shard, "owner": {"$ne": Bson::Null}},
        false,
    )
    .await?;
    Ok(found.into_iter().next())
}

pub(crate) async fn held_by(shared: &Shared, owner: &str) -> Result<Vec<Lease>> {
    live(shared, doc! {"owner": owner}, true).await
}
