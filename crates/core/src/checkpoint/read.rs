//! Reading checkpoints: the current one, by id, history pages with metadata filters, pending
//! writes, and the runs and namespaces that have checkpoints.

use super::layout::{
    after_namespace, namespace_key_of, namespace_prefix, validate_id, Head, RunKeys, HEADS,
    HISTORY, METADATA, SEP, WRITES,
};
use super::{validate_namespace, validate_run, Checkpoint, Checkpoints, ListQuery, PendingWrite};
use crate::codec::from_json;
use crate::error::Result;
use crate::record::{Record, Scan};

/// Index entries read per round trip while a filtered page fills.
const FILTER_PAGE: usize = 128;

fn decode(record: Record) -> Result<Checkpoint> {
    from_json(record.value, "checkpoint")
}

impl Checkpoints {
    /// The run's current checkpoint: its newest history entry, unless the run was cleared
    /// since or has expired.
    pub async fn read(&self, pipeline: &str, run: &str) -> Result<Option<Checkpoint>> {
        validate_run(pipeline, run)?;
        let keys = RunKeys::new(pipeline, run);
        match self.head(&keys).await? {
            Some(h) if h.head.active => self.newest(&keys).await,
            _ => Ok(None),
        }
    }

    /// The run's newest history entry (one reverse range read of one key).
    async fn newest(&self, keys: &RunKeys) -> Result<Option<Checkpoint>> {
        let scan = Scan::prefix(keys.prefix.clone()).reversed().limit(1);
        let mut found = self.records.scan(HISTORY, &scan).await?;
        found.pop().map(decode).transpose()
    }

    /// Checkpoint `id` of the run, if it exists (cleared or not) and the run has not expired.
    pub async fn get(&self, pipeline: &str, run: &str, id: &str) -> Result<Option<Checkpoint>> {
        validate_run(pipeline, run)?;
        validate_id("checkpoint id", id)?;
        let keys = RunKeys::new(pipeline, run);
        if self.head(&keys).await?.is_none() {
            return Ok(None);
        }
        self.records
            .get(HISTORY, &keys.entry(id))
            .await?
            .map(decode)
            .transpose()
    }

    /// The run's checkpoints, newest (greatest id) first, paged and filtered by `query`.
    ///
    /// Unfiltered, one reverse range read; filtered, reverse range reads of the metadata
    /// index for the first filter field and one `get_many` per page of matches.
    pub async fn list(
        &self,
        pipeline: &str,
        run: &str,
        query: &ListQuery,
    ) -> Result<Vec<Checkpoint>> {
        validate_run(pipeline, run)?;
        if let Some(before) = &query.before {
            validate_id("checkpoint id", before)?;
        }
        let keys = RunKeys::new(pipeline, run);
        let limit = query.limit.unwrap_or(usize::MAX);
        if limit == 0 || self.head(&keys).await?.is_none() {
            return Ok(Vec::new());
        }
        let Some((field, value)) = query.filter.iter().next() else {
            let mut scan = Scan::prefix(keys.prefix.clone()).reversed();
            scan.limit = query.limit;
            if let Some(before) = &query.before {
                scan = scan.after(keys.entry(before));
            }
            return self
                .records
                .scan(HISTORY, &scan)
                .await?
                .into_iter()
                .map(decode)
                .collect();
        };
        let index = keys.metadata_of(field, value);
        let mut cursor = query.before.as_ref().map(|b| format!("{index}{b}"));
        let mut out = Vec::new();
        loop {
            let mut scan = Scan::prefix(index.clone()).reversed().limit(FILTER_PAGE);
            scan.start_after = cursor.take();
            let page = self.records.scan(METADATA, &scan).await?;
            let Some(last) = page.last() else {
                return Ok(out);
            };
            cursor = Some(last.key.clone());
            let ids: Vec<String> = page
                .iter()
                .filter_map(|r| r.key.strip_prefix(&index).map(|id| keys.entry(id)))
                .collect();
            for record in self
                .records
                .get_many(HISTORY, &ids)
                .await?
                .into_iter()
                .flatten()
            {
                let cp = decode(record)?;
                // The index may name an entry since rewritten with other metadata.
                if query
                    .filter
                    .iter()
                    .all(|(f, v)| cp.metadata.get(f) == Some(v))
                {
                    out.push(cp);
                    if out.len() == limit {
                        return Ok(out);
                    }
                }
            }
            if page.len() < FILTER_PAGE {
                return Ok(out);
            }
        }
    }

