//! The MongoDB [`SessionStore`]: session documents judged by the server's clock (see
//! `session_docs`), keepalive as one `findAndModify`.

use crate::errors::ctx;
use crate::leases::{distinct, picked, take_over, update_leases, Taker};
use crate::schema::Role;
use crate::session_docs::{self, sid, stored_sid};
use crate::shared::{collect, Shared};
use async_trait::async_trait;
use berth_core::{
    expiry_after, session_expired, session_not_found, validate_lease_name, validate_lease_request,
    validate_ttl, Error, IdGenerator, Lease, Result, Session, SessionId, SessionStore, Timestamp,
};
use mongodb::bson::{doc, Bson, Document};
use mongodb::options::ReturnDocument;
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;

/// The MongoDB backend's [`SessionStore`].
#[derive(Debug, Clone)]
pub struct MongoSessions {
    shared: Shared,
    ids: Arc<dyn IdGenerator>,
}

impl MongoSessions {
    pub(crate) fn new(shared: Shared, ids: Arc<dyn IdGenerator>) -> Self {
        MongoSessions { shared, ids }
    }
}

fn session(d: &Document) -> Result<Session> {
    let id = stored_sid(d, "_id")?.ok_or_else(|| Error::Corrupt("a session has no id".into()))?;
    let ttl = crate::errors::number(d, "ttl").unwrap_or(0);
    Ok(Session {
        id,
        owner: crate::bson_json::stored_str(d, "sowner", "session")?.to_owned(),
        ttl: Duration::from_millis(u64::try_from(ttl).unwrap_or(0)),
        expires_at: Timestamp::from_millis(crate::errors::number(d, "exp").unwrap_or(i64::MIN)),
    })
}

/// The session `id` if it is live by the server's clock; a typed error otherwise.
async fn live(shared: &Shared, id: SessionId) -> Result<Session> {
    let pipeline = vec![
        doc! {"$match": {"_id": sid(id), "kind": "session"}},
        doc! {"$addFields": {"live": {"$gt": ["$exp", shared.now_expr()]}}},
    ];
    let cursor = shared
        .coll(Role::Leases)
        .aggregate(pipeline)
        .await
        .map_err(ctx("read session"))?;
    let found = collect(cursor, "read session").await?;
    match found.first() {
        None => Err(session_not_found(id)),
        Some(d) if !d.get_bool("live").unwrap_or(false) => Err(session_expired(id)),
        Some(d) => session(d),
    }
}

async fn keepalive(shared: &Shared, id: SessionId) -> Result<Session> {
    let now = shared.now_expr();
    let updated = shared
        .coll(Role::Leases)
        .find_one_and_update(
            doc! {"_id": sid(id), "kind": "session", "$expr": {"$gt": ["$exp", now.clone()]}},
            vec![doc! {"$set": {"exp": {"$add": [now, "$ttl"]}}}],
        )
        .return_document(ReturnDocument::After)
        .await
        .map_err(ctx("keep session alive"))?;
    match updated {
        Some(d) => session(&d),
        // Why not: unknown or lapsed.
        None => live(shared, id).await,
    }
}

async fn open(shared: &Shared, id: SessionId, owner: &str, ttl: Duration) -> Result<Session> {
    let ttl_ms = validate_ttl(ttl)?;
    expiry_after(shared.clock.now(), ttl)?;
    let created = shared
        .coll(Role::Leases)
        .find_one_and_update(
            doc! {"_id": sid(id)},
            vec![doc! {"$set": {
                "kind": "session", "sowner": owner, "ttl": ttl_ms,
                "exp": {"$add": [shared.now_expr(), ttl_ms]},
            }}],
        )
        .upsert(true)
        .return_document(ReturnDocument::After)
        .await
        .map_err(ctx("open session"))?;
    let d = created.ok_or_else(|| Error::backend_msg("open session returned nothing", true))?;
    session(&d)
}

async fn close(shared: &Shared, id: SessionId) -> Result<()> {
    // Deleting the document is the one commit that frees every lease of the session.
    let gone = shared
        .coll(Role::Leases)
        .delete_one(doc! {"_id": sid(id), "kind": "session"})
        .await
        .map_err(ctx("close session"))?;
    if gone.deleted_count == 0 {
        return Err(session_not_found(id));
    }
    shared
        .coll(Role::Leases)
        .update_many(
            doc! {"sid": sid(id)},
            doc! {"$set": {"owner": Bson::Null, "sid": Bson::Null}},
        )
        .await
        .map_err(ctx("clear session leases"))?;
    Ok(())
}

