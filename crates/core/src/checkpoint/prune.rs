//! Pruning history by policy over many runs, and deleting runs whose time-to-live ran out.

use super::layout::{
    expiry_prefix, head_of_expiry, namespace_prefix, validate_namespace, Head, RunKeys, EXPIRY,
    HEADS, HISTORY, METADATA, SEP, WRITES,
};
use super::{validate_run, Checkpoint, Checkpoints};
use crate::batch::{Batch, Precondition};
use crate::codec::from_json;
use crate::error::Result;
use crate::record::Scan;
use std::collections::HashSet;
use std::time::Duration;

/// Runs handled per page while pruning or sweeping many.
const PAGE: usize = 256;

/// Which history entries [`prune`](Checkpoints::prune) removes: those beyond the newest
/// `keep_latest` of their run that are also older than `older_than` (if given). The newest
/// entry — the run's current checkpoint — is never removed (`keep_latest` is at least 1).
///
/// ```
/// use berth_core::PrunePolicy;
/// use std::time::Duration;
/// let policy = PrunePolicy::keep_latest(5).older_than(Duration::from_secs(86_400));
/// assert_eq!(policy.keep_latest, 5);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrunePolicy {
    /// Keep at least this many newest entries per run (0 counts as 1).
    pub keep_latest: usize,
    /// Remove only entries whose `paused_on` is more than this before now.
    pub older_than: Option<Duration>,
}

impl PrunePolicy {
    /// Keep the newest `n` entries of each run.
    pub fn keep_latest(n: usize) -> Self {
        PrunePolicy {
            keep_latest: n,
            older_than: None,
        }
    }

    /// Of the others, remove only those older than `age`.
    pub fn older_than(mut self, age: Duration) -> Self {
        self.older_than = Some(age);
        self
    }
}

impl Checkpoints {
    /// Applies `policy` to one run in one commit; returns how many checkpoints it removed
    /// (their pending writes and index entries go with them).
    pub async fn prune_run(
        &self,
        pipeline: &str,
        run: &str,
        policy: &PrunePolicy,
    ) -> Result<usize> {
        validate_run(pipeline, run)?;
        let keys = RunKeys::new(pipeline, run);
        self.retry_conflicts("prune", || self.prune_once(&keys, policy))
            .await
    }

    async fn prune_once(&self, keys: &RunKeys, policy: &PrunePolicy) -> Result<usize> {
        let Some(head) = self.records.get(HEADS, &keys.head).await? else {
            return Ok(0);
        };
        let entries = self
            .records
            .scan(HISTORY, &Scan::prefix(keys.prefix.clone()).reversed())
            .await?;
        let now = self.now();
        let mut doomed: HashSet<String> = HashSet::new();
        for record in entries.into_iter().skip(policy.keep_latest.max(1)) {
            let cp: Checkpoint = from_json(record.value, "checkpoint")?;
            if !matches!(policy.older_than, Some(age) if now.since(cp.paused_on) <= age) {
                doomed.insert(cp.entry_id);
            }
        }
        if doomed.is_empty() {
            return Ok(0);
        }
        let mut batch = Batch::new();
        // Guarded by the head: a write that lands meanwhile (say, pending writes to a
        // checkpoint about to go) makes this start again instead of leaving orphans.
        batch.check(HEADS, &keys.head, Precondition::Version(head.version));
        for id in &doomed {
            batch.delete(HISTORY, &keys.entry(id));
        }
        let scan = Scan::prefix(keys.prefix.clone());
        for record in self.records.scan(WRITES, &scan).await? {
            let id = record
                .key
                .strip_prefix(&keys.prefix)
                .and_then(|rest| rest.split(SEP).next());
            if id.is_some_and(|id| doomed.contains(id)) {
                batch.delete(WRITES, &record.key);
            }
        }
        for record in self.records.scan(METADATA, &scan).await? {
            let id = record.key.rsplit(SEP).next();
            if id.is_some_and(|id| doomed.contains(id)) {
                batch.delete(METADATA, &record.key);
            }
        }
        self.records.commit(batch).await?;
        Ok(doomed.len())
    }

    /// Applies `policy` to every run of `pipeline`, or of every namespace if `None`; returns
    /// how many checkpoints it removed. One commit per run that has something to remove.
    pub async fn prune(&self, pipeline: Option<&str>, policy: &PrunePolicy) -> Result<usize> {
        let prefix = match pipeline {
            Some(p) => {
                validate_namespace(p)?;
                namespace_prefix(p)
            }
            None => String::new(),
        };
        let mut removed = 0;
        let mut cursor: Option<String> = None;
        loop {
            let mut scan = Scan::prefix(prefix.clone()).limit(PAGE);
            scan.start_after = cursor.take();
            let page = self.records.scan(HEADS, &scan).await?;
            for record in &page {
                let head: Head = from_json(record.value.clone(), "checkpoint head")?;
                removed += self.prune_run(&head.namespace, &head.run, policy).await?;
            }
            match page.last() {
                Some(last) if page.len() == PAGE => cursor = Some(last.key.clone()),
                _ => return Ok(removed),
            }
        }
    }

    /// Deletes every run whose time-to-live has run out (each with
    /// [`delete_run`](Checkpoints::delete_run)); returns how many runs it deleted. Reads only
    /// the expiry index up to now.
    pub async fn sweep_expired(&self) -> Result<usize> {
        let now = self.now();
        let upto = expiry_prefix(now);
        let mut deleted = 0;
        loop {
            let page = self.records.scan(EXPIRY, &Scan::all().limit(PAGE)).await?;
            let due: Vec<_> = page
                .iter()
                .take_while(|r| r.key.split(SEP).next().is_some_and(|t| t <= upto.as_str()))
                .collect();
            if due.is_empty() {
                return Ok(deleted);
            }
            let mut stale = Batch::new();
            for record in &due {
                let head = match head_of_expiry(&record.key) {
                    Some(key) => self.records.get(HEADS, key).await?,
                    None => None,
                };
                let head: Option<Head> = head
                    .map(|r| from_json(r.value, "checkpoint head"))
                    .transpose()?;
                if let Some(h) = head.filter(|h| h.expires_at.is_some_and(|at| at <= now)) {
                    self.delete_run(&h.namespace, &h.run).await?;
                    deleted += 1;
                }
                // Handled, or stale (the run was refreshed to a later expiry, or is gone).
                stale.delete(EXPIRY, &record.key);
            }
            if !stale.is_empty() {
                self.records.commit(stale).await?;
            }
        }
    }

    /// Runs [`sweep_expired`](Checkpoints::sweep_expired) every `every` on the current tokio
    /// runtime until the returned handle is aborted; failures are logged and retried.
    pub fn spawn_sweeper(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        let checkpoints = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                match checkpoints.sweep_expired().await {
                    Ok(0) => {}
                    Ok(n) => tracing::debug!(runs = n, "deleted expired checkpoint runs"),
                    Err(e) => tracing::warn!(error = %e, "checkpoint sweep failed; retrying later"),
                }
            }
        })
    }
}
