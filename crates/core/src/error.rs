//! The one error type of berth.

use std::fmt;

/// Result alias used across berth.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, in kinds a caller can act on.
///
/// Match on [`Error::kind`] rather than on the variants when only the kind matters.
///
/// ```
/// use berth_core::{Error, ErrorKind};
/// let err = Error::conflict(2, "jobs", "j1", "expected version 3, found 4");
/// assert_eq!(err.kind(), ErrorKind::Conflict);
/// assert_eq!(err.op_index(), Some(2));
/// assert!(!err.is_retryable());
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A name, key, id or argument is malformed; nothing was written.
    #[error("invalid {what}: {reason}")]
    InvalidInput {
        /// What was invalid (`collection name`, `key`, `url`, …).
        what: &'static str,
        /// Why it was rejected.
        reason: String,
    },
    /// A value or batch exceeds a limit; nothing was written.
    #[error("{what} too large: {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// What was too large.
        what: &'static str,
        /// Its size in bytes.
        size: usize,
        /// The limit in bytes.
        limit: usize,
    },
    /// A precondition of a batch op failed; nothing of the batch was written.
    #[error("conflict at op {op} ({collection}/{key}): {reason}")]
    Conflict {
        /// Index of the failing op in its batch (0 for single operations).
        op: usize,
        /// Collection of the op.
        collection: String,
        /// Key of the op.
        key: String,
        /// What was expected and what was found.
        reason: String,
    },
    /// A fenced op found its shard lease gone or held with another token; nothing was written.
    #[error("stale fence at op {op}: shard {shard} is not held with token {token}")]
    StaleFence {
        /// Index of the failing op in its batch.
        op: usize,
        /// The shard named by the fence.
        shard: String,
        /// The token the caller presented.
        token: u64,
    },
    /// The session lapsed: everything it held may have been taken; open a new one.
    #[error("session {session} expired: its leases may be held by others now; open a new session and acquire again")]
    SessionExpired {
        /// The session's id.
        session: String,
    },
    /// The thing asked for does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The backend cannot do this; see its capabilities.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// A write through a store opened read-only ([`Access::ReadOnly`](crate::Access)); nothing
    /// was written.
    #[error("read-only: {0}")]
    ReadOnly(String),
    /// Stored data could not be read back (bad encoding, foreign or damaged file).
    #[error("corrupt data: {0}")]
    Corrupt(String),
    /// The storage engine failed.
    #[error("backend failure: {message}")]
    Backend {
        /// What failed.
        message: String,
        /// Whether trying the same call again may succeed.
        retryable: bool,
        /// The underlying error.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
}

/// The kind of an [`Error`], for matching without caring about details.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// See [`Error::InvalidInput`].
    InvalidInput,
    /// See [`Error::TooLarge`].
    TooLarge,
    /// See [`Error::Conflict`].
    Conflict,
    /// See [`Error::StaleFence`].
    StaleFence,
    /// See [`Error::SessionExpired`].
    SessionExpired,
    /// See [`Error::NotFound`].
    NotFound,
    /// See [`Error::Unsupported`].
    Unsupported,
    /// See [`Error::ReadOnly`].
    ReadOnly,
    /// See [`Error::Corrupt`].
    Corrupt,
    /// See [`Error::Backend`].
    Backend,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl Error {
    /// The kind of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidInput { .. } => ErrorKind::InvalidInput,
            Error::TooLarge { .. } => ErrorKind::TooLarge,
            Error::Conflict { .. } => ErrorKind::Conflict,
            Error::StaleFence { .. } => ErrorKind::StaleFence,
            Error::SessionExpired { .. } => ErrorKind::SessionExpired,
            Error::NotFound(_) => ErrorKind::NotFound,
            Error::Unsupported(_) => ErrorKind::Unsupported,
            Error::ReadOnly(_) => ErrorKind::ReadOnly,
            Error::Corrupt(_) => ErrorKind::Corrupt,
            Error::Backend { .. } => ErrorKind::Backend,
        }
    }

    /// Whether the same call may succeed if tried again (busy engine, lost connection).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Error::Backend {
                retryable: true,
                ..
            }
        )
    }

    /// The index of the batch op that failed, for conflicts and stale fences.
    pub fn op_index(&self) -> Option<usize> {
        match self {
            Error::Conflict { op, .. } | Error::StaleFence { op, .. } => Some(*op),
            _ => None,
        }
    }

    /// An [`Error::InvalidInput`].
    pub fn invalid(what: &'static str, reason: impl Into<String>) -> Self {
        Error::InvalidInput {
            what,
            reason: reason.into(),
        }
    }

    /// An [`Error::Backend`] wrapping `source`.
    pub fn backend(
        message: impl Into<String>,
        retryable: bool,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Error::Backend {
            message: message.into(),
            retryable,
            source: Some(Box::new(source)),
        }
    }

    /// An [`Error::Backend`] without an underlying error.
    pub fn backend_msg(message: impl Into<String>, retryable: bool) -> Self {
        Error::Backend {
            message: message.into(),
            retryable,
            source: None,
        }
    }

    /// A [`Error::Conflict`] for op `op` on `collection`/`key`.
    pub fn conflict(op: usize, collection: &str, key: &str, reason: impl Into<String>) -> Self {
        Error::Conflict {
            op,
            collection: collection.to_owned(),
            key: key.to_owned(),
            reason: reason.into(),
        }
    }
}
