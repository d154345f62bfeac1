//! [`LogStore`] on `pack_run_logs`, idempotent through the unique `(runId, sequence)` index.

use super::doc::{from_doc, to_doc};
use super::fenced::{fail, write_fenced, Fail};
use crate::errors::{ctx, is_duplicate_key, is_transient_transaction};
use crate::schema::Role;
use crate::shared::{collect, Shared};
use async_trait::async_trait;
use berth_core::packrun::{validate_run_id, LogEntry, LogStore};
use berth_core::{Error, Fence, Result};
use mongodb::bson::{doc, Document};
use std::collections::{BTreeMap, HashMap};
use tracing::Instrument;

const DATES: &[&str] = &["timestamp"];
/// Appends retried after racing a concurrent writer of the same sequences.
const APPEND_ATTEMPTS: usize = 16;
/// Marks a fenced append that raced a writer of the same sequences.
const RACED: &str = "raced a concurrent append";

pub(super) fn decode(d: Document) -> Result<LogEntry> {
    from_doc(d, DATES, None, "log entry")
}

pub(super) fn encode(e: &LogEntry) -> Result<Document> {
    to_doc(e, DATES, "log entry")
}

/// The MongoDB backend's native [`LogStore`].
#[derive(Debug, Clone)]
pub struct MongoLogs {
    shared: Shared,
}

impl MongoLogs {
    pub(crate) fn new(shared: Shared) -> Self {
        MongoLogs { shared }
    }

    /// The entries not stored yet; a conflict if one differs from what its sequence holds.
    async fn plan<'a>(&self, entries: &'a [LogEntry]) -> Result<Vec<&'a LogEntry>> {
        let mut pending: BTreeMap<(&str, u64), (usize, &LogEntry)> = BTreeMap::new();
        for (i, e) in entries.iter().enumerate() {
            match pending.get(&(e.run_id.as_str(), e.sequence)) {
                Some((_, prev)) if *prev != e => {
                    return Err(self.conflict(
                        i,
                        e,
                        "two different entries with one sequence in the same append",
                    ));
                }
                Some(_) => {}
                None => {
                    pending.insert((e.run_id.as_str(), e.sequence), (i, e));
                }
            }
        }
        let mut by_run: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
        for (run, seq) in pending.keys() {
            by_run
                .entry(run)
                .or_default()
                .push(crate::bson_json::to_i64(*seq, "sequence")?);
        }
        let branches: Vec<Document> = by_run
            .into_iter()
            .map(|(run, seqs)| doc! {"runId": run, "sequence": {"$in": seqs}})
            .collect();
        // One branch needs no `$or` (which some servers answer with a collection scan).
        let filter = match <[Document; 1]>::try_from(branches) {
            Ok([only]) => only,
            Err(branches) => doc! {"$or": branches},
        };
        let cursor = self
            .shared
            .coll(Role::Logs)
            .find(filter)
            .await
            .map_err(ctx("read log entries"))?;
        let mut stored: HashMap<(String, u64), LogEntry> = HashMap::new();
        for d in collect(cursor, "read log entries").await? {
            let e = decode(d)?;
            stored.insert((e.run_id.clone(), e.sequence), e);
        }
        let mut fresh: Vec<(usize, &LogEntry)> = Vec::new();
        for ((run, seq), (i, e)) in pending {
            match stored.get(&(run.to_owned(), seq)) {
                Some(old) if old != e => {
                    return Err(self.conflict(
                        i,
                        e,
                        "a different entry is stored under this sequence",
                    ));
                }
                Some(_) => {}
                None => fresh.push((i, e)),
            }
        }
        fresh.sort_by_key(|(i, _)| *i);
        Ok(fresh.into_iter().map(|(_, e)| e).collect())
    }

    fn conflict(&self, op: usize, e: &LogEntry, reason: &str) -> Error {
        Error::conflict(
            op,
            &self.shared.names.logs,
            &format!("{}/{}", e.run_id, e.sequence),
            reason,
        )
    }

    /// Inserts `fresh` all or nothing: in a transaction where the server has them.
    async fn insert(&self, docs: Vec<Document>) -> std::result::Result<(), mongodb::error::Error> {
        let logs = self.shared.coll(Role::Logs);
        if !self.shared.server.transactions || docs.len() == 1 {
            return logs.insert_many(docs).await.map(|_| ());
        }
        let mut session = self.shared.client.start_session().await?;
        session.start_transaction().await?;
        match logs.insert_many(docs).session(&mut session).await {
            Ok(_) => session.commit_transaction().await,
            Err(e) => {
                let _ = session.abort_transaction().await;
                Err(e)
            }
        }
    }

    async fn append_inner(&self, entries: &[LogEntry]) -> Result<usize> {
        for _ in 0..APPEND_ATTEMPTS {
            let fresh = self.plan(entries).await?;
            if fresh.is_empty() {
                return Ok(0);
            }
            let docs: Vec<Document> = fresh
                .iter()
                .map(|e| to_doc(*e, DATES, "log entry"))
                .collect::<Result<_>>()?;
            match self.insert(docs).await {
                Ok(()) => return Ok(fresh.len()),
                // A concurrent writer took some of these sequences: plan again to tell equal
                // entries from different ones.
                Err(e) if is_duplicate_key(&e) || is_transient_transaction(&e) => continue,
                Err(e) => return Err(ctx("append log entries")(e)),
            }
        }
        Err(Error::backend_msg(
            "log append kept racing concurrent writers",
            true,
        ))
    }

    /// [`append_inner`](Self::append_inner) in a transaction that holds `fence`; an append
    /// of nothing new still checks the fence, so a stale owner hears that its claim is lost.
    async fn append_fenced_inner(&self, entries: &[LogEntry], fence: &Fence) -> Result<usize> {
        for _ in 0..APPEND_ATTEMPTS {
            let fresh = self.plan(entries).await?;
            let count = fresh.len();
            let docs: Vec<Document> = fresh
                .iter()
                .map(|e| to_doc(*e, DATES, "log entry"))
                .collect::<Result<_>>()?;
            let logs = self.shared.coll(Role::Logs);
            let done = write_fenced(
                &self.shared,
                fence,
                Box::new(move |session| {
                    let (logs, docs) = (logs.clone(), docs.clone());
                    Box::pin(async move {
                        if docs.is_empty() {
                            return Ok(());
                        }
                        match logs.insert_many(docs).session(&mut *session).await {
                            Ok(_) => Ok(()),
                            // A concurrent writer took some of these sequences (the server
                            // aborted the transaction): plan again.
                            Err(e) if is_duplicate_key(&e) => {
                                Err(Fail::Error(Error::conflict(0, "", "", RACED)))
                            }
                            Err(e) => Err(fail("append log entries")(e)),
                        }
                    })
                }),
            )
            .await;
            match done {
                Ok(()) => return Ok(count),
                Err(Error::Conflict { reason, .. }) if reason == RACED => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Error::backend_msg(
            "log append kept racing concurrent writers",
            true,
        ))
    }
}

