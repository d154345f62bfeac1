//! [`ShardId`]: one shard of a group, `group:n`, and the entity → shard mapping.

use crate::sharding::hash::stable_hash;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// Shards per group unless configured otherwise.
pub const DEFAULT_SHARDS_PER_GROUP: u32 = 300;

/// The group a runner serves unless given others.
pub const DEFAULT_GROUP: &str = "default";

/// Longest group name accepted.
const MAX_GROUP: usize = 255;

/// Why a string or value is not a [`ShardId`] (or a group name).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ShardIdError {
    /// No `:` between group and number.
    #[error("shard id {0:?} is not `group:n`")]
    MissingSeparator(String),
    /// The group is empty, longer than 255 bytes, or holds `:`, whitespace or control characters.
    #[error("invalid shard group {0:?}")]
    InvalidGroup(String),
    /// The number is not a decimal in `1..=4294967295` without sign or leading zeros.
    #[error("invalid shard number {0:?}")]
    InvalidNumber(String),
    /// A group cannot have zero shards.
    #[error("shards per group must be at least 1")]
    NoShards,
}

impl From<ShardIdError> for berth_core::Error {
    fn from(e: ShardIdError) -> Self {
        berth_core::Error::invalid("shard id", e.to_string())
    }
}

/// Checks a group name: 1–255 bytes, no `:`, whitespace or control characters.
pub(crate) fn validate_group(group: &str) -> Result<(), ShardIdError> {
    let valid = !group.is_empty()
        && group.len() <= MAX_GROUP
        && !group
            .chars()
            .any(|c| c == ':' || c.is_whitespace() || c.is_control());
    if valid {
        Ok(())
    } else {
        Err(ShardIdError::InvalidGroup(group.to_owned()))
    }
}

/// One shard: a group and a number from 1, written `group:n`.
///
/// The written form is canonical (no leading zeros), because it is the lease's key.
///
/// ```
/// use berth_runner_storage::ShardId;
/// let s: ShardId = "default:17".parse()?;
/// assert_eq!((s.group(), s.number()), ("default", 17));
/// assert_eq!(s.to_string(), "default:17");
/// assert!("default:017".parse::<ShardId>().is_err());
/// # Ok::<(), berth_runner_storage::ShardIdError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ShardId {
    group: String,
    number: u32,
}

impl ShardId {
    /// Shard `number` (from 1) of `group`.
    pub fn new(group: &str, number: u32) -> Result<Self, ShardIdError> {
        validate_group(group)?;
        if number == 0 {
            return Err(ShardIdError::InvalidNumber("0".into()));
        }
        Ok(ShardId {
            group: group.to_owned(),
            number,
        })
    }

    /// The shard of `entity_id` in `group`: `stable_hash(entity_id) % shards_per_group + 1`.
    ///
    /// The mapping never changes between versions (see [`stable_hash`](crate::stable_hash)),
    /// but it does change with `shards_per_group`, which must therefore stay fixed for a group.
    pub fn for_entity(
        group: &str,
        entity_id: &str,
        shards_per_group: u32,
    ) -> Result<Self, ShardIdError> {
        if shards_per_group == 0 {
            return Err(ShardIdError::NoShards);
        }
        let n = stable_hash(entity_id.as_bytes()) % u64::from(shards_per_group);
        // n < shards_per_group ≤ u32::MAX, so n + 1 fits.
        ShardId::new(group, u32::try_from(n).unwrap_or(0) + 1)
    }

    /// Every shard of `group`: `group:1 ..= group:shards_per_group`.
    pub fn all(group: &str, shards_per_group: u32) -> Result<Vec<ShardId>, ShardIdError> {
        validate_group(group)?;
        Ok((1..=shards_per_group)
            .map(|number| ShardId {
                group: group.to_owned(),
                number,
            })
            .collect())
    }

    /// The group.
    pub fn group(&self) -> &str {
        &self.group
    }

    /// The number, from 1.
    pub fn number(&self) -> u32 {
        self.number
    }
}

impl FromStr for ShardId {
    type Err = ShardIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (group, n) = s
            .rsplit_once(':')
            .ok_or_else(|| ShardIdError::MissingSeparator(s.to_owned()))?;
        let bad = || ShardIdError::InvalidNumber(n.to_owned());
        if n.is_empty() || n.starts_with('0') || !n.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        ShardId::new(group, n.parse().map_err(|_| bad())?)
    }
}

impl fmt::Display for ShardId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.group, self.number)
    }
}

impl Serialize for ShardId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ShardId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}
