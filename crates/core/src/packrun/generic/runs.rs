use crate::codec::{from_json, millis_of_ordered_key, ordered_millis_key, to_json};
use crate::error::{Error, Result};
use crate::packrun::{
    restored_version, validate_run_id, validate_tenant_id as validate_tenant, LogEntry, PackRun,
    Restored, RunBundle, RunCursor, RunEntry, RunPage, RunQuery, RunStore,
};
use crate::record::{Record, Scan};
use crate::time::{SharedClock, Timestamp};
use crate::{Batch, Fence, Precondition, RecordStore};
use async_trait::async_trait;
use serde_json::Value;
use std::sync::Arc;

const RUNS: &str = "pack_runs";
const BY_UPDATED: &str = "pack_runs.by_updated";
/// Document field holding how far a run's version is ahead of its record's version: a
/// restored run keeps its exported version, which the record store's own counter cannot be
/// set to. Absent means 0.
const VERSION_BASE: &str = "versionBase";

/// A stored run with its record's version and its [`VERSION_BASE`].
struct Stored {
    run: PackRun,
    record: u64,
    base: u64,
}

fn decode(record: Record) -> Result<Stored> {
    let base = record
        .value
        .get(VERSION_BASE)
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let mut run: PackRun = from_json(record.value, "pack run")?;
    run.version = record.version + base;
    Ok(Stored {
        run,
        record: record.version,
        base,
    })
}

fn encode(run: &PackRun, base: u64) -> Result<Value> {
    let mut value = to_json(run)?;
    if let (Value::Object(fields), true) = (&mut value, base > 0) {
        fields.insert(VERSION_BASE.into(), base.into());
    }
    Ok(value)
}

fn by_tenant(tenant: &str) -> String {
    format!("pack_runs.by_tenant:{tenant}")
}

fn index_key(updated_at: Timestamp, id: &str) -> String {
    format!("{}\u{1f}{id}", ordered_millis_key(updated_at.millis()))
}

/// The listing position an index key stands for.
fn position_of(key: &str) -> Option<RunCursor> {
    let (millis, id) = key.split_once('\u{1f}')?;
    Some(RunCursor {
        updated_at: Timestamp::from_millis(millis_of_ordered_key(millis)?),
        id: id.to_owned(),
    })
}

/// [`RunStore`] over a [`RecordStore`].
pub struct GenericRuns {
    records: Arc<dyn RecordStore>,
    clock: SharedClock,
}

impl GenericRuns {
    /// Runs kept in `records`, stamped by `clock`.
    pub fn new(records: Arc<dyn RecordStore>, clock: SharedClock) -> Self {
        GenericRuns { records, clock }
    }

    fn put_indexes(batch: &mut Batch, run: &PackRun) {
        let key = index_key(run.updated_at, &run.id);
        batch.put(BY_UPDATED, &key, Value::Null);
        if let Some(t) = &run.tenant_id {
            batch.put(&by_tenant(t), &key, Value::Null);
        }
    }

    fn delete_indexes(batch: &mut Batch, run: &PackRun) {
        let key = index_key(run.updated_at, &run.id);
        batch.delete(BY_UPDATED, &key);
        if let Some(t) = &run.tenant_id {
            batch.delete(&by_tenant(t), &key);
        }
    }

    async fn stored(&self, id: &str) -> Result<Option<Stored>> {
        self.records.get(RUNS, id).await?.map(decode).transpose()
    }

