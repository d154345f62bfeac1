//! The runtime's error type.

use crate::events::ExitReason;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a runtime call failed.
///
/// Cloneable so every caller that joined one single-flight spawn gets the same error.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The key cannot name a tenant directory (empty, `.`/`..`, a `/` or NUL, too long).
    #[error("invalid tenant key {key:?}: {reason}")]
    InvalidKey {
        /// The rejected key.
        key: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// An environment variable of the options cannot be passed to a tenant.
    #[error("invalid tenant environment variable {name:?}: {reason}")]
    InvalidEnv {
        /// The variable's name (its value is never shown).
        name: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// No admission slot became free within `admission_timeout` (every slot is held by a
    /// tenant starting or stopping, none running that could be evicted).
    #[error("tenant {key:?} not started: {limit} tenants are starting or stopping and none freed a slot within {waited:?}")]
    AtCapacity {
        /// The key.
        key: String,
        /// `max_concurrent`.
        limit: usize,
        /// How long it waited.
        waited: Duration,
    },
    /// The tenant source has no directory for this key.
    #[error("tenant {key:?} has no directory at {}", path.display())]
    UnknownTenant {
        /// The key.
        key: String,
        /// Where its directory was looked for.
        path: PathBuf,
    },
    /// [`Runtime::dispose`](crate::Runtime::dispose) (or `abandon`) was called.
    #[error("the tenant runtime has been disposed")]
    Disposed,
    /// [`Runtime::drain`](crate::Runtime::drain) was called: no new tenant process is started.
    #[error("the tenant runtime is draining; no new tenant is started")]
    Draining,
    /// The key failed recently and is inside its back-off window.
    #[error("tenant {key:?} is backing off after {attempt} failure(s); retry in {retry_in:?}; last error: {last_error}")]
    BackingOff {
        /// The key.
        key: String,
        /// Consecutive failures so far.
        attempt: u32,
        /// Time left in the window.
        retry_in: Duration,
        /// The last failure.
        last_error: String,
    },
    /// The key failed `max_failures` times in a row; only `clear_backoff` lets it start again.
    #[error("tenant {key:?} failed {failures} times in a row; clear_backoff to retry; last error: {last_error}")]
    TooManyFailures {
        /// The key.
        key: String,
        /// Consecutive failures.
        failures: u32,
        /// The last failure.
        last_error: String,
    },
    /// The tenant did not pass its readiness check in time; its process group was stopped.
    #[error("tenant {key:?} did not become ready within {after:?}")]
    ReadinessTimeout {
        /// The key.
        key: String,
        /// The readiness timeout.
        after: Duration,
    },
    /// The readiness check gave up on the tenant; its process group was stopped.
    #[error("tenant {key:?} failed its readiness check: {reason}")]
    NotReady {
        /// The key.
        key: String,
        /// What the check said.
        reason: String,
    },
    /// The tenant's process exited before it was ready.
    #[error("tenant {key:?} exited before it was ready ({status})")]
    ExitedBeforeReady {
        /// The key.
        key: String,
        /// Exit code or signal, as text.
        status: String,
    },
    /// The start was called off by `kill`, `dispose` or an eviction before the tenant was ready.
    #[error("start of tenant {key:?} was called off: {reason}")]
    Cancelled {
        /// The key.
        key: String,
        /// Why it was called off.
        reason: ExitReason,
    },
    /// The operating system refused to start the tenant (no such command, no port, …).
    #[error("could not start tenant {key:?}: {source}")]
    Spawn {
        /// The key.
        key: String,
        /// What the OS said.
        #[source]
        source: Arc<io::Error>,
    },
    /// Reading or writing the tenant records failed.
    #[error("tenant records: {0}")]
    Store(#[source] Arc<berth_core::Error>),
}

impl From<berth_core::Error> for Error {
    fn from(err: berth_core::Error) -> Self {
        Error::Store(Arc::new(err))
    }
}

impl Error {
    /// A [`Error::Spawn`] for `key`.
    pub(crate) fn spawn(key: &str, source: io::Error) -> Self {
        Error::Spawn {
            key: key.to_owned(),
            source: Arc::new(source),
        }
    }

    /// Whether this error means the key is refused because of earlier failures.
    pub fn is_backoff(&self) -> bool {
        matches!(
            self,
            Error::BackingOff { .. } | Error::TooManyFailures { .. }
        )
    }
}
