//! Validation of collection names, keys and values, shared by every backend.
//!
//! The limits (see `docs/limits.md`): collection names 1–255 bytes without NUL, keys 1–1024
//! bytes without NUL, values at most 16 MiB of compact JSON nested at most [`MAX_DEPTH`]
//! arrays/objects deep. Every walk over a value here is iterative, so no input of any depth can
//! overflow the stack; [`drop_value`] takes a value of any depth apart without recursion.
//!
//! ```
//! use berth_core::limits::{validate_value, value_depth, MAX_DEPTH};
//! let mut deep = serde_json::json!(1);
//! for _ in 0..MAX_DEPTH + 1 {
//!     deep = serde_json::Value::Array(vec![deep]);
//! }
//! assert_eq!(value_depth(&deep), MAX_DEPTH + 1);
//! assert!(validate_value(&deep).is_err());
//! berth_core::limits::drop_value(deep);
//! ```

use crate::error::{Error, Result};
use serde_json::Value;
use std::io;

/// Longest collection name, in bytes.
pub const MAX_COLLECTION_NAME: usize = 255;
/// Longest key, in bytes.
pub const MAX_KEY: usize = 1024;
/// Largest value, as encoded JSON bytes.
pub const MAX_VALUE: usize = 16 * 1024 * 1024;
/// Deepest nesting of arrays and objects in a value (`1` is 0 deep, `[1]` 1, `{"a":[1]}` 2).
///
/// 64 leaves room under serde_json's parser limit (128) and MongoDB's BSON limit (100), so every
/// backend can read back every value it accepts.
pub const MAX_DEPTH: usize = 64;

/// Checks a collection name: 1–255 bytes, no NUL.
pub fn validate_collection(name: &str) -> Result<()> {
    validate_text("collection name", name, MAX_COLLECTION_NAME)
}

/// Checks a key: 1–1024 bytes of UTF-8, no NUL.
pub fn validate_key(key: &str) -> Result<()> {
    validate_text("key", key, MAX_KEY)
}

fn validate_text(what: &'static str, s: &str, max: usize) -> Result<()> {
    if s.is_empty() {
        return Err(Error::invalid(what, "must not be empty"));
    }
    if s.len() > max {
        return Err(Error::invalid(
            what,
            format!("{} bytes, at most {max} allowed", s.len()),
        ));
    }
    if s.contains('\0') {
        return Err(Error::invalid(what, "must not contain NUL"));
    }
    Ok(())
}

/// Checks a value's nesting against [`MAX_DEPTH`] and its encoded size against [`MAX_VALUE`];
/// returns that size.
pub fn validate_value(value: &Value) -> Result<usize> {
    validate_depth(value)?;
    let size = encoded_len(value);
    if size > MAX_VALUE {
        return Err(Error::TooLarge {
            what: "value",
            size,
            limit: MAX_VALUE,
        });
    }
    Ok(size)
}

/// Checks a value's nesting against [`MAX_DEPTH`], without recursion.
pub fn validate_depth(value: &Value) -> Result<()> {
    if value_depth(value) > MAX_DEPTH {
        return Err(Error::invalid(
            "value",
            format!("nested more than {MAX_DEPTH} arrays/objects deep"),
        ));
    }
    Ok(())
}

/// How many arrays/objects deep `value` is nested, counted without recursion; stops counting
/// at `MAX_DEPTH + 1`, so the cost is bounded by the limit, not by the input.
pub fn value_depth(value: &Value) -> usize {
    let mut deepest = 0;
    let mut stack: Vec<(&Value, usize)> = vec![(value, 0)];
    while let Some((v, depth)) = stack.pop() {
        let children: Box<dyn Iterator<Item = &Value>> = match v {
            Value::Array(items) => Box::new(items.iter()),
            Value::Object(map) => Box::new(map.values()),
            _ => continue,
        };
        let depth = depth + 1;
        deepest = deepest.max(depth);
        if deepest > MAX_DEPTH {
            return deepest;
        }
        stack.extend(children.map(|c| (c, depth)));
    }
    deepest
}

/// Drops `value` node by node, so a value nested deeper than the stack allows (which serde_json's
/// own recursive `Drop` would overflow on) is freed safely. Cheap for shallow values.
pub fn drop_value(value: Value) {
    let mut stack = vec![value];
    while let Some(v) = stack.pop() {
        match v {
            Value::Array(items) => stack.extend(items),
            Value::Object(map) => stack.extend(map.into_iter().map(|(_, v)| v)),
            _ => {}
        }
    }
}

