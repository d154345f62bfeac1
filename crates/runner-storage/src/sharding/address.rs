//! [`RunnerAddress`]: where a runner listens, `host:port`.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::net::Ipv6Addr;
use std::str::FromStr;

/// Longest host name accepted (DNS names are at most 253 bytes).
const MAX_HOST: usize = 253;

/// Why a string is not a [`RunnerAddress`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AddressError {
    /// No `:port` at the end.
    #[error("runner address {0:?} has no `:port`")]
    MissingPort(String),
    /// The host part is empty.
    #[error("runner address {0:?} has an empty host")]
    EmptyHost(String),
    /// The host has characters outside letters, digits, `-`, `.` and `_`, is too long, or a
    /// bracketed host is not an IPv6 address.
    #[error("runner address has an invalid host {0:?}")]
    InvalidHost(String),
    /// The port is not a number in `1..=65535` written without sign or leading zeros.
    #[error("runner address has an invalid port {0:?}")]
    InvalidPort(String),
}

impl From<AddressError> for berth_core::Error {
    fn from(e: AddressError) -> Self {
        berth_core::Error::invalid("runner address", e.to_string())
    }
}

/// A runner's address, `host:port` (IPv6 hosts in brackets: `[::1]:8080`).
///
/// The form is canonical so that one runner is always one lease owner: host names are
/// lower-cased and IPv6 addresses written in their shortest form.
///
/// ```
/// use berth_runner_storage::RunnerAddress;
/// let a: RunnerAddress = "Runner-1.local:34431".parse()?;
/// assert_eq!(a.to_string(), "runner-1.local:34431");
/// assert_eq!(a.port(), 34431);
/// assert!("runner-1.local".parse::<RunnerAddress>().is_err());
/// # Ok::<(), berth_runner_storage::AddressError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RunnerAddress {
    host: String,
    port: u16,
}

impl RunnerAddress {
    /// The address of `host` (a name, an IPv4 or an IPv6 address without brackets) at `port`.
    pub fn new(host: &str, port: u16) -> Result<Self, AddressError> {
        let whole = || format!("{host}:{port}");
        if host.is_empty() {
            return Err(AddressError::EmptyHost(whole()));
        }
        if port == 0 {
            return Err(AddressError::InvalidPort("0".into()));
        }
        let host = if host.contains(':') {
            let ip: Ipv6Addr = host
                .parse()
                .map_err(|_| AddressError::InvalidHost(host.to_owned()))?;
            ip.to_string()
        } else {
            let valid = host.len() <= MAX_HOST
                && host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
            if !valid {
                return Err(AddressError::InvalidHost(host.to_owned()));
            }
            host.to_ascii_lowercase()
        };
        Ok(RunnerAddress { host, port })
    }

    /// The host, without brackets.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }
}

fn parse_port(s: &str) -> Result<u16, AddressError> {
    let bad = || AddressError::InvalidPort(s.to_owned());
    if s.is_empty() || s.starts_with('0') || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    s.parse::<u16>().map_err(|_| bad())
}

impl FromStr for RunnerAddress {
    type Err = AddressError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (host, port) = if let Some(rest) = s.strip_prefix('[') {
            let (host, port) = rest
                .split_once("]:")
                .ok_or_else(|| AddressError::MissingPort(s.to_owned()))?;
            if !host.contains(':') {
                return Err(AddressError::InvalidHost(host.to_owned()));
            }
            (host, port)
        } else {
            let (host, port) = s
                .rsplit_once(':')
                .ok_or_else(|| AddressError::MissingPort(s.to_owned()))?;
            if host.contains(':') {
                // An IPv6 address must be bracketed, or its last group reads as the port.
                return Err(AddressError::InvalidHost(host.to_owned()));
            }
            (host, port)
        };
        if host.is_empty() {
            return Err(AddressError::EmptyHost(s.to_owned()));
        }
        RunnerAddress::new(host, parse_port(port)?)
    }
}

impl fmt::Display for RunnerAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

impl Serialize for RunnerAddress {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for RunnerAddress {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}
