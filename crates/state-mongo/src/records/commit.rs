//! Committing a batch: read what it touches, stage it, write it with optimistic guards.
//!
//! One attempt is: one `find` of the touched records (and one of the fenced leases), staging
//! in memory, then the writes as multi-statement `update`/`delete` commands whose every
//! statement is guarded by the version read (or by the unique `(c, k)` index for a create).
//! A statement that matches nothing means someone wrote in between: the attempt is dropped
//! and the batch staged again, so a precondition is always judged on fresh state. Batches of
//! more than one op (and fenced ones) run in a transaction; a single op needs none, because
//! its one guarded statement is atomic by itself. Attempts that lost a race (or met a
//! transient transaction error) are retried with capped exponential back-off and jitter
//! until the operation's deadline, so contending writers spread out instead of giving up.

use super::layout::{encode, meta, record_id, Meta};
use super::stage::{slots_of, stage, Staged};
use crate::errors::{
    is_duplicate_code, is_transient_transaction, is_unknown_commit, map, raw_error,
    raw_write_errors,
};
use crate::schema::Role;
use crate::session_docs::{self, sid};
use crate::shared::{collect_in, Shared};
use berth_core::{
    Backoff, Batch, Committed, Error, OpKind, Precondition, Result, SessionId, Timestamp,
};
use mongodb::bson::oid::ObjectId;
use mongodb::bson::{doc, Bson, Document};
use mongodb::error::Error as DriverError;
use mongodb::ClientSession;
use std::collections::HashMap;
use std::time::Instant;

/// Times a commit whose outcome is unknown is sent again.
const COMMIT_RETRIES: usize = 3;
/// Payload bytes per write command, well under the 16 MiB command limit.
const COMMAND_BYTES: usize = 8 * 1024 * 1024;

/// Why an attempt stopped.
enum Abort {
    /// Someone else wrote what the batch read: stage again.
    Stale,
    /// A transient transaction error: run the transaction again.
    Transient,
    /// A final answer.
    Fail(Error),
}

impl From<Error> for Abort {
    fn from(e: Error) -> Self {
        Abort::Fail(e)
    }
}

fn driver(what: &'static str) -> impl Fn(DriverError) -> Abort {
    move |e| {
        if is_transient_transaction(&e) {
            Abort::Transient
        } else {
            Abort::Fail(map(what, e))
        }
    }
}

pub(crate) async fn commit(shared: &Shared, batch: Batch) -> Result<Committed> {
    batch.validate()?;
    if batch.is_empty() {
        return Ok(Committed {
            versions: Vec::new(),
            at: shared.clock.now(),
        });
    }
    let fenced = batch
        .ops()
        .iter()
        .any(|op| matches!(op.precondition, Some(Precondition::Fence { .. })));
    let transaction = batch.len() > 1 || fenced;
    if transaction && !shared.server.transactions {
        return Err(Error::Unsupported(format!(
            "a batch of {} op(s){} needs a MongoDB replica set: this server reports no transaction \
             support (standalone mongod); run it as a replica set (even of one node), or commit \
             single unfenced ops",
            batch.len(),
            if fenced { " with a fence" } else { "" }
        )));
    }
    // Encode every value once; the size was checked by validate().
    let mut values: Vec<Option<Vec<u8>>> = Vec::with_capacity(batch.len());
    for op in batch.ops() {
        values.push(match &op.kind {
            OpKind::Put(v) => {
                Some(serde_json::to_vec(v).map_err(|e| Error::invalid("value", e.to_string()))?)
            }
            _ => None,
        });
    }
    let deadline = Instant::now() + shared.op_timeout;
    let backoff = Backoff::default();
    let mut retries: u32 = 0;
    loop {
        if retries > 0 {
            match backoff.delay_before(retries - 1, deadline) {
                Some(delay) => tokio::time::sleep(delay).await,
                None => {
                    return Err(Error::backend_msg(
                        format!(
                            "mongodb commit met concurrent writers on every one of {retries} \
                             attempts until its deadline ({:?})",
                            shared.op_timeout
                        ),
                        true,
                    ))
                }
            }
        }
        retries += 1;
        let now = shared.clock.now();
        let mut session = shared
            .client
            .start_session()
            .await
            .map_err(|e| map("start session", e))?;
        if transaction {
            session
                .start_transaction()
                .await
                .map_err(|e| map("start transaction", e))?;
        }
        let outcome = attempt(shared, &mut session, &batch, &values, now, transaction).await;
        match outcome {
            Ok(versions) => {
                if !transaction {
                    return Ok(Committed { versions, at: now });
                }
                match commit_transaction(&mut session).await {
                    Ok(()) => return Ok(Committed { versions, at: now }),
                    Err(e) if is_transient_transaction(&e) => continue,
                    Err(e) => return Err(map("commit transaction", e)),
                }
            }
            Err(abort) => {
                if transaction {
                    // Aborting is best effort: the server drops an unfinished transaction anyway.
                    let _ = session.abort_transaction().await;
                }
                match abort {
                    Abort::Stale | Abort::Transient => continue,
                    Abort::Fail(e) => return Err(e),
                }
            }
        }
    }
}

