//! Shard assignment by weighted rendezvous hashing.
//!
//! Every runner computes the same answer from the same registry, without talking to the
//! others: for each shard, each candidate runner (healthy, serving the shard's group, weight
//! above 0) gets the score `weight / -ln(u)`, where `u ∈ (0, 1)` comes from
//! [`stable_hash`](crate::stable_hash) of `address NUL shard`; the highest score owns the shard
//! (ties, which need equal 53-bit hashes, go to the smaller address). Adding or removing one
//! runner among N therefore moves only the shards it wins or held, about 1/N of them, and
//! nothing else; each runner's share is proportional to its weight.

use crate::sharding::address::RunnerAddress;
use crate::sharding::hash::StableHasher;
use crate::sharding::runner::{RegisteredRunner, Runner};
use crate::sharding::shard::{ShardId, ShardIdError};
use std::collections::{BTreeMap, BTreeSet};

/// A candidate with its address already hashed, so each shard costs one short hash per runner.
struct Candidate<'a> {
    runner: &'a Runner,
    prefix: StableHasher,
}

fn candidates<'a>(group: &str, runners: &'a [Runner]) -> Vec<Candidate<'a>> {
    runners
        .iter()
        .filter(|r| r.weight() > 0 && r.serves(group))
        .map(|runner| {
            let mut prefix = StableHasher::new();
            prefix.write(runner.address().to_string().as_bytes());
            prefix.write(&[0]);
            Candidate { runner, prefix }
        })
        .collect()
}

fn score(c: &Candidate<'_>, shard: &str) -> f64 {
    let mut h = c.prefix;
    h.write(shard.as_bytes());
    // The top 53 bits as a float in (0, 1): never 0, so ln is finite and negative.
    let u = ((h.finish() >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
    f64::from(c.runner.weight()) / -u.ln()
}

fn winner<'a>(cands: &[Candidate<'a>], shard: &str) -> Option<&'a Runner> {
    cands
        .iter()
        .map(|c| (score(c, shard), c.runner))
        .max_by(|(sa, ra), (sb, rb)| {
            sa.total_cmp(sb)
                .then_with(|| rb.address().cmp(ra.address()))
        })
        .map(|(_, r)| r)
}

/// The runner among `runners` that owns `shard`, if any serves its group.
///
/// `runners` should be the healthy ones (see [`healthy`]).
pub fn owner_of<'a>(shard: &ShardId, runners: &'a [Runner]) -> Option<&'a Runner> {
    winner(&candidates(shard.group(), runners), &shard.to_string())
}

/// The owner of every shard of `group` (`group:1 ..= group:shards_per_group`); shards no
/// runner serves are left out.
pub fn assign_group(
    group: &str,
    shards_per_group: u32,
    runners: &[Runner],
) -> Result<BTreeMap<ShardId, RunnerAddress>, ShardIdError> {
    let cands = candidates(group, runners);
    let mut out = BTreeMap::new();
    for shard in ShardId::all(group, shards_per_group)? {
        if let Some(r) = winner(&cands, &shard.to_string()) {
            out.insert(shard, r.address().clone());
        }
    }
    Ok(out)
}

/// The shards `me` should hold: for every group `me` serves, the shards it wins among
/// `runners`. Empty if `me` is not among `runners` (not registered, or not healthy).
pub fn shards_for(
    me: &RunnerAddress,
    runners: &[Runner],
    shards_per_group: u32,
) -> Result<BTreeSet<ShardId>, ShardIdError> {
    let Some(mine) = runners.iter().find(|r| r.address() == me) else {
        return Ok(BTreeSet::new());
    };
    let mut out = BTreeSet::new();
    for group in mine.groups() {
        let cands = candidates(group, runners);
        for shard in ShardId::all(group, shards_per_group)? {
            let won = winner(&cands, &shard.to_string()).is_some_and(|r| r.address() == me);
            if won {
                out.insert(shard);
            }
        }
    }
    Ok(out)
}

/// The healthy runners of a registry listing, the candidates of assignment.
pub fn healthy(registered: &[RegisteredRunner]) -> Vec<Runner> {
    registered
        .iter()
        .filter(|r| r.healthy)
        .map(|r| r.runner.clone())
        .collect()
}
