//! Stored records and scan options.

use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One stored value with its bookkeeping.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// The key within its collection.
    pub key: String,
    /// The JSON value.
    pub value: Value,
    /// 1 on create, +1 on every put.
    pub version: u64,
    /// When the record was first created; kept across puts.
    pub created_at: Timestamp,
    /// When the record was last put.
    pub updated_at: Timestamp,
}

/// What a [`scan`](crate::RecordStore::scan) returns: keys ordered by their bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scan {
    /// Only keys starting with this (empty: every key).
    pub prefix: String,
    /// Cursor: only keys strictly after this one in scan order.
    pub start_after: Option<String>,
    /// At most this many records (`None`: all).
    pub limit: Option<usize>,
    /// Descending key order instead of ascending.
    pub reverse: bool,
}

impl Scan {
    /// Every key, ascending.
    pub fn all() -> Self {
        Scan::default()
    }

    /// Keys starting with `prefix`, ascending.
    pub fn prefix(prefix: impl Into<String>) -> Self {
        Scan {
            prefix: prefix.into(),
            ..Scan::default()
        }
    }

    /// Continue after `key` (exclusive).
    pub fn after(mut self, key: impl Into<String>) -> Self {
        self.start_after = Some(key.into());
        self
    }

    /// Return at most `n` records.
    pub fn limit(mut self, n: usize) -> Self {
        self.limit = Some(n);
        self
    }

    /// Scan in descending key order.
    pub fn reversed(mut self) -> Self {
        self.reverse = true;
        self
    }

    /// Whether `key` falls in this scan's range (prefix and cursor), ignoring the limit.
    pub fn admits(&self, key: &str) -> bool {
        if !key.starts_with(&self.prefix) {
            return false;
        }
        match &self.start_after {
            None => true,
            Some(after) if self.reverse => key.as_bytes() < after.as_bytes(),
            Some(after) => key.as_bytes() > after.as_bytes(),
        }
    }
}

/// The smallest string greater than every string starting with `prefix`, if any.
///
/// Backends use it as the exclusive upper bound of a prefix range.
pub fn prefix_upper_bound(prefix: &str) -> Option<Vec<u8>> {
    let mut bytes = prefix.as_bytes().to_vec();
    while let Some(last) = bytes.pop() {
        if last < 0xff {
            bytes.push(last + 1);
            return Some(bytes);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upper_bound_of_prefix() {
        assert_eq!(prefix_upper_bound("ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_upper_bound(""), None);
    }

    #[test]
    fn admits_respects_direction() {
        let s = Scan::prefix("a").after("ab");
        assert!(s.admits("ac"));
        assert!(!s.admits("ab"));
        assert!(!s.admits("aa"));
        let r = Scan::prefix("a").after("ab").reversed();
        assert!(r.admits("aa"));
        assert!(!r.admits("ac"));
        assert!(!r.admits("b"));
    }
}