async fn commit_transaction(session: &mut ClientSession) -> std::result::Result<(), DriverError> {
    let mut tries = 0;
    loop {
        match session.commit_transaction().await {
            Err(e) if is_unknown_commit(&e) && tries < COMMIT_RETRIES => tries += 1,
            other => return other,
        }
    }
}

async fn attempt(
    shared: &Shared,
    session: &mut ClientSession,
    batch: &Batch,
    values: &[Option<Vec<u8>>],
    now: Timestamp,
    in_transaction: bool,
) -> std::result::Result<Vec<Option<u64>>, Abort> {
    let ops = batch.ops();
    let originals = read_originals(shared, session, &slots_of(ops)).await?;
    let fence_shards: Vec<&str> = ops
        .iter()
        .filter_map(|op| match &op.precondition {
            Some(Precondition::Fence { shard, .. }) => Some(shard.as_str()),
            _ => None,
        })
        .collect();
    let (leases, fence_sessions) = if fence_shards.is_empty() {
        (HashMap::new(), HashMap::new())
    } else {
        live_leases(shared, session, &fence_shards).await?
    };
    let mut staged = stage(ops, originals, &leases, now)?;
    staged.fence_sessions = fence_sessions;
    write(shared, session, &staged, values, now, in_transaction).await?;
    Ok(staged.versions)
}

/// The stored bookkeeping of every slot, aligned with `slots`.
async fn read_originals(
    shared: &Shared,
    session: &mut ClientSession,
    slots: &[(String, String)],
) -> std::result::Result<Vec<Option<Meta>>, Abort> {
    // One `_id` lookup whatever the collections: served by the primary index everywhere
    // (an `$or` per collection would scan on some servers).
    let ids: Vec<String> = slots.iter().map(|(c, k)| record_id(c, k)).collect();
    let filter = doc! {"_id": {"$in": ids}};
    let cursor = shared
        .coll(Role::Records)
        .find(filter)
        .projection(doc! {"v": 0})
        .session(&mut *session)
        .await
        .map_err(driver("read batch keys"))?;
    let docs = collect_in(cursor, session, "read batch keys").await?;
    let mut found: HashMap<(String, String), Meta> = HashMap::new();
    for d in &docs {
        let c = crate::bson_json::stored_str(d, "c", "record")?.to_owned();
        let k = crate::bson_json::stored_str(d, "k", "record")?.to_owned();
        found.insert((c, k), meta(d)?);
    }
    Ok(slots.iter().map(|s| found.remove(s)).collect())
}

/// Shard → token of each of `shards` whose lease is held and unexpired (its session too),
/// and shard → session of those held in a session.
async fn live_leases(
    shared: &Shared,
    session: &mut ClientSession,
    shards: &[&str],
) -> std::result::Result<(HashMap<String, u64>, HashMap<String, SessionId>), Abort> {
    let filter = doc! {"_id": {"$in": shards}, "owner": {"$ne": Bson::Null}};
    let (docs, live) = session_docs::read_in(shared, session, filter).await?;
    let mut tokens = HashMap::new();
    let mut sessions = HashMap::new();
    for d in docs.iter().filter(|d| d.lease(&live).is_some()) {
        tokens.insert(d.shard.clone(), d.slot.token);
        if let Some(id) = d.slot.session {
            sessions.insert(d.shard.clone(), id);
        }
    }
    Ok((tokens, sessions))
}

