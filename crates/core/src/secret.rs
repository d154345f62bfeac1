//! Secrets as a type: connection strings with passwords, keys, values a plan marks secret.
//!
//! A [`Secret`] shows `***` wherever it is formatted (`Display`, `Debug`, tracing fields,
//! errors, panics) and serialised (`--json`); only [`Secret::expose`] hands out the value, at
//! the one place that uses it. [`redact_url`] is the shown form of a connection string: the
//! password replaced by `***`, everything else kept so an operator can still see where it went.
//!
//! ```
//! use berth_core::{redact_url, Secret};
//! let uri = Secret::new("mongodb://ops:hunter2@db1:27017/berth".to_owned());
//! assert_eq!(format!("{uri} {uri:?}"), "*** ***");
//! assert_eq!(serde_json::to_string(&uri).unwrap(), "\"***\"");
//! assert!(uri.expose().contains("hunter2"));
//! assert_eq!(redact_url(uri.expose()), "mongodb://ops:***@db1:27017/berth");
//! let message = format!("could not log in with hunter2 to db1");
//! assert_eq!(berth_core::scrub_secret(&message, uri.expose()), "could not log in with *** to db1");
//! ```

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// What every secret shows instead of its value.
pub const REDACTED: &str = "***";

/// A value that is never shown: formatting and serialising it give `***`.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    /// Wraps `value`.
    pub fn new(value: T) -> Self {
        Secret(value)
    }

    /// The value, for the one place that uses it.
    pub fn expose(&self) -> &T {
        &self.0
    }

    /// Unwraps the value.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> From<T> for Secret<T> {
    fn from(value: T) -> Self {
        Secret(value)
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl<T> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl<T> Serialize for Secret<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(REDACTED)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Secret<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        T::deserialize(deserializer).map(Secret)
    }
}

/// The parts of `scheme:[//]user:password@rest`: (text before the password, the password,
/// text after it); `None` when there is no password.
fn split_password(url: &str) -> Option<(&str, &str, &str)> {
    let (scheme, _) = url.split_once(':')?;
    let after_scheme = scheme.len() + 1;
    let rest = &url[after_scheme..];
    let start = after_scheme + if rest.starts_with("//") { 2 } else { 0 };
    let authority = &url[start..];
    let end = authority.find(['/', '?', '#']).unwrap_or(authority.len());
    let at = authority[..end].rfind('@')?;
    let colon = authority[..at].find(':')?;
    let password = &authority[colon + 1..at];
    if password.is_empty() {
        return None;
    }
    Some((&url[..start + colon + 1], password, &url[start + at..]))
}

/// `url` with the password of its `user:password@` part (if any) replaced by `***`.
///
/// Works on anything shaped like `scheme:[//][user[:password]@]rest`, including MongoDB seed
/// lists (`host1,host2`) and malformed URLs such as `mongodb:user:pw@host`.
pub fn redact_url(url: &str) -> String {
    match split_password(url) {
        Some((before, _, after)) => format!("{before}{REDACTED}{after}"),
        None => url.to_owned(),
    }
}

/// `text` (say, a driver's error message) with the password of `url` replaced by `***`.
pub fn scrub(text: &str, url: &str) -> String {
    match split_password(url) {
        Some((_, password, _)) => text.replace(password, REDACTED),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_show_in_any_format() {
        let s = Secret::new(String::from("hunter2"));
        let shown = format!("{s} {s:?} {s:#?} {}", serde_json::json!({ "s": s }));
        assert!(!shown.contains("hunter2"), "{shown}");
        let back: Secret<String> = serde_json::from_str("\"hunter2\"").unwrap();
        assert_eq!(back.expose(), "hunter2");
    }

    #[test]
    fn urls_lose_only_their_password() {
        assert_eq!(
            redact_url("mongodb://ops:s3cret@db1:27017,db2/x?replicaSet=rs"),
            "mongodb://ops:***@db1:27017,db2/x?replicaSet=rs"
        );
        assert_eq!(
            redact_url("mongodb://o:p@ss:w@rd@h/db"),
            "mongodb://o:***@h/db"
        );
        assert_eq!(redact_url("mongodb://db1/"), "mongodb://db1/");
        assert_eq!(redact_url("mongodb://user@db1/"), "mongodb://user@db1/");
        assert_eq!(redact_url("sqlite:./b.db"), "sqlite:./b.db");
        assert_eq!(redact_url("mongodb:u:pw@h"), "mongodb:u:***@h");
    }

    #[test]
    fn messages_lose_the_password() {
        let url = "mongodb://ops:hunter2@db1/";
        assert_eq!(scrub("auth hunter2 failed", url), "auth *** failed");
        assert_eq!(scrub("nothing", "mongodb://db1/"), "nothing");
    }
}
