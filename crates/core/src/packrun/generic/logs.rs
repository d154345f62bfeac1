use crate::codec::{from_json, to_json};
use crate::error::{Error, Result};
use crate::packrun::{validate_run_id, LogEntry, LogStore};
use crate::record::Scan;
use crate::{Batch, Fence, Precondition, RecordStore};
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::sync::Arc;

pub(super) fn collection(run: &str) -> String {
    format!("pack_run_logs:{run}")
}

pub(super) fn key(sequence: u64) -> String {
    format!("{sequence:020}")
}

/// [`LogStore`] over a [`RecordStore`].
pub struct GenericLogs {
    records: Arc<dyn RecordStore>,
}

impl GenericLogs {
    /// Logs kept in `records`.
    pub fn new(records: Arc<dyn RecordStore>) -> Self {
        GenericLogs { records }
    }

    /// Builds the batch of entries not stored yet; errors on a different entry under a used sequence.
    async fn plan(&self, entries: &[LogEntry], fence: Option<&Fence>) -> Result<(Batch, usize)> {
        let mut by_run: BTreeMap<&str, Vec<(usize, &LogEntry)>> = BTreeMap::new();
        for (i, e) in entries.iter().enumerate() {
            by_run.entry(e.run_id.as_str()).or_default().push((i, e));
        }
        let mut batch = Batch::new();
        if let Some(f) = fence {
            batch.fence(f);
        }
        let mut fresh = 0;
        for (run, group) in by_run {
            let coll = collection(run);
            let keys: Vec<String> = group.iter().map(|(_, e)| key(e.sequence)).collect();
            let stored = self.records.get_many(&coll, &keys).await?;
            let mut pending: BTreeMap<u64, &LogEntry> = BTreeMap::new();
            for ((i, entry), existing) in group.iter().zip(stored) {
                let same_as = |other: &LogEntry| other == *entry;
                if let Some(record) = existing {
                    let old: LogEntry = from_json(record.value, "log entry")?;
                    if !same_as(&old) {
                        return Err(Error::conflict(
                            *i,
                            &coll,
                            &record.key,
                            "a different entry is stored under this sequence",
                        ));
                    }
                    continue;
                }
                match pending.get(&entry.sequence) {
                    Some(prev) if !same_as(prev) => {
                        return Err(Error::conflict(
                            *i,
                            &coll,
                            &key(entry.sequence),
                            "two different entries with one sequence in the same append",
                        ));
                    }
                    Some(_) => {}
                    None => {
                        pending.insert(entry.sequence, entry);
                        batch
                            .put(&coll, &key(entry.sequence), to_json(entry)?)
                            .when(Precondition::Absent);
                        fresh += 1;
                    }
                }
            }
        }
        Ok((batch, fresh))
    }

    async fn append_with(&self, entries: &[LogEntry], fence: Option<&Fence>) -> Result<usize> {
        for e in entries {
            validate_run_id(&e.run_id)?;
        }
        // A concurrent writer of the same sequences makes the commit conflict; planning again
        // then sees its entries and tells equal from different.
        let mut attempt = 0;
        loop {
            let (batch, fresh) = self.plan(entries, fence).await?;
            // A fenced append of nothing new still checks the fence: a stale owner hears it.
            if batch.is_empty() {
                return Ok(0);
            }
            match self.records.commit(batch).await {
                Ok(_) => return Ok(fresh),
                Err(Error::Conflict { .. }) if attempt < super::CAS_RETRIES => attempt += 1,
                Err(e) => return Err(e),
            }
        }
    }
}

#[async_trait]
impl LogStore for GenericLogs {
    async fn append(&self, entries: &[LogEntry]) -> Result<usize> {
        self.append_with(entries, None).await
    }

    async fn append_fenced(&self, entries: &[LogEntry], fence: &Fence) -> Result<usize> {
        self.append_with(entries, Some(fence)).await
    }

    async fn read(&self, run: &str, after: Option<u64>, limit: usize) -> Result<Vec<LogEntry>> {
        validate_run_id(run)?;
        let mut scan = Scan::all().limit(limit);
        if let Some(after) = after {
            scan = scan.after(key(after));
        }
        self.records
            .scan(&collection(run), &scan)
            .await?
            .into_iter()
            .map(|r| from_json(r.value, "log entry"))
            .collect()
    }

    async fn last_sequence(&self, run: &str) -> Result<Option<u64>> {
        validate_run_id(run)?;
        let last = self
            .records
            .scan(&collection(run), &Scan::all().reversed().limit(1))
            .await?;
        match last.into_iter().next() {
            None => Ok(None),
            Some(r) => {
                let entry: LogEntry = from_json(r.value, "log entry")?;
                Ok(Some(entry.sequence))
            }
        }
    }
}