async fn acquire(shared: &Shared, s: &Session, shards: &[String]) -> Result<Vec<Lease>> {
    let shards = distinct(shards);
    if shards.is_empty() {
        return Ok(Vec::new());
    }
    let me = sid(s.id);
    let now = shared.now_expr();
    let owner_of = doc! {"$ifNull": ["$owner", Bson::Null]};
    let own =
        doc! {"$and": [{"$eq": ["$sid", me.clone()]}, {"$ne": [owner_of.clone(), Bson::Null]}]};
    let take = doc! {"$or": [
        own.clone(),
        {"$eq": [owner_of, Bson::Null]},
        {"$and": [
            {"$eq": [{"$ifNull": ["$sid", Bson::Null]}, Bson::Null]},
            {"$lte": [{"$ifNull": ["$exp", i64::MIN]}, now]},
        ]},
    ]};
    let set = vec![doc! {"$set": {
        "token": {"$cond": [own, "$token", {"$cond": [
            take.clone(), {"$add": [{"$ifNull": ["$token", 0_i64]}, 1_i64]}, "$token",
        ]}]},
        "owner": {"$cond": [take.clone(), &s.owner, "$owner"]},
        "sid": {"$cond": [take.clone(), me.clone(), "$sid"]},
        "exp": {"$cond": [take, s.expires_at.millis(), "$exp"]},
    }}];
    // Round 1: free, own, or the same owner name's owner lease (taken only once lapsed); a
    // duplicate key means another holder, judged by `take_over`.
    let statements: Vec<Document> = shards
        .iter()
        .map(|shard| {
            doc! {
                "q": {"_id": shard, "sid": {"$in": [Bson::Null, me.clone()]},
                      "owner": {"$in": [Bson::Null, &s.owner]}},
                "u": set.clone(),
                "upsert": true,
            }
        })
        .collect();
    let taken = update_leases(shared, statements, "acquire session leases").await?;
    let others = picked(&shards, &taken);
    if !others.is_empty() {
        let taker = Taker::Session {
            id: s.id,
            owner: &s.owner,
            expires_at: s.expires_at,
        };
        take_over(shared, &taker, &others).await?;
    }
    let docs = session_docs::read(shared, doc! {"_id": {"$in": &shards}, "sid": me}).await?;
    Ok(shards
        .iter()
        .filter_map(|shard| docs.iter().find(|d| d.shard == *shard))
        .filter_map(|d| d.slot.lease(&d.shard, d.now, Some(s.expires_at)))
        .collect())
}

#[async_trait]
impl SessionStore for MongoSessions {
    async fn open(&self, owner: &str, ttl: Duration) -> Result<Session> {
        validate_lease_name("session owner", owner)?;
        let id = SessionId(self.ids.next_id());
        let span = tracing::debug_span!("mongo.session_open", owner);
        let fut = open(&self.shared, id, owner, ttl);
        self.shared
            .deadline("open session", fut)
            .instrument(span)
            .await
    }

    async fn keepalive(&self, id: SessionId) -> Result<Session> {
        let span = tracing::debug_span!("mongo.keepalive", session = %id);
        let fut = keepalive(&self.shared, id);
        self.shared
            .deadline("keepalive", fut)
            .instrument(span)
            .await
    }

    async fn close(&self, id: SessionId) -> Result<()> {
        let span = tracing::debug_span!("mongo.session_close", session = %id);
        let fut = close(&self.shared, id);
        self.shared
            .deadline("close session", fut)
            .instrument(span)
            .await
    }

    async fn acquire(&self, id: SessionId, shards: &[String]) -> Result<Vec<Lease>> {
        let span =
            tracing::debug_span!("mongo.session_acquire", session = %id, shards = shards.len());
        let shared = &self.shared;
        let fut = async move {
            let s = live(shared, id).await?;
            validate_lease_request(&s.owner, shards)?;
            acquire(shared, &s, shards).await
        };
        self.shared.deadline("acquire", fut).instrument(span).await
    }

    async fn release(&self, id: SessionId, shards: &[String]) -> Result<()> {
        let span = tracing::debug_span!("mongo.session_release", session = %id);
        let shared = &self.shared;
        let fut = async move {
            let found = shared
                .coll(Role::Leases)
                .find_one(doc! {"_id": sid(id), "kind": "session"})
                .await
                .map_err(ctx("read session"))?;
            let d = found.ok_or_else(|| session_not_found(id))?;
            validate_lease_request(&session(&d)?.owner, shards)?;
            shared
                .coll(Role::Leases)
                .update_many(
                    doc! {"_id": {"$in": shards}, "sid": sid(id)},
                    doc! {"$set": {"owner": Bson::Null, "sid": Bson::Null}},
                )
                .await
                .map_err(ctx("release session leases"))?;
            Ok(())
        };
        self.shared.deadline("release", fut).instrument(span).await
    }

    async fn held(&self, id: SessionId) -> Result<Vec<Lease>> {
        let span = tracing::debug_span!("mongo.session_held", session = %id);
        let shared = &self.shared;
        let fut = async move {
            let s = match live(shared, id).await {
                Err(e) if e.kind() == berth_core::ErrorKind::SessionExpired => {
                    return Ok(Vec::new())
                }
                other => other?,
            };
            let docs = session_docs::read(shared, doc! {"sid": sid(id)}).await?;
            let mut out: Vec<Lease> = docs
                .iter()
                .filter_map(|d| d.slot.lease(&d.shard, d.now, Some(s.expires_at)))
                .collect();
            out.sort_by(|a, b| a.shard.cmp(&b.shard));
            Ok(out)
        };
        self.shared.deadline("held", fut).instrument(span).await
    }

    async fn live(&self) -> Result<Vec<Session>> {
        let span = tracing::debug_span!("mongo.sessions_live");
        let shared = &self.shared;
        let fut = async move {
            let pipeline = vec![
                doc! {"$match": {"kind": "session"}},
                doc! {"$match": {"$expr": {"$gt": ["$exp", shared.now_expr()]}}},
                doc! {"$sort": {"sowner": 1, "_id": 1}},
            ];
            let cursor = shared
                .coll(Role::Leases)
                .aggregate(pipeline)
                .await
                .map_err(ctx("read sessions"))?;
            collect(cursor, "read sessions")
                .await?
                .iter()
                .map(session)
                .collect()
        };
        self.shared
            .deadline("live sessions", fut)
            .instrument(span)
            .await
    }
}
