//! Session documents on MongoDB and how lease documents are judged live.
//!
//! A session is a document of the leases collection with a binary `_id` (the session id's 16
//! bytes, so it can never collide with a shard id, which is a string) and
//! `{kind: "session", sowner, ttl, exp}`; no new collection, no migration. A lease taken in a
//! session carries `sid` (that `_id`) and lives exactly as long as the session document is
//! there with `exp` ahead of the server's clock, so a keepalive is one document's update.
//! An owner lease (no `sid`) lives while its own `exp` is ahead. Both are judged with
//! [`LeaseSlot`](berth_core::LeaseSlot)'s rule; `now` is read from the server with the documents.

use crate::schema::Role;
use crate::shared::{collect, collect_in, Shared};
use berth_core::{Error, Lease, LeaseSlot, Result, SessionId, Timestamp};
use mongodb::bson::spec::BinarySubtype;
use mongodb::bson::{doc, Binary, Bson, Document};
use mongodb::ClientSession;
use std::collections::HashMap;
use uuid::Uuid;

/// The `_id` of session `id`'s document.
pub(crate) fn sid(id: SessionId) -> Bson {
    Bson::Binary(Binary {
        subtype: BinarySubtype::Generic,
        bytes: id.0.as_bytes().to_vec(),
    })
}

/// The session id stored in `field` of `d`, if any.
pub(crate) fn stored_sid(d: &Document, field: &str) -> Result<Option<SessionId>> {
    match d.get(field) {
        None | Some(Bson::Null) => Ok(None),
        Some(Bson::Binary(b)) => Uuid::from_slice(&b.bytes)
            .map(|u| Some(SessionId(u)))
            .map_err(|_| Error::Corrupt("a lease's session id is not a UUID".into())),
        Some(_) => Err(Error::Corrupt("a lease's session id is not binary".into())),
    }
}

/// A lease document as read, with the server's clock at the read.
#[derive(Debug, Clone)]
pub(crate) struct LeaseDoc {
    pub shard: String,
    pub slot: LeaseSlot,
    pub now: Timestamp,
}

fn lease_doc(d: &Document) -> Result<LeaseDoc> {
    let owner = match d.get("owner") {
        None | Some(Bson::Null) => None,
        Some(_) => Some(crate::bson_json::stored_str(d, "owner", "lease")?.to_owned()),
    };
    Ok(LeaseDoc {
        shard: crate::bson_json::stored_str(d, "_id", "lease")?.to_owned(),
        slot: LeaseSlot {
            owner,
            session: stored_sid(d, "sid")?,
            token: crate::bson_json::stored_u64(d, "token", "lease")?,
            expires_at: Timestamp::from_millis(crate::errors::number(d, "exp").unwrap_or(i64::MIN)),
        },
        now: Timestamp::from_millis(crate::errors::number(d, "now").unwrap_or(i64::MAX)),
    })
}

/// The pipeline reading lease documents matching `filter`, each with the lease clock's now.
fn read_pipeline(shared: &Shared, filter: Document) -> Vec<Document> {
    vec![
        doc! {"$match": filter},
        doc! {"$addFields": {"now": shared.now_expr()}},
    ]
}

/// The pipeline reading the live ones of the sessions `ids`.
fn live_pipeline(shared: &Shared, ids: Vec<Bson>) -> Vec<Document> {
    vec![
        doc! {"$match": {"_id": {"$in": ids}}},
        doc! {"$match": {"$expr": {"$gt": ["$exp", shared.now_expr()]}}},
    ]
}

fn session_ids(docs: &[LeaseDoc]) -> Vec<Bson> {
    let mut ids: Vec<SessionId> = docs.iter().filter_map(|d| d.slot.session).collect();
    ids.sort();
    ids.dedup();
    ids.into_iter().map(sid).collect()
}

fn expiries(found: Vec<Document>) -> Result<HashMap<SessionId, Timestamp>> {
    let mut out = HashMap::new();
    for d in &found {
        if let Some(id) = stored_sid(d, "_id")? {
            let exp = crate::errors::number(d, "exp").unwrap_or(i64::MIN);
            out.insert(id, Timestamp::from_millis(exp));
        }
    }
    Ok(out)
}

/// Lease documents matching `filter` (a shard-id filter; session documents never match one).
pub(crate) async fn read(shared: &Shared, filter: Document) -> Result<Vec<LeaseDoc>> {
    let cursor = shared
        .coll(Role::Leases)
        .aggregate(read_pipeline(shared, filter))
        .await
        .map_err(crate::errors::ctx("read leases"))?;
    collect(cursor, "read leases")
        .await?
        .iter()
        .map(lease_doc)
        .collect()
}

/// Expiry of every live session that holds one of `docs`.
pub(crate) async fn live_sessions(
    shared: &Shared,
    docs: &[LeaseDoc],
) -> Result<HashMap<SessionId, Timestamp>> {
    let ids = session_ids(docs);
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let cursor = shared
        .coll(Role::Leases)
        .aggregate(live_pipeline(shared, ids))
        .await
        .map_err(crate::errors::ctx("read sessions"))?;
    expiries(collect(cursor, "read sessions").await?)
}

/// [`read`] and [`live_sessions`] inside a transaction.
pub(crate) async fn read_in(
    shared: &Shared,
    session: &mut ClientSession,
    filter: Document,
) -> Result<(Vec<LeaseDoc>, HashMap<SessionId, Timestamp>)> {
    let cursor = shared
        .coll(Role::Leases)
        .aggregate(read_pipeline(shared, filter))
        .session(&mut *session)
        .await
        .map_err(crate::errors::ctx("read fences"))?;
    let docs: Vec<LeaseDoc> = collect_in(cursor, session, "read fences")
        .await?
        .iter()
        .map(lease_doc)
        .collect::<Result<_>>()?;
    let ids = session_ids(&docs);
    if ids.is_empty() {
        return Ok((docs, HashMap::new()));
    }
    let cursor = shared
        .coll(Role::Leases)
        .aggregate(live_pipeline(shared, ids))
        .session(&mut *session)
        .await
        .map_err(crate::errors::ctx("read fence sessions"))?;
    let live = expiries(collect_in(cursor, session, "read fence sessions").await?)?;
    Ok((docs, live))
}

impl LeaseDoc {
    /// The expiry of this lease's session among `live` ones.
    pub fn session_expiry(&self, live: &HashMap<SessionId, Timestamp>) -> Option<Timestamp> {
        self.slot.session.and_then(|id| live.get(&id).copied())
    }

    /// The live lease this document describes, if any.
    pub fn lease(&self, live: &HashMap<SessionId, Timestamp>) -> Option<Lease> {
        self.slot
            .lease(&self.shard, self.now, self.session_expiry(live))
    }
}

/// The live leases among lease documents matching `filter`, in document order.
pub(crate) async fn live_leases(shared: &Shared, filter: Document) -> Result<Vec<Lease>> {
    let docs = read(shared, filter).await?;
    let live = live_sessions(shared, &docs).await?;
    Ok(docs.iter().filter_map(|d| d.lease(&live)).collect())
}