    /// Every checkpoint of the run not pruned, newest first.
    pub async fn history(&self, pipeline: &str, run: &str) -> Result<Vec<Checkpoint>> {
        self.list(pipeline, run, &ListQuery::new()).await
    }

    /// The newest `limit` checkpoints of the run, newest first (one ordered range read).
    pub async fn recent(&self, pipeline: &str, run: &str, limit: usize) -> Result<Vec<Checkpoint>> {
        self.list(pipeline, run, &ListQuery::new().limit(limit))
            .await
    }

    /// The pending writes stored towards checkpoint `id` of the run, by task then index.
    pub async fn pending_writes(
        &self,
        pipeline: &str,
        run: &str,
        id: &str,
    ) -> Result<Vec<PendingWrite>> {
        validate_run(pipeline, run)?;
        validate_id("checkpoint id", id)?;
        let keys = RunKeys::new(pipeline, run);
        if self.head(&keys).await?.is_none() {
            return Ok(Vec::new());
        }
        self.records
            .scan(WRITES, &Scan::prefix(keys.writes_of(id)))
            .await?
            .into_iter()
            .map(|r| from_json(r.value, "pending write"))
            .collect()
    }

    /// The heads of the unexpired runs of `pipeline`, in run-key order.
    async fn heads_of(&self, pipeline: &str) -> Result<Vec<Head>> {
        validate_namespace(pipeline)?;
        let now = self.now();
        let mut out = Vec::new();
        for record in self
            .records
            .scan(HEADS, &Scan::prefix(namespace_prefix(pipeline)))
            .await?
        {
            let head: Head = from_json(record.value, "checkpoint head")?;
            if !matches!(head.expires_at, Some(at) if at <= now) {
                out.push(head);
            }
        }
        Ok(out)
    }

    /// The runs of `pipeline` that have checkpoints (and have not expired).
    pub async fn runs(&self, pipeline: &str) -> Result<Vec<String>> {
        Ok(self
            .heads_of(pipeline)
            .await?
            .into_iter()
            .map(|h| h.run)
            .collect())
    }

    /// The current checkpoint of every paused run of `pipeline`, newest `paused_on` first.
    pub async fn list_current(&self, pipeline: &str) -> Result<Vec<Checkpoint>> {
        let mut out = Vec::new();
        for head in self.heads_of(pipeline).await? {
            if head.active {
                let keys = RunKeys::new(pipeline, &head.run);
                out.extend(self.newest(&keys).await?);
            }
        }
        out.sort_by(|a, b| {
            b.paused_on
                .cmp(&a.paused_on)
                .then_with(|| b.entry_id.cmp(&a.entry_id))
        });
        Ok(out)
    }

    /// Every namespace with checkpoints, spelled out (also those hashed in keys), in key
    /// order: one short range read per namespace.
    pub async fn namespaces(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut scan = Scan::all().limit(1);
            scan.start_after = cursor.take();
            let Some(record) = self.records.scan(HEADS, &scan).await?.pop() else {
                return Ok(out);
            };
            cursor = Some(after_namespace(namespace_key_of(&record.key)));
            debug_assert!(record.key.contains(SEP));
            let head: Head = from_json(record.value, "checkpoint head")?;
            out.push(head.namespace);
        }
    }
}
