//! How SQLite's errors become berth's error kinds.

use berth_core::Error;
use rusqlite::ErrorCode;

/// Maps a rusqlite error to the berth error a caller can act on.
///
/// `SQLITE_BUSY`/`SQLITE_LOCKED` (another process holds the lock past `busy_timeout`) are
/// retryable backend errors; damaged or foreign files are [`Error::Corrupt`]; values that
/// cannot be read back as the expected type are corrupt data too.
pub(crate) fn from_sql(e: rusqlite::Error) -> Error {
    match &e {
        rusqlite::Error::SqliteFailure(f, _) => match f.code {
            ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => {
                Error::backend("SQLite database is busy", true, e)
            }
            ErrorCode::DatabaseCorrupt => Error::Corrupt(format!("SQLite reports damage: {e}")),
            ErrorCode::NotADatabase => Error::Corrupt(format!("not a SQLite database: {e}")),
            _ => Error::backend("SQLite failed", false, e),
        },
        rusqlite::Error::FromSqlConversionFailure(..)
        | rusqlite::Error::IntegralValueOutOfRange(..)
        | rusqlite::Error::InvalidColumnType(..)
        | rusqlite::Error::Utf8Error(..) => Error::Corrupt(format!("unreadable column: {e}")),
        _ => Error::backend("SQLite failed", false, e),
    }
}

/// `.sql()` turns a rusqlite result into a berth result.
pub(crate) trait SqlResult<T> {
    /// The same result with the error mapped by [`from_sql`].
    fn sql(self) -> Result<T, Error>;
}

impl<T> SqlResult<T> for Result<T, rusqlite::Error> {
    fn sql(self) -> Result<T, Error> {
        self.map_err(from_sql)
    }
}

/// A copy of `e` for each caller of a commit group that failed as a whole.
///
/// [`Error`] is not `Clone` (its source is boxed); the copy keeps kind, message and
/// retryability, with the source folded into the message.
pub(crate) fn duplicate(e: &Error) -> Error {
    match e {
        Error::Backend {
            message,
            retryable,
            source,
        } => {
            let message = match source {
                Some(s) => format!("{message}: {s}"),
                None => message.clone(),
            };
            Error::backend_msg(message, *retryable)
        }
        Error::Corrupt(m) => Error::Corrupt(m.clone()),
        Error::NotFound(m) => Error::NotFound(m.clone()),
        Error::Unsupported(m) => Error::Unsupported(m.clone()),
        other => Error::backend_msg(other.to_string(), false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_core::ErrorKind;

    fn failure(code: i32) -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), None)
    }

    #[test]
    fn busy_is_retryable_and_damage_is_corrupt() {
        let busy = from_sql(failure(rusqlite::ffi::SQLITE_BUSY));
        assert!(busy.is_retryable());
        let corrupt = from_sql(failure(rusqlite::ffi::SQLITE_CORRUPT));
        assert_eq!(corrupt.kind(), ErrorKind::Corrupt);
        let notadb = from_sql(failure(rusqlite::ffi::SQLITE_NOTADB));
        assert_eq!(notadb.kind(), ErrorKind::Corrupt);
        let io = from_sql(failure(rusqlite::ffi::SQLITE_IOERR));
        assert_eq!(io.kind(), ErrorKind::Backend);
        assert!(!io.is_retryable());
        let copy = duplicate(&busy);
        assert!(copy.is_retryable());
        assert_eq!(copy.kind(), ErrorKind::Backend);
    }
}
