//! The typed layer: `Collection<T>` and `Item<T>` over a [`RecordStore`].

use crate::batch::{Batch, OpRef};
use crate::codec::{from_json, to_json};
use crate::error::Result;
use crate::limits::{validate_collection, validate_key};
use crate::record::{Record, Scan};
use crate::records::RecordStore;
use crate::time::Timestamp;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

/// Bookkeeping of a stored item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    /// When it was created.
    pub created_at: Timestamp,
    /// When it was last put.
    pub updated_at: Timestamp,
    /// 1 on create, +1 on every put.
    pub version: u64,
}

/// A typed value with its id and bookkeeping.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item<T> {
    /// Its key.
    pub id: String,
    /// Its bookkeeping.
    pub meta: Meta,
    /// The value.
    pub value: T,
}

impl<T: DeserializeOwned> Item<T> {
    /// Decodes a record; a value of another shape is [`Corrupt`](crate::Error::Corrupt).
    pub fn from_record(collection: &str, record: Record) -> Result<Self> {
        let what = format!("{collection}/{}", record.key);
        Ok(Item {
            meta: Meta {
                created_at: record.created_at,
                updated_at: record.updated_at,
                version: record.version,
            },
            value: from_json(record.value, &what)?,
            id: record.key,
        })
    }
}

/// A named collection of `T` values.
///
/// ```
/// # async fn demo(store: berth_core::Store) -> berth_core::Result<()> {
/// #[derive(serde::Serialize, serde::Deserialize)]
/// struct Worker { status: String }
/// let workers = store.collection::<Worker>("workers:proj")?;
/// let mut batch = berth_core::Batch::new();
/// workers.put_in(&mut batch, "w1", &Worker { status: "starting".into() })?;
/// store.commit(batch).await?;
/// assert_eq!(workers.get("w1").await?.map(|w| w.meta.version), Some(1));
/// # Ok(()) }
/// ```
pub struct Collection<T> {
    records: Arc<dyn RecordStore>,
    name: String,
    _type: PhantomData<fn() -> T>,
}

impl<T> Clone for Collection<T> {
    fn clone(&self) -> Self {
        Collection {
            records: self.records.clone(),
            name: self.name.clone(),
            _type: PhantomData,
        }
    }
}

impl<T> fmt::Debug for Collection<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Collection")
            .field("name", &self.name)
            .finish()
    }
}

/// Records are read in pages of this many by [`Collection::all`].
const PAGE: usize = 1000;

impl<T: Serialize + DeserializeOwned> Collection<T> {
    /// The collection `name` of `records`.
    pub fn new(records: Arc<dyn RecordStore>, name: impl Into<String>) -> Result<Self> {
        let name = name.into();
        validate_collection(&name)?;
        Ok(Collection {
            records,
            name,
            _type: PhantomData,
        })
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Reads one item.
    pub async fn get(&self, id: &str) -> Result<Option<Item<T>>> {
        match self.records.get(&self.name, id).await? {
            Some(r) => Item::from_record(&self.name, r).map(Some),
            None => Ok(None),
        }
    }

    /// Reads many items in one round trip; missing ids are left out of the map.
    pub async fn get_many(&self, ids: &[String]) -> Result<HashMap<String, Item<T>>> {
        let found = self.records.get_many(&self.name, ids).await?;
        let mut items = HashMap::with_capacity(found.len());
        for record in found.into_iter().flatten() {
            let item = Item::from_record(&self.name, record)?;
            items.insert(item.id.clone(), item);
        }
        Ok(items)
    }

    /// One page of items, ordered by key.
    pub async fn scan(&self, scan: &Scan) -> Result<Vec<Item<T>>> {
        self.records
            .scan(&self.name, scan)
            .await?
            .into_iter()
            .map(|r| Item::from_record(&self.name, r))
            .collect()
    }

    /// Every item, ordered by key.
    pub async fn all(&self) -> Result<Vec<Item<T>>> {
        let mut items = Vec::new();
        let mut scan = Scan::all().limit(PAGE);
        loop {
            let page = self.scan(&scan).await?;
            let done = page.len() < PAGE;
            if let Some(last) = page.last() {
                scan.start_after = Some(last.id.clone());
            }
            items.extend(page);
            if done {
                return Ok(items);
            }
        }
    }

    /// Number of items.
    pub async fn count(&self) -> Result<u64> {
        self.records.count(&self.name, "").await
    }

    /// Adds a put of `value` to `batch` (seed 000's `putItem`); attach a precondition with `.when`.
    pub fn put_in<'b>(&self, batch: &'b mut Batch, id: &str, value: &T) -> Result<OpRef<'b>> {
        validate_key(id)?;
        Ok(batch.put(&self.name, id, to_json(value)?))
    }

    /// Adds a raw put (any JSON, such as an empty index entry) to `batch`.
    pub fn put_raw_in<'b>(
        &self,
        batch: &'b mut Batch,
        id: &str,
        value: Value,
    ) -> Result<OpRef<'b>> {
        validate_key(id)?;
        Ok(batch.put(&self.name, id, value))
    }

    /// Adds a delete to `batch`.
    pub fn delete_in<'b>(&self, batch: &'b mut Batch, id: &str) -> Result<OpRef<'b>> {
        validate_key(id)?;
        Ok(batch.delete(&self.name, id))
    }

    /// Puts one item in its own batch and returns its new bookkeeping.
    pub async fn put(&self, id: &str, value: &T) -> Result<Meta> {
        let mut batch = Batch::new();
        self.put_in(&mut batch, id, value)?;
        self.records.commit(batch).await?;
        let item = self.get(id).await?;
        item.map(|i| i.meta)
            .ok_or_else(|| crate::Error::NotFound(format!("{}/{id}", self.name)))
    }

    /// Deletes one item in its own batch.
    pub async fn delete(&self, id: &str) -> Result<()> {
        let mut batch = Batch::new();
        self.delete_in(&mut batch, id)?;
        self.records.commit(batch).await.map(|_| ())
    }
}
