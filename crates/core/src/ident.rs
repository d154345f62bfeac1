//! The one identifier rule for every name that becomes a key or a path: run, step, gate,
//! artifact and tenant ids.
//!
//! An identifier is 1–128 bytes of ASCII letters, digits, `.`, `_` and `-`, starting with a
//! letter or a digit. So it is never empty, `.` or `..`, never holds a path separator, NUL, a
//! control character or a look-alike of one (everything outside ASCII is refused), and it is
//! the same file name on every file system. UUIDs (berth's generated ids) fit the rule.
//!
//! ```
//! use berth_core::ident::validate_id;
//! assert!(validate_id("run id", "0190b5e3-7c1d-7d2a-9f00-1c2d3e4f5a6b").is_ok());
//! let err = validate_id("run id", "../x").unwrap_err();
//! assert!(err.to_string().starts_with("invalid run id"));
//! ```

use crate::error::{Error, Result};

/// Longest identifier, in bytes.
pub const MAX_ID: usize = 128;

/// The rule, as error messages and docs state it.
pub const ID_RULE: &str = "1–128 characters of A–Z a–z 0–9 . _ -, starting with a letter or digit";

/// Whether `id` follows the identifier rule.
pub fn is_valid_id(id: &str) -> bool {
    let bytes = id.as_bytes();
    match bytes.first() {
        Some(first) if first.is_ascii_alphanumeric() => {}
        _ => return false,
    }
    bytes.len() <= MAX_ID
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Checks `id` against the identifier rule; the error names `field` and the rule.
pub fn validate_id(field: &'static str, id: &str) -> Result<()> {
    if is_valid_id(id) {
        return Ok(());
    }
    Err(Error::invalid(
        field,
        format!("{:?} must be {ID_RULE}", shown(id)),
    ))
}

/// `root/id` for an `id` that follows the identifier rule: one plain path component, so the
/// result always stays directly under `root` (no `..`, no separator, no absolute path).
pub fn child_path(
    root: &std::path::Path,
    field: &'static str,
    id: &str,
) -> Result<std::path::PathBuf> {
    validate_id(field, id)?;
    Ok(root.join(id))
}

/// At most 64 characters of a rejected id, for a message.
fn shown(id: &str) -> String {
    let mut s: String = id.chars().take(64).collect();
    if s.len() < id.len() {
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn child_paths_stay_under_their_root() {
        let root = std::path::Path::new("/var/berth");
        assert_eq!(child_path(root, "run id", "r-1").unwrap(), root.join("r-1"));
        for bad in ["../x", "/abs", "..", "a/../../b"] {
            assert!(child_path(root, "run id", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn accepts_ids_and_uuids() {
        for ok in ["a", "run-1", "R_2.b", "0", &"x".repeat(MAX_ID)] {
            assert!(is_valid_id(ok), "{ok:?}");
        }
    }

    #[test]
    fn rejects_paths_controls_and_look_alikes() {
        for bad in [
            "",
            ".",
            "..",
            "../x",
            "/abs",
            "a/b",
            "a\\b",
            "a\0b",
            "a\nb",
            "-flag",
            ".hidden",
            "a b",
            "\u{2024}\u{2024}",  // one dot leader, twice: looks like ".."
            "\u{ff0e}\u{ff0e}x", // fullwidth full stops
            "a\u{2215}b",        // division slash
            "é",
            &"x".repeat(MAX_ID + 1),
        ] {
            let err = validate_id("step id", bad).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "{bad:?}");
            assert!(err.to_string().contains("step id"), "{err}");
        }
    }
}
