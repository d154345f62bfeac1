//! [`EncryptedRecords`]: the record store decorator that seals chosen collections.

use crate::envelope::{is_envelope, kid, open, seal};
use crate::keyring::Keyring;
use crate::random::{OsRandom, RandomSource};
use async_trait::async_trait;
use berth_core::{
    Batch, Committed, ErrorKind, OpKind, Precondition, Record, RecordStore, Result, Scan, Store,
};
use std::fmt;
use std::sync::Arc;

/// Which collections are encrypted: exact names, or prefixes written `name*`.
#[derive(Debug, Clone, Default)]
pub struct Collections {
    patterns: Vec<String>,
}

impl Collections {
    /// The collections matching any of `patterns` (`api-keys:*`, `secrets:*`, `vault`).
    pub fn matching<I, S>(patterns: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Collections {
            patterns: patterns.into_iter().map(Into::into).collect(),
        }
    }

    /// Whether `collection` is encrypted.
    pub fn contains(&self, collection: &str) -> bool {
        self.patterns.iter().any(|p| match p.strip_suffix('*') {
            Some(prefix) => collection.starts_with(prefix),
            None => p == collection,
        })
    }
}

/// What a [`reencrypt`](EncryptedRecords::reencrypt) did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reencrypted {
    /// Values sealed again with the active key (old key or plain text before).
    pub rewritten: u64,
    /// Values already sealed with the active key.
    pub current: u64,
}

/// Encrypts the values of chosen collections before they reach the inner store, and decrypts
/// them on the way back; other collections pass through unchanged.
///
/// Each value is sealed with XChaCha20-Poly1305 under the keyring's active key and a random
/// 24-byte nonce, bound to its collection and key, and stored as an envelope naming the key
/// id. Keys, versions and timestamps stay in the clear, so scans, counts and preconditions
/// work as before. A value that cannot be opened fails the read with an [`EncryptionError`](crate::EncryptionError).
pub struct EncryptedRecords {
    inner: Arc<dyn RecordStore>,
    keyring: Keyring,
    collections: Collections,
    random: Arc<dyn RandomSource>,
}

impl fmt::Debug for EncryptedRecords {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncryptedRecords")
            .field("keyring", &self.keyring)
            .field("collections", &self.collections)
            .finish_non_exhaustive()
    }
}

/// Records are re-encrypted in batches of this many.
const PAGE: usize = 256;
/// A page that keeps conflicting with concurrent writers is retried this often.
const RETRIES: usize = 5;

impl EncryptedRecords {
    /// `inner` with `collections` sealed under `keyring`, nonces from the OS.
    pub fn new(inner: Arc<dyn RecordStore>, keyring: Keyring, collections: Collections) -> Self {
        EncryptedRecords {
            inner,
            keyring,
            collections,
            random: Arc::new(OsRandom),
        }
    }

    /// This decorator drawing nonces from `random` (deterministic in traces).
    pub fn with_random(mut self, random: Arc<dyn RandomSource>) -> Self {
        self.random = random;
        self
    }

    /// `store` with its record store wrapped by this decorator.
    pub fn wrap_store(store: &Store, keyring: Keyring, collections: Collections) -> Store {
        Self::new(store.records().clone(), keyring, collections).into_store(store)
    }

    /// A handle like `store` whose records go through this decorator.
    ///
    /// The new handle has in-process [`KeyedLocks`](berth_core::KeyedLocks) of its own and
    /// the generic pack-run stores over the decorated records: give every user of the state
    /// this one handle.
    pub fn into_store(self, store: &Store) -> Store {
        Store::builder(
            store.backend(),
            Arc::new(self),
            store.leases().clone(),
            store.capabilities(),
            store.options().clone(),
        )
        .build()
    }

    fn open_record(&self, collection: &str, mut record: Record) -> Result<Record> {
        if self.collections.contains(collection) {
            record.value = open(&self.keyring, collection, &record.key, &record.value)?;
        }
        Ok(record)
    }