#[async_trait]
impl LogStore for MongoLogs {
    async fn append(&self, entries: &[LogEntry]) -> Result<usize> {
        for e in entries {
            validate_run_id(&e.run_id)?;
            crate::bson_json::to_i64(e.sequence, "sequence")?;
        }
        if entries.is_empty() {
            return Ok(0);
        }
        let span = tracing::debug_span!("mongo.logs.append", entries = entries.len());
        self.shared
            .deadline("append logs", self.append_inner(entries))
            .instrument(span)
            .await
    }

    async fn append_fenced(&self, entries: &[LogEntry], fence: &Fence) -> Result<usize> {
        for e in entries {
            validate_run_id(&e.run_id)?;
            crate::bson_json::to_i64(e.sequence, "sequence")?;
        }
        let span = tracing::debug_span!(
            "mongo.logs.append_fenced",
            entries = entries.len(),
            token = fence.token
        );
        self.shared
            .deadline("append logs", self.append_fenced_inner(entries, fence))
            .instrument(span)
            .await
    }

    async fn read(&self, run: &str, after: Option<u64>, limit: usize) -> Result<Vec<LogEntry>> {
        validate_run_id(run)?;
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut filter = doc! {"runId": run};
        if let Some(after) = after {
            match i64::try_from(after) {
                Ok(a) => filter.insert("sequence", doc! {"$gt": a}),
                Err(_) => return Ok(Vec::new()),
            };
        }
        let span = tracing::debug_span!("mongo.logs.read", run, after, limit);
        let fut = async {
            let cursor = self
                .shared
                .coll(Role::Logs)
                .find(filter)
                .sort(doc! {"sequence": 1})
                .limit(i64::try_from(limit).unwrap_or(i64::MAX))
                .await
                .map_err(ctx("read logs"))?;
            collect(cursor, "read logs")
                .await?
                .into_iter()
                .map(decode)
                .collect()
        };
        self.shared
            .deadline("read logs", fut)
            .instrument(span)
            .await
    }

    async fn last_sequence(&self, run: &str) -> Result<Option<u64>> {
        validate_run_id(run)?;
        let span = tracing::debug_span!("mongo.logs.last_sequence", run);
        let fut = async {
            let last = self
                .shared
                .coll(Role::Logs)
                .find_one(doc! {"runId": run})
                .sort(doc! {"sequence": -1})
                .projection(doc! {"sequence": 1})
                .await
                .map_err(ctx("read last log sequence"))?;
            last.map(|d| crate::bson_json::stored_u64(&d, "sequence", "log entry"))
                .transpose()
        };
        self.shared
            .deadline("last sequence", fut)
            .instrument(span)
            .await
    }
}
