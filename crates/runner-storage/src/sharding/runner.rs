//! [`Runner`]: a runner's address, the shard groups it serves and its weight.

use crate::sharding::address::RunnerAddress;
use crate::sharding::shard::{validate_group, ShardIdError, DEFAULT_GROUP};
use berth_core::{Error, MachineId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// A runner: where it listens, which shard groups it serves, and its share of them.
///
/// Stored in the registry as JSON (`{"address":"h:1","groups":["default"],"weight":1}`), which
/// the lease store keeps as an opaque string.
///
/// ```
/// use berth_runner_storage::{Runner, RunnerAddress};
/// let runner = Runner::new("10.0.0.1:34431".parse()?)
///     .with_groups(["default", "billing"])?
///     .with_weight(2);
/// assert_eq!(Runner::decode(&runner.encode())?, runner);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RunnerJson")]
pub struct Runner {
    address: RunnerAddress,
    groups: BTreeSet<String>,
    weight: u32,
}

/// The encoded form, checked on the way in.
#[derive(Deserialize)]
struct RunnerJson {
    address: RunnerAddress,
    groups: BTreeSet<String>,
    weight: u32,
}

impl TryFrom<RunnerJson> for Runner {
    type Error = ShardIdError;

    fn try_from(j: RunnerJson) -> Result<Self, ShardIdError> {
        j.groups.iter().try_for_each(|g| validate_group(g))?;
        Ok(Runner {
            address: j.address,
            groups: j.groups,
            weight: j.weight,
        })
    }
}

impl Runner {
    /// A runner at `address` serving the `default` group with weight 1.
    pub fn new(address: RunnerAddress) -> Self {
        Runner {
            address,
            groups: BTreeSet::from([DEFAULT_GROUP.to_owned()]),
            weight: 1,
        }
    }

    /// This runner serving exactly `groups` (none is allowed: it then holds no shards).
    pub fn with_groups<I, S>(mut self, groups: I) -> Result<Self, ShardIdError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let groups: BTreeSet<String> = groups.into_iter().map(Into::into).collect();
        groups.iter().try_for_each(|g| validate_group(g))?;
        self.groups = groups;
        Ok(self)
    }

    /// This runner with `weight`: its share of each group's shards is proportional to it;
    /// 0 means it is assigned none (a drain).
    pub fn with_weight(mut self, weight: u32) -> Self {
        self.weight = weight;
        self
    }

    /// Where the runner listens; also the owner name of its leases.
    pub fn address(&self) -> &RunnerAddress {
        &self.address
    }

    /// The shard groups it serves, sorted.
    pub fn groups(&self) -> &BTreeSet<String> {
        &self.groups
    }

    /// Whether it serves `group`.
    pub fn serves(&self, group: &str) -> bool {
        self.groups.contains(group)
    }

    /// Its weight.
    pub fn weight(&self) -> u32 {
        self.weight
    }

    /// The registry's string form (JSON).
    pub fn encode(&self) -> String {
        // A struct of strings and integers always serializes.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads the registry's string form; [`Error::Corrupt`] if it is not a valid runner.
    pub fn decode(s: &str) -> Result<Self, Error> {
        serde_json::from_str(s).map_err(|e| Error::Corrupt(format!("runner {s:?}: {e}")))
    }
}

/// A runner as the registry lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredRunner {
    /// The runner.
    pub runner: Runner,
    /// Whether it is healthy (only healthy runners are assigned shards).
    pub healthy: bool,
    /// Its machine id.
    pub machine_id: MachineId,
}
