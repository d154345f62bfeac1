use crate::codec::{from_json, millis_of_ordered_key, ordered_millis_key, to_json};
use crate::error::{Error, Result};
use crate::packrun::{
    validate_run_id, validate_tenant_id as validate_tenant, PackRun, RunCursor, RunEntry, RunPage,
    RunQuery, RunStore,
};
use crate::record::Scan;
use crate::time::{SharedClock, Timestamp};
use crate::{Batch, Fence, Precondition, RecordStore};
use async_trait::async_trait;
use serde_json::Value;
use std::sync::Arc;

const RUNS: &str = "pack_runs";
const BY_UPDATED: &str = "pack_runs.by_updated";

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

    async fn update_with(&self, mut run: PackRun, fence: Option<&Fence>) -> Result<PackRun> {
        validate_run_id(&run.id)?;
        validate_tenant(&run.tenant_id)?;
        let current = self
            .get(&run.id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("pack run {}", run.id)))?;
        // A fenced update lets the batch judge, fence first: a stale owner hears "claim lost".
        if current.version != run.version && fence.is_none() {
            return Err(Error::conflict(
                0,
                RUNS,
                &run.id,
                format!(
                    "expected version {}, found {}",
                    run.version, current.version
                ),
            ));
        }
        let expected = run.version;
        run.created_at = current.created_at;
        run.updated_at = self.clock.now();
        let mut batch = Batch::new();
        if let Some(f) = fence {
            batch.fence(f);
        }
        let at = batch.len();
        batch
            .put(RUNS, &run.id, to_json(&run)?)
            .when(Precondition::Version(expected));
        Self::delete_indexes(&mut batch, &current);
        Self::put_indexes(&mut batch, &run);
        let done = match self.records.commit(batch).await {
            Err(Error::Conflict { reason, .. }) => {
                return Err(Error::conflict(0, RUNS, &run.id, reason))
            }
            other => other?,
        };
        run.version = done
            .versions
            .get(at)
            .copied()
            .flatten()
            .unwrap_or(expected + 1);
        Ok(run)
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
        let Some(record) = self.records.get(RUNS, id).await? else {
            return Ok(None);
        };
        let mut run: PackRun = from_json(record.value, "pack run")?;
        run.version = record.version;
        Ok(Some(run))
    }

    async fn update(&self, run: PackRun) -> Result<PackRun> {
        self.update_with(run, None).await
    }

    async fn update_fenced(&self, run: PackRun, fence: &Fence) -> Result<PackRun> {
        self.update_with(run, Some(fence)).await
    }

    async fn restore(&self, mut run: PackRun) -> Result<PackRun> {
        validate_run_id(&run.id)?;
        validate_tenant(&run.tenant_id)?;
        let mut attempt = 0;
        loop {
            let current = self.get(&run.id).await?;
            let mut batch = Batch::new();
            let guard = match &current {
                Some(c) => Precondition::Version(c.version),
                None => Precondition::Absent,
            };
            batch.put(RUNS, &run.id, to_json(&run)?).when(guard);
            if let Some(c) = &current {
                Self::delete_indexes(&mut batch, c);
            }
            Self::put_indexes(&mut batch, &run);
            match self.records.commit(batch).await {
                Ok(done) => {
                    run.version = done.versions.first().copied().flatten().unwrap_or(1);
                    return Ok(run);
                }
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
                let run = from_json::<PackRun>(record.value, "pack run").map(|mut run| {
                    run.version = record.version;
                    run
                });
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
