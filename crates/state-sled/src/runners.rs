//! The runner registry: runners keyed by address, machine ids from a persisted counter.
//!
//! Blocking functions over the [`Database`]; [`SledLeases`](crate::SledLeases) runs them.

use crate::commit::abort;
use crate::database::{Database, LAST_MACHINE_ID};
use crate::encoding::{decode_counter, decode_runner, encode_counter, encode_runner};
use crate::errors::{from_sled, from_transaction};
use berth_core::{Error, MachineId, Result, RunnerEntry};
use sled::Transactional;

/// Registers `runner` at `address`, keeping the machine id of an earlier registration.
pub(crate) fn register(
    db: &Database,
    address: &str,
    runner: &str,
    healthy: bool,
) -> Result<MachineId> {
    (&db.runners, &db.meta)
        .transaction(|(runners, meta)| {
            let machine_id = match runners.get(address.as_bytes())? {
                Some(bytes) => {
                    decode_runner(address.as_bytes(), &bytes)
                        .map_err(abort)?
                        .machine_id
                }
                None => {
                    // Ids come from a counter that only grows, so an id is never reused.
                    let last = match meta.get(LAST_MACHINE_ID)? {
                        Some(bytes) => decode_counter(&bytes).map_err(abort)?,
                        None => 0,
                    };
                    let next = last
                        .checked_add(1)
                        .ok_or_else(|| abort(Error::backend_msg("machine ids exhausted", false)))?;
                    meta.insert(LAST_MACHINE_ID, &encode_counter(next))?;
                    MachineId(next)
                }
            };
            runners.insert(
                address.as_bytes(),
                encode_runner(machine_id, healthy, runner),
            )?;
            Ok(machine_id)
        })
        .map_err(from_transaction)
}

/// Removes the runner at `address`; whether there was one.
pub(crate) fn unregister(db: &Database, address: &str) -> Result<bool> {
    Ok(db
        .runners
        .remove(address.as_bytes())
        .map_err(from_sled)?
        .is_some())
}

/// Every runner, ordered by address bytes.
pub(crate) fn runners(db: &Database) -> Result<Vec<RunnerEntry>> {
    db.runners
        .iter()
        .map(|entry| {
            let (k, v) = entry.map_err(from_sled)?;
            decode_runner(&k, &v)
        })
        .collect()
}

/// Sets the health of the runner at `address`; `NotFound` if there is none.
pub(crate) fn set_health(db: &Database, address: &str, healthy: bool) -> Result<()> {
    db.runners
        .transaction(|runners| {
            let Some(bytes) = runners.get(address.as_bytes())? else {
                return Err(abort(Error::NotFound(format!("runner {address}"))));
            };
            let entry = decode_runner(address.as_bytes(), &bytes).map_err(abort)?;
            runners.insert(
                address.as_bytes(),
                encode_runner(entry.machine_id, healthy, &entry.runner),
            )?;
            Ok(())
        })
        .map_err(from_transaction)
}
