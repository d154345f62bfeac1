//! Validation of collection names, keys and values, shared by every backend.

use crate::error::{Error, Result};
use serde_json::Value;
use std::io;

/// Longest collection name, in bytes.
pub const MAX_COLLECTION_NAME: usize = 255;
/// Longest key, in bytes.
pub const MAX_KEY: usize = 1024;
/// Largest value, as encoded JSON bytes.
pub const MAX_VALUE: usize = 16 * 1024 * 1024;

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

/// Checks a value's encoded size against [`MAX_VALUE`] and returns that size.
pub fn validate_value(value: &Value) -> Result<usize> {
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

/// The length of `value` encoded as compact JSON, without allocating it.
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
    // Writing a Value to an infallible sink cannot fail.
    let _ = serde_json::to_writer(&mut counter, value);
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
        let v = serde_json::json!({"a": [1, 2, "three"], "b": null});
        assert_eq!(
            encoded_len(&v),
            serde_json::to_vec(&v).map(|b| b.len()).unwrap_or(0)
        );
    }
}