/// Parses stored JSON text and checks it against [`MAX_DEPTH`]; anything else is
/// [`Error::Corrupt`] naming `what`. Every backend's reader decodes values through this.
pub fn decode_stored(bytes: &[u8], what: &str) -> Result<Value> {
    let value: Value =
        serde_json::from_slice(bytes).map_err(|e| Error::Corrupt(format!("{what}: {e}")))?;
    if value_depth(&value) > MAX_DEPTH {
        drop_value(value);
        return Err(Error::Corrupt(format!(
            "{what}: value nested more than {MAX_DEPTH} levels deep"
        )));
    }
    Ok(value)
}

/// The length of `value` encoded as compact JSON, without allocating it and without recursion
/// (any depth is safe).
pub fn encoded_len(value: &Value) -> usize {
    struct Counter(usize);
    impl io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    let mut stack = vec![value];
    // Writing a scalar or a key to an infallible sink cannot fail.
    while let Some(v) = stack.pop() {
        match v {
            Value::Array(items) => {
                // `[`, `]` and a comma between items.
                counter.0 += 2 + items.len().saturating_sub(1);
                stack.extend(items.iter());
            }
            Value::Object(map) => {
                // `{`, `}`, a colon per entry and a comma between entries.
                counter.0 += 2 + map.len() + map.len().saturating_sub(1);
                for (k, v) in map {
                    let _ = serde_json::to_writer(&mut counter, k);
                    stack.push(v);
                }
            }
            scalar => {
                let _ = serde_json::to_writer(&mut counter, scalar);
            }
        }
    }
    counter.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn names_and_keys_are_checked() {
        assert!(validate_collection("workers:proj").is_ok());
        assert_eq!(
            validate_collection("").unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
        assert_eq!(
            validate_collection("a\0b").unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
        assert!(validate_collection(&"x".repeat(255)).is_ok());
        assert!(validate_collection(&"x".repeat(256)).is_err());
        assert!(validate_key(&"é".repeat(512)).is_ok());
        assert!(validate_key(&"é".repeat(513)).is_err());
    }

    #[test]
    fn encoded_len_matches_serialisation() {
        let v = serde_json::json!({"a": [1, 2.5e-300, "th\"r\u{1}ee", [], {}], "b": null, "é\n": {"x": [true, false, -0.0, 18446744073709551615u64]}});
        assert_eq!(
            encoded_len(&v),
            serde_json::to_vec(&v).map(|b| b.len()).unwrap_or(0)
        );
    }

    fn nested(depth: usize) -> Value {
        let mut v = serde_json::json!("leaf");
        for i in 0..depth {
            v = if i % 2 == 0 {
                Value::Array(vec![v])
            } else {
                Value::Object(serde_json::Map::from_iter([("k".to_owned(), v)]))
            };
        }
        v
    }

    #[test]
    fn depth_is_counted_and_limited() {
        assert_eq!(value_depth(&serde_json::json!(1)), 0);
        assert_eq!(value_depth(&serde_json::json!([1, {"a": [2]}])), 3);
        assert!(validate_value(&nested(MAX_DEPTH)).is_ok());
        let err = validate_value(&nested(MAX_DEPTH + 1)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!(err.to_string().contains("64"), "{err}");
    }

    #[test]
    fn deep_values_are_measured_and_dropped_without_recursion() {
        // Far deeper than any stack would take recursively.
        let deep = nested(200_000);
        assert_eq!(value_depth(&deep), MAX_DEPTH + 1);
        assert!(encoded_len(&deep) > 200_000);
        assert_eq!(
            validate_value(&deep).unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
        drop_value(deep);
    }

    #[test]
    fn stored_values_deeper_than_the_limit_are_corrupt() {
        let ok = serde_json::to_vec(&nested(MAX_DEPTH)).unwrap();
        assert_eq!(decode_stored(&ok, "r").unwrap(), nested(MAX_DEPTH));
        let deep = serde_json::to_vec(&nested(MAX_DEPTH + 1)).unwrap();
        assert_eq!(
            decode_stored(&deep, "r").unwrap_err().kind(),
            ErrorKind::Corrupt
        );
        let parser_limit = "[".repeat(10_000);
        assert_eq!(
            decode_stored(parser_limit.as_bytes(), "r")
                .unwrap_err()
                .kind(),
            ErrorKind::Corrupt
        );
    }
}