    async fn update_with(&self, mut run: PackRun, fence: Option<&Fence>) -> Result<PackRun> {
        validate_run_id(&run.id)?;
        validate_tenant(&run.tenant_id)?;
        let current = self
            .stored(&run.id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("pack run {}", run.id)))?;
        // A fenced update lets the batch judge, fence first: a stale owner hears "claim lost".
        if current.run.version != run.version && fence.is_none() {
            return Err(Error::conflict(
                0,
                RUNS,
                &run.id,
                format!(
                    "expected version {}, found {}",
                    run.version, current.run.version
                ),
            ));
        }
        // Below the base no record version matches (records start at 1).
        let expected = run.version.saturating_sub(current.base);
        run.created_at = current.run.created_at;
        run.updated_at = self.clock.now();
        let mut batch = Batch::new();
        if let Some(f) = fence {
            batch.fence(f);
        }
        let at = batch.len();
        batch
            .put(RUNS, &run.id, encode(&run, current.base)?)
            .when(Precondition::Version(expected));
        Self::delete_indexes(&mut batch, &current.run);
        Self::put_indexes(&mut batch, &run);
        let done = match self.records.commit(batch).await {
            Err(Error::Conflict { reason, .. }) => {
                return Err(Error::conflict(0, RUNS, &run.id, reason))
            }
            other => other?,
        };
        let record = done
            .versions
            .get(at)
            .copied()
            .flatten()
            .unwrap_or(expected + 1);
        run.version = record + current.base;
        Ok(run)
    }

    /// One attempt at [`RunStore::restore_bundle`]: everything in one batch, guarded by what
    /// was read, so a concurrent writer makes it conflict rather than interleave.
    async fn restore_once(&self, bundle: &RunBundle) -> Result<(Batch, Restored)> {
        let id = &bundle.run.id;
        let current = self.stored(id).await?;
        let logs = super::logs::collection(id);
        let keys: Vec<String> = bundle
            .logs
            .iter()
            .map(|e| super::logs::key(e.sequence))
            .collect();
        let stored_logs = self
            .records
            .get_many(&logs, &keys)
            .await?
            .into_iter()
            .flatten()
            .map(|r| from_json::<LogEntry>(r.value, "log entry"))
            .collect::<Result<Vec<_>>>()?;
        let fresh = bundle.new_logs(&stored_logs)?;
        let mut batch = Batch::new();
        for e in &fresh {
            batch
                .put(&logs, &super::logs::key(e.sequence), to_json(e)?)
                .when(Precondition::Absent);
        }
        let artifacts = super::artifacts::collection(id);
        for a in &bundle.artifacts {
            batch.put(&artifacts, &a.name, to_json(a)?);
        }
        let approvals = super::approvals::collection(id);
        for a in &bundle.approvals {
            batch.put(&approvals, &a.approval_id, to_json(a)?);
        }
        let run = match (
            restored_version(&bundle.run, current.as_ref().map(|c| &c.run)),
            current,
        ) {
            (None, Some(c)) => {
                batch.check(RUNS, id, Precondition::Version(c.record));
                c.run
            }
            (version, current) => {
                let mut run = bundle.run.clone();
                run.version = version.unwrap_or(run.version);
                let (guard, record) = match &current {
                    Some(c) => (Precondition::Version(c.record), c.record + 1),
                    None => (Precondition::Absent, 1),
                };
                batch
                    .put(RUNS, id, encode(&run, run.version.saturating_sub(record))?)
                    .when(guard);
                if let Some(c) = &current {
                    Self::delete_indexes(&mut batch, &c.run);
                }
                Self::put_indexes(&mut batch, &run);
                run
            }
        };
        let logs = fresh.len() as u64;
        Ok((batch, Restored { run, logs }))
    }
}

#[async_trait]
impl RunStore for GenericRuns {
    async fn create(&self, mut run: PackRun) -> Result<PackRun> {
        validate_run_id(&run.id)?;
        validate_tenant(&run.tenant_id)?;
        let now = self.clock.now();
        run.created_at = now;
        run.updated_at = now;
        run.version = 0;
        let mut batch = Batch::new();
        batch
            .put(RUNS, &run.id, to_json(&run)?)
            .when(Precondition::Absent);
        Self::put_indexes(&mut batch, &run);
        match self.records.commit(batch).await {
            Ok(done) => {
                run.version = done.versions.first().copied().flatten().unwrap_or(1);
                Ok(run)
            }
            Err(Error::Conflict { .. }) => Err(Error::conflict(
                0,
                RUNS,
                &run.id,
                "a run with this id exists",
            )),
            Err(e) => Err(e),
        }
    }

    async fn get(&self, id: &str) -> Result<Option<PackRun>> {
        validate_run_id(id)?;
        Ok(self.stored(id).await?.map(|s| s.run))
    }

    async fn update(&self, run: PackRun) -> Result<PackRun> {
        self.update_with(run, None).await
    }

    async fn update_fenced(&self, run: PackRun, fence: &Fence) -> Result<PackRun> {
        self.update_with(run, Some(fence)).await
    }

    async fn restore_bundle(&self, bundle: &RunBundle) -> Result<Restored> {
        bundle.validate()?;
        let mut attempt = 0;
        loop {
            let (batch, restored) = self.restore_once(bundle).await?;
            match self.records.commit(batch).await {
                Ok(_) => return Ok(restored),
                Err(Error::Conflict { .. }) if attempt < super::CAS_RETRIES => attempt += 1,
                Err(e) => return Err(e),
            }
        }
    }

    async fn list_page(&self, query: &RunQuery) -> Result<RunPage> {
        validate_tenant(&query.tenant)?;
        let collection = match &query.tenant {
            Some(t) => by_tenant(t),
            None => BY_UPDATED.to_owned(),
        };
        let mut scan = Scan::all().reversed().limit(query.limit);
        if let Some(after) = &query.after {
            scan = scan.after(index_key(after.updated_at, &after.id));
        }
        // The index entry gives each run's place in the listing, even when its document is
        // damaged, so paging moves past it.
        let positions: Vec<RunCursor> = self
            .records
            .scan(&collection, &scan)
            .await?
            .into_iter()
            .filter_map(|r| position_of(&r.key))
            .collect();
        if positions.is_empty() {
            return Ok(RunPage::default());
        }
        let keys: Vec<String> = positions.iter().map(|p| p.id.clone()).collect();
        let found = self.records.get_many(RUNS, &keys).await?;
        let entries = positions
            .into_iter()
            .zip(found)
            .filter_map(|(position, record)| {
                let record = record?;
                let run = decode(record).map(|s| s.run);
                Some(RunEntry {
                    key: position.id.clone(),
                    position: Some(position),
                    run,
                })
            })
            .collect();
        RunPage::collect(entries, query.limit)
    }
}
