//! Atomic batches of puts and deletes with preconditions.

use crate::error::{Error, Result};
use crate::limits::{validate_collection, validate_key, validate_value};
use crate::time::Timestamp;
use serde_json::Value;

/// A condition an op needs to hold, checked against the state left by the ops before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Precondition {
    /// The key must not exist.
    Absent,
    /// The key must exist.
    Exists,
    /// The key must exist with exactly this version.
    Version(u64),
    /// The shard lease must still be held (unexpired) with this fencing token.
    Fence {
        /// The shard of the lease.
        shard: String,
        /// The token of the grant the caller holds.
        token: u64,
    },
}

/// What an op does.
#[derive(Debug, Clone, PartialEq)]
pub enum OpKind {
    /// Create or replace the value.
    Put(Value),
    /// Remove the key (a missing key is not an error unless a precondition says so).
    Delete,
    /// Change nothing; only check the precondition.
    Check,
}

/// One op of a [`Batch`].
#[derive(Debug, Clone, PartialEq)]
pub struct Op {
    /// Collection name.
    pub collection: String,
    /// Key within the collection.
    pub key: String,
    /// What to do.
    pub kind: OpKind,
    /// Optional condition; if it fails, the whole batch fails.
    pub precondition: Option<Precondition>,
}

/// Puts, deletes and checks over any number of collections, committed all or nothing.
///
/// ```
/// use berth_core::{Batch, Precondition};
/// let mut batch = Batch::new();
/// batch.put("workers:p", "w1", serde_json::json!({"status": "starting"}))
///     .when(Precondition::Absent);
/// batch.delete("workers:p", "w0");
/// assert_eq!(batch.len(), 2);
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Batch {
    ops: Vec<Op>,
}

/// A handle to the op just added, to attach a precondition.
pub struct OpRef<'a> {
    op: &'a mut Op,
}

impl OpRef<'_> {
    /// Makes the op conditional on `precondition`.
    pub fn when(self, precondition: Precondition) {
        self.op.precondition = Some(precondition);
    }
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Self {
        Batch::default()
    }

    fn push(&mut self, collection: &str, key: &str, kind: OpKind) -> OpRef<'_> {
        self.ops.push(Op {
            collection: collection.to_owned(),
            key: key.to_owned(),
            kind,
            precondition: None,
        });
        let len = self.ops.len();
        OpRef {
            op: &mut self.ops[len - 1],
        }
    }

    /// Adds a put of `value` under `collection`/`key`.
    pub fn put(&mut self, collection: &str, key: &str, value: Value) -> OpRef<'_> {
        self.push(collection, key, OpKind::Put(value))
    }

    /// Adds a delete of `collection`/`key`.
    pub fn delete(&mut self, collection: &str, key: &str) -> OpRef<'_> {
        self.push(collection, key, OpKind::Delete)
    }

    /// Adds a check of `precondition` on `collection`/`key` that writes nothing.
    pub fn check(&mut self, collection: &str, key: &str, precondition: Precondition) {
        self.push(collection, key, OpKind::Check).when(precondition);
    }

    /// Adds an op as it is.
    pub fn push_op(&mut self, op: Op) {
        self.ops.push(op);
    }

    /// Appends every op of `other`.
    pub fn extend(&mut self, other: Batch) {
        self.ops.extend(other.into_ops());
    }

    /// The ops in order.
    pub fn ops(&self) -> &[Op] {
        &self.ops
    }

    /// Takes the ops out.
    pub fn into_ops(mut self) -> Vec<Op> {
        std::mem::take(&mut self.ops)
    }

    /// Number of ops.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Whether there are no ops.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Checks every name, key and value (size and nesting, see [`crate::limits`]); backends
    /// call this before writing anything.
    pub fn validate(&self) -> Result<()> {
        for op in &self.ops {
            validate_collection(&op.collection)?;
            validate_key(&op.key)?;
            if let OpKind::Put(value) = &op.kind {
                validate_value(value)?;
            }
            if let Some(Precondition::Fence { shard, .. }) = &op.precondition {
                crate::limits::validate_key(shard)
                    .map_err(|_| Error::invalid("fence shard", "must be 1–1024 bytes, no NUL"))?;
            }
        }
        Ok(())
    }
}

impl Drop for Batch {
    /// Frees put values without recursion: a rejected batch may hold a value nested far deeper
    /// than serde_json's recursive drop could take.
    fn drop(&mut self) {
        for op in self.ops.drain(..) {
            if let OpKind::Put(value @ (Value::Array(_) | Value::Object(_))) = op.kind {
                crate::limits::drop_value(value);
            }
        }
    }
}

/// What a committed batch reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// For each op: the new version after a put, `None` for deletes and checks.
    pub versions: Vec<Option<u64>>,
    /// The time the store stamped on the batch's puts.
    pub at: Timestamp,
}
