//! JSON encoding of typed values, with berth's error kinds.

use crate::error::{Error, Result};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

/// Encodes `value` as JSON; a type that cannot be represented is invalid input.
pub fn to_json<T: Serialize + ?Sized>(value: &T) -> Result<Value> {
    serde_json::to_value(value).map_err(|e| Error::invalid("value", e.to_string()))
}

/// Decodes a stored JSON value; a mismatch means the stored data is corrupt.
pub fn from_json<T: DeserializeOwned>(value: Value, what: &str) -> Result<T> {
    serde_json::from_value(value).map_err(|e| Error::Corrupt(format!("{what}: {e}")))
}

/// A timestamp as a fixed-width key part that sorts like the number (negative ones too).
pub fn ordered_millis_key(millis: i64) -> String {
    format!("{:020}", (millis as u64) ^ (1u64 << 63))
}

/// The timestamp an [`ordered_millis_key`] was made from; `None` if `key` is not one.
pub fn millis_of_ordered_key(key: &str) -> Option<i64> {
    let bits: u64 = key.parse().ok()?;
    Some((bits ^ (1u64 << 63)) as i64)
}