/// The writes of a staged batch, each guarded by what was read.
async fn write(
    shared: &Shared,
    session: &mut ClientSession,
    staged: &Staged,
    values: &[Option<Vec<u8>>],
    now: Timestamp,
    in_transaction: bool,
) -> std::result::Result<(), Abort> {
    let mut inserts: Vec<(Document, usize)> = Vec::new();
    let mut updates: Vec<(Document, usize)> = Vec::new();
    let mut deletes: Vec<Document> = Vec::new();
    let mut chunks: Vec<Document> = Vec::new();
    let mut new_generations: Vec<ObjectId> = Vec::new();
    let mut old_generations: Vec<ObjectId> = Vec::new();
    for slot in staged.slots.iter().filter(|s| !s.written && s.checked) {
        // A record only checked, not written, is still guarded: bumping a counter on it makes a
        // concurrent writer conflict with this transaction (and a changed version shows here).
        if let Some(m) = &slot.original {
            let q = doc! {
                "_id": record_id(&slot.collection, &slot.key),
                "ver": crate::bson_json::to_i64(m.version, "version")?,
            };
            updates.push((doc! {"q": q, "u": {"$inc": {"checks": 1_i64}}}, 256));
        }
    }
    for slot in staged.slots.iter().filter(|s| s.written) {
        if let Some(g) = slot.original.as_ref().and_then(|m| m.generation) {
            old_generations.push(g);
        }
        let guard = match &slot.original {
            Some(m) => Some(doc! {
                "_id": record_id(&slot.collection, &slot.key),
                "ver": crate::bson_json::to_i64(m.version, "version")?,
            }),
            None => None,
        };
        match (slot.staged, guard) {
            (Some((version, created_at, op)), guard) => {
                let json = values.get(op).cloned().flatten().unwrap_or_default();
                let size = json.len() + slot.key.len() + slot.collection.len() + 256;
                let (record, parts, generation) =
                    encode(&slot.collection, &slot.key, json, version, created_at, now)?;
                chunks.extend(parts);
                new_generations.extend(generation);
                match guard {
                    Some(q) => updates.push((doc! {"q": q, "u": record}, size)),
                    // A create is an insert: a concurrent create hits the unique index instead
                    // of being overwritten.
                    None => inserts.push((record, size)),
                }
            }
            (None, Some(q)) => deletes.push(doc! {"q": q, "limit": 1}),
            (None, None) => {}
        }
    }
    let writes = Writes {
        inserts,
        updates,
        deletes,
        chunks,
    };
    let result = write_guarded(shared, session, staged, writes).await;
    match result {
        Ok(()) => {
            if !old_generations.is_empty() {
                shared
                    .coll(Role::Chunks)
                    .delete_many(doc! {"g": {"$in": old_generations}})
                    .session(&mut *session)
                    .await
                    .map_err(driver("delete replaced chunks"))?;
            }
            Ok(())
        }
        Err(abort) => {
            if !new_generations.is_empty() && !in_transaction {
                // Outside a transaction the fresh chunks were written; nothing names them.
                let _ = shared
                    .coll(Role::Chunks)
                    .delete_many(doc! {"g": {"$in": new_generations}})
                    .session(&mut *session)
                    .await;
            }
            Err(abort)
        }
    }
}

/// The record and chunk writes of one attempt.
struct Writes {
    inserts: Vec<(Document, usize)>,
    updates: Vec<(Document, usize)>,
    deletes: Vec<Document>,
    chunks: Vec<Document>,
}

