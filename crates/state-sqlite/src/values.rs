//! Conversions between berth's values and SQLite column values.

use berth_core::{Error, Result, Timestamp};
use rusqlite::types::ValueRef;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

/// A count or version as SQLite's signed integer; larger values are refused.
pub(crate) fn to_i64(what: &'static str, n: u64) -> Result<i64> {
    i64::try_from(n).map_err(|_| Error::invalid(what, format!("{n} exceeds {}", i64::MAX)))
}

/// A stored non-negative integer back as `u64`.
pub(crate) fn to_u64(what: &str, n: i64) -> Result<u64> {
    u64::try_from(n).map_err(|_| Error::Corrupt(format!("negative {what} {n} stored")))
}

/// A `u64` mapped onto `i64` so that integer order is kept (used for log sequences, which
/// may use the whole `u64` range).
pub(crate) fn ordered_u64(n: u64) -> i64 {
    (n ^ (1 << 63)) as i64
}

/// The inverse of [`ordered_u64`].
pub(crate) fn from_ordered_u64(n: i64) -> u64 {
    (n as u64) ^ (1 << 63)
}

/// A timestamp column.
pub(crate) fn timestamp(millis: i64) -> Timestamp {
    Timestamp::from_millis(millis)
}

/// Encodes a JSON value as text.
pub(crate) fn json_text(value: &Value) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::invalid("value", e.to_string()))
}

/// Decodes stored JSON text; unreadable text is corrupt data.
pub(crate) fn parse_json(text: &str, what: &str) -> Result<Value> {
    berth_core::limits::decode_stored(text.as_bytes(), what)
}

/// Decodes a stored JSON document into `T`.
pub(crate) fn decode_doc<T: DeserializeOwned>(text: &str, what: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| Error::Corrupt(format!("{what}: {e}")))
}

/// A unit enum's serde name (`"pending"`, `"waiting_approval"`), for a text column.
pub(crate) fn enum_text<T: Serialize>(what: &'static str, v: &T) -> Result<String> {
    match serde_json::to_value(v) {
        Ok(Value::String(s)) => Ok(s),
        _ => Err(Error::invalid(what, "not a unit variant")),
    }
}

/// The enum named by a text column; an unknown name is corrupt data.
pub(crate) fn enum_from_text<T: DeserializeOwned>(what: &str, s: &str) -> Result<T> {
    serde_json::from_value(Value::String(s.to_owned()))
        .map_err(|e| Error::Corrupt(format!("{what} {s:?}: {e}")))
}

/// The bytes of a TEXT or BLOB column as a UTF-8 string.
pub(crate) fn text_of(value: ValueRef<'_>, what: &str) -> Result<String> {
    let bytes = match value {
        ValueRef::Text(b) | ValueRef::Blob(b) => b,
        other => {
            return Err(Error::Corrupt(format!(
                "{what} has type {:?}",
                other.data_type()
            )))
        }
    };
    String::from_utf8(bytes.to_vec()).map_err(|_| Error::Corrupt(format!("{what} is not UTF-8")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordered_mapping_keeps_order_and_round_trips() {
        let values = [0, 1, 41, i64::MAX as u64, i64::MAX as u64 + 1, u64::MAX];
        for w in values.windows(2) {
            assert!(ordered_u64(w[0]) < ordered_u64(w[1]));
        }
        for v in values {
            assert_eq!(from_ordered_u64(ordered_u64(v)), v);
        }
    }

    #[test]
    fn out_of_range_numbers_are_typed_errors() {
        assert!(to_i64("version", u64::MAX).is_err());
        assert!(to_u64("version", -1).is_err());
        assert_eq!(to_u64("version", 7).ok(), Some(7));
    }
}