    /// Seals every value of `collection` that is not sealed with the active key (an older key,
    /// or plain text written before the collection was encrypted). Each rewrite is conditional
    /// on the version read, so a concurrent write is never lost; its version goes up by one.
    pub async fn reencrypt(&self, collection: &str) -> Result<Reencrypted> {
        if !self.collections.contains(collection) {
            return Err(berth_core::Error::invalid(
                "collection",
                format!("{collection} is not an encrypted collection"),
            ));
        }
        let span = tracing::debug_span!("encryption.reencrypt", collection);
        let _enter = span.enter();
        let active = self.keyring.active().to_owned();
        let mut report = Reencrypted::default();
        let mut cursor: Option<String> = None;
        loop {
            let mut attempt = 0;
            let (page_len, last) = loop {
                let mut scan = Scan::all().limit(PAGE);
                scan.start_after.clone_from(&cursor);
                let page = self.inner.scan(collection, &scan).await?;
                let mut batch = Batch::new();
                let mut current = 0;
                for record in &page {
                    if is_envelope(&record.value) && kid(&record.value) == Some(active.as_str()) {
                        current += 1;
                        continue;
                    }
                    let plain = if is_envelope(&record.value) {
                        open(&self.keyring, collection, &record.key, &record.value)?
                    } else {
                        record.value.clone()
                    };
                    let sealed = seal(
                        &self.keyring,
                        &*self.random,
                        collection,
                        &record.key,
                        &plain,
                    )?;
                    batch
                        .put(collection, &record.key, sealed)
                        .when(Precondition::Version(record.version));
                }
                let rewritten = batch.len() as u64;
                let last = page.last().map(|r| r.key.clone());
                if batch.is_empty() {
                    report.current += current;
                    break (page.len(), last);
                }
                match self.inner.commit(batch).await {
                    Ok(_) => {
                        report.rewritten += rewritten;
                        report.current += current;
                        break (page.len(), last);
                    }
                    Err(e) if e.kind() == ErrorKind::Conflict && attempt < RETRIES => {
                        attempt += 1;
                    }
                    Err(e) => return Err(e),
                }
            };
            if page_len < PAGE {
                tracing::debug!(
                    rewritten = report.rewritten,
                    current = report.current,
                    "re-encrypted"
                );
                return Ok(report);
            }
            cursor = last;
        }
    }
}

#[async_trait]
impl RecordStore for EncryptedRecords {
    async fn get_many(&self, collection: &str, keys: &[String]) -> Result<Vec<Option<Record>>> {
        let found = self.inner.get_many(collection, keys).await?;
        found
            .into_iter()
            .map(|r| r.map(|r| self.open_record(collection, r)).transpose())
            .collect()
    }

    async fn scan(&self, collection: &str, scan: &Scan) -> Result<Vec<Record>> {
        let page = self.inner.scan(collection, scan).await?;
        page.into_iter()
            .map(|r| self.open_record(collection, r))
            .collect()
    }

    async fn count(&self, collection: &str, prefix: &str) -> Result<u64> {
        self.inner.count(collection, prefix).await
    }

    async fn commit(&self, batch: Batch) -> Result<Committed> {
        // Checked before sealing, which serialises the values.
        batch.validate()?;
        let mut sealed = Batch::new();
        for mut op in batch.into_ops() {
            if let OpKind::Put(value) = &op.kind {
                if self.collections.contains(&op.collection) {
                    op.kind = OpKind::Put(seal(
                        &self.keyring,
                        &*self.random,
                        &op.collection,
                        &op.key,
                        value,
                    )?);
                }
            }
            sealed.push_op(op);
        }
        self.inner.commit(sealed).await
    }

    async fn get(&self, collection: &str, key: &str) -> Result<Option<Record>> {
        match self.inner.get(collection, key).await? {
            Some(r) => self.open_record(collection, r).map(Some),
            None => Ok(None),
        }
    }
}