async fn write_guarded(
    shared: &Shared,
    session: &mut ClientSession,
    staged: &Staged,
    writes: Writes,
) -> std::result::Result<(), Abort> {
    let Writes {
        inserts,
        updates,
        deletes,
        chunks,
    } = writes;
    if !chunks.is_empty() {
        shared
            .coll(Role::Chunks)
            .insert_many(chunks)
            .session(&mut *session)
            .await
            .map_err(driver("insert value chunks"))?;
    }
    let records = Role::Records.name(&shared.names).to_owned();
    for group in groups(inserts) {
        let n = group.len();
        let command = doc! {"insert": &records, "documents": group, "ordered": true};
        run_guarded(shared, session, command, n, "insert records").await?;
    }
    for group in groups(updates) {
        let n = group.len();
        let command = doc! {"update": &records, "updates": group, "ordered": true};
        run_guarded(shared, session, command, n, "write records").await?;
    }
    if !deletes.is_empty() {
        let n = deletes.len();
        let command = doc! {"delete": &records, "deletes": deletes, "ordered": true};
        run_guarded(shared, session, command, n, "delete records").await?;
    }
    if !staged.fences.is_empty() {
        // Writing the fenced leases makes a concurrent takeover conflict with this transaction
        // instead of slipping in between the fence check and the commit.
        // A session-held lease is live while its session document is: that document is
        // written too, so closing the session concurrently conflicts with this transaction.
        let mut statements: Vec<Document> = Vec::new();
        for (shard, token) in &staged.fences {
            let token = crate::bson_json::to_i64(*token, "fence token")?;
            match staged.fence_sessions.get(shard) {
                Some(id) => {
                    statements.push(doc! {
                        "q": {"_id": shard, "token": token, "sid": sid(*id)},
                        "u": {"$inc": {"fencedWrites": 1_i64}},
                    });
                    statements.push(doc! {
                        "q": {
                            "_id": sid(*id),
                            "kind": "session",
                            "$expr": {"$gt": ["$exp", shared.now_expr()]},
                        },
                        "u": {"$inc": {"fencedWrites": 1_i64}},
                    });
                }
                None => statements.push(doc! {
                    "q": {
                        "_id": shard,
                        "token": token,
                        "owner": {"$ne": Bson::Null},
                        "$expr": {"$gt": ["$exp", shared.now_expr()]},
                    },
                    "u": {"$inc": {"fencedWrites": 1_i64}},
                }),
            }
        }
        let n = statements.len();
        let leases = Role::Leases.name(&shared.names).to_owned();
        let command = doc! {"update": leases, "updates": statements, "ordered": true};
        run_guarded(shared, session, command, n, "check fences").await?;
    }
    Ok(())
}

/// Splits statements into commands of at most [`COMMAND_BYTES`] payload (at least one each).
fn groups(statements: Vec<(Document, usize)>) -> Vec<Vec<Document>> {
    let mut out: Vec<Vec<Document>> = Vec::new();
    let mut bytes = 0;
    for (statement, size) in statements {
        match out.last_mut() {
            Some(group) if bytes + size <= COMMAND_BYTES => group.push(statement),
            _ => {
                out.push(vec![statement]);
                bytes = 0;
            }
        }
        bytes += size;
    }
    out
}

/// Runs a write command whose `expected` statements must each match (or upsert) one document.
async fn run_guarded(
    shared: &Shared,
    session: &mut ClientSession,
    command: Document,
    expected: usize,
    what: &'static str,
) -> std::result::Result<(), Abort> {
    let reply = shared
        .db
        .run_command(command)
        .session(&mut *session)
        .await
        .map_err(driver(what))?;
    let errors = raw_write_errors(&reply)?;
    if let Some(e) = errors.iter().find(|e| !is_duplicate_code(e.code)) {
        if e.code == 112 {
            return Err(Abort::Transient);
        }
        return Err(Abort::Fail(raw_error(what, e)));
    }
    let n = crate::errors::number(&reply, "n").unwrap_or(0);
    if !errors.is_empty() || usize::try_from(n).ok() != Some(expected) {
        tracing::debug!(
            what,
            expected,
            n,
            "guarded write lost a race; staging again"
        );
        return Err(Abort::Stale);
    }
    Ok(())
}
