//! Parsing of store URLs.

use berth_core::{redact_url, Error, Result, Secret};
use std::path::PathBuf;

/// Every scheme berth knows, with the cargo feature that provides it.
pub const BACKENDS: &[(&str, &str)] = &[
    ("memory", "memory"),
    ("sqlite", "sqlite"),
    ("sled", "sled"),
    ("mongodb", "mongo"),
    ("mongodb+srv", "mongo"),
];

/// Where a store lives, parsed from its URL.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Location {
    /// `memory:` / `memory://`
    Memory,
    /// `sqlite:PATH` / `sqlite://PATH`
    Sqlite(PathBuf),
    /// `sqlite::memory:`: a private in-memory SQLite database.
    SqliteMemory,
    /// `sled:PATH` / `sled://PATH`
    Sled(PathBuf),
    /// `mongodb://…` / `mongodb+srv://…`: the whole URL goes to the driver; it may hold a
    /// password, so it is a [`Secret`] (shown as `***`).
    Mongo(Secret<String>),
}

impl Location {
    /// Parses `url`: `scheme:rest` or `scheme://rest`. Errors show the URL with its password
    /// replaced by `***`.
    pub fn parse(url: &str) -> Result<Location> {
        let url = url.trim();
        let shown = redact_url(url);
        if url.contains('\0') {
            return Err(Error::invalid("url", "must not contain NUL"));
        }
        let Some((scheme, rest)) = url.split_once(':') else {
            return Err(Error::invalid(
                "url",
                format!("{shown:?} has no scheme; expected one of memory:, sqlite:PATH, sled:PATH, mongodb://…"),
            ));
        };
        let path = rest.strip_prefix("//").unwrap_or(rest);
        let need_path = |kind: &str| -> Result<PathBuf> {
            if path.is_empty() {
                return Err(Error::invalid(
                    "url",
                    format!("{kind} URL {shown:?} has no path"),
                ));
            }
            // `?` starts URL options elsewhere; file backends take none, and a misspelt option
            // must not silently become part of a file name.
            if let Some((_, options)) = path.split_once('?') {
                let names: Vec<&str> = options
                    .split('&')
                    .map(|o| o.split('=').next().unwrap_or(o))
                    .collect();
                return Err(Error::invalid(
                    "url",
                    format!(
                        "{kind} URLs take no options; unknown option(s): {}",
                        names.join(", ")
                    ),
                ));
            }
            Ok(PathBuf::from(path))
        };
        match scheme.to_ascii_lowercase().as_str() {
            "memory" if path.is_empty() => Ok(Location::Memory),
            "memory" => Err(Error::invalid(
                "url",
                format!("memory URL {shown:?} takes no path or options"),
            )),
            "sqlite" if rest == ":memory:" => Ok(Location::SqliteMemory),
            "sqlite" => need_path("sqlite").map(Location::Sqlite),
            "sled" => need_path("sled").map(Location::Sled),
            "mongodb" | "mongodb+srv" if rest.starts_with("//") && rest.len() > 2 => {
                Ok(Location::Mongo(Secret::new(url.to_owned())))
            }
            "mongodb" | "mongodb+srv" => Err(Error::invalid(
                "url",
                format!("{shown:?} is not a mongodb:// connection string"),
            )),
            other => Err(Error::invalid(
                "url",
                format!("unknown scheme {other:?}; known: memory, sqlite, sled, mongodb"),
            )),
        }
    }

    /// Whether this build has the backend's cargo feature.
    pub fn is_available(&self) -> bool {
        match self {
            Location::Memory => cfg!(feature = "memory"),
            Location::Sqlite(_) | Location::SqliteMemory => cfg!(feature = "sqlite"),
            Location::Sled(_) => cfg!(feature = "sled"),
            Location::Mongo(_) => cfg!(feature = "mongo"),
        }
    }

    /// The cargo feature that provides this backend.
    pub fn feature(&self) -> &'static str {
        match self {
            Location::Memory => "memory",
            Location::Sqlite(_) | Location::SqliteMemory => "sqlite",
            Location::Sled(_) => "sled",
            Location::Mongo(_) => "mongo",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_core::ErrorKind;

    #[test]
    fn parses_every_scheme() {
        assert_eq!(Location::parse("memory://").unwrap(), Location::Memory);
        assert_eq!(Location::parse("memory:").unwrap(), Location::Memory);
        assert_eq!(
            Location::parse("sqlite:berth.db").unwrap(),
            Location::Sqlite("berth.db".into())
        );
        assert_eq!(
            Location::parse("sqlite:///tmp/x.db").unwrap(),
            Location::Sqlite("/tmp/x.db".into())
        );
        assert_eq!(
            Location::parse("sqlite::memory:").unwrap(),
            Location::SqliteMemory
        );
        assert_eq!(
            Location::parse("sled:data/db").unwrap(),
            Location::Sled("data/db".into())
        );
        let m = "mongodb://127.0.0.1:27017/berth?replicaSet=rs0";
        assert_eq!(
            Location::parse(m).unwrap(),
            Location::Mongo(Secret::new(m.into()))
        );
    }

    #[test]
    fn rejects_malformed_and_unknown() {
        for bad in [
            "",
            "berth.db",
            "ftp://x",
            "sqlite:",
            "sled://",
            "memory://x",
            "mongodb:x",
            "mongodb://",
            "sqlite:\0",
            "sqlite:/tmp/a\0b",
            "sqlite:./b.db?mode=rwc",
            "sled:dir?cache=1",
        ] {
            let err = Location::parse(bad).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "{bad:?}");
        }
        let err = Location::parse("sqlite:./b.db?mdoe=rwc&x").unwrap_err();
        assert!(err.to_string().contains("mdoe, x"), "{err}");
    }

    #[test]
    fn passwords_never_show() {
        let url = "mongodb://ops:hunter2@db1:27017/berth";
        let loc = Location::parse(url).unwrap();
        assert!(!format!("{loc:?}").contains("hunter2"));
        let err = Location::parse("mongodb:ops:hunter2@db1").unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
        let err = Location::parse("ftp://ops:hunter2@db1/").unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }
}
