//! The runner registry: `{_id: address, runner, healthy, machineId}`, machine ids drawn from
//! an atomic counter document so an id is never handed out twice.

use crate::errors::{ctx, is_duplicate_key};
use crate::schema::Role;
use crate::shared::{collect, Shared};
use berth_core::{Error, MachineId, Result, RunnerEntry};
use mongodb::bson::{doc, Document};
use mongodb::options::ReturnDocument;

/// Counter document of machine ids in the meta collection.
const MACHINE_IDS: &str = "machine_id";
/// Tries of a registration racing another registration of the same address.
const REGISTER_ATTEMPTS: usize = 5;

async fn next_machine_id(shared: &Shared) -> Result<MachineId> {
    let counter = shared
        .coll(Role::Meta)
        .find_one_and_update(doc! {"_id": MACHINE_IDS}, doc! {"$inc": {"value": 1_i64}})
        .upsert(true)
        .return_document(ReturnDocument::After)
        .await
        .map_err(ctx("draw machine id"))?
        .ok_or_else(|| Error::Corrupt("machine id counter vanished".into()))?;
    crate::errors::number(&counter, "value")
        .map(MachineId)
        .ok_or_else(|| Error::Corrupt("machine id counter is not a number".into()))
}

fn entry(d: &Document) -> Result<RunnerEntry> {
    Ok(RunnerEntry {
        address: crate::bson_json::stored_str(d, "_id", "runner")?.to_owned(),
        runner: crate::bson_json::stored_str(d, "runner", "runner")?.to_owned(),
        healthy: d
            .get_bool("healthy")
            .map_err(|_| Error::Corrupt("runner: healthy is not a bool".into()))?,
        machine_id: MachineId(
            crate::errors::number(d, "machineId")
                .ok_or_else(|| Error::Corrupt("runner: machineId missing".into()))?,
        ),
    })
}

pub(crate) async fn register(
    shared: &Shared,
    address: &str,
    runner: &str,
    healthy: bool,
) -> Result<MachineId> {
    let runners = shared.coll(Role::Runners);
    for _ in 0..REGISTER_ATTEMPTS {
        let existing = runners
            .find_one_and_update(
                doc! {"_id": address},
                doc! {"$set": {"runner": runner, "healthy": healthy}},
            )
            .return_document(ReturnDocument::After)
            .await
            .map_err(ctx("register runner"))?;
        if let Some(d) = existing {
            return Ok(entry(&d)?.machine_id);
        }
        let id = next_machine_id(shared).await?;
        let fresh = doc! {"_id": address, "runner": runner, "healthy": healthy, "machineId": id.0};
        match runners.insert_one(fresh).await {
            Ok(_) => return Ok(id),
            // Registered concurrently: keep theirs (the drawn id is simply never used).
            Err(e) if is_duplicate_key(&e) => continue,
            Err(e) => return Err(ctx("register runner")(e)),
        }
    }
    Err(Error::backend_msg(
        format!("registering {address} kept racing other registrations"),
        true,
    ))
}

pub(crate) async fn unregister(shared: &Shared, address: &str) -> Result<()> {
    shared
        .coll(Role::Runners)
        .delete_one(doc! {"_id": address})
        .await
        .map_err(ctx("unregister runner"))?;
    Ok(())
}

pub(crate) async fn runners(shared: &Shared) -> Result<Vec<RunnerEntry>> {
    let cursor = shared
        .coll(Role::Runners)
        .find(doc! {})
        .sort(doc! {"_id": 1})
        .await
        .map_err(ctx("list runners"))?;
    collect(cursor, "list runners")
        .await?
        .iter()
        .map(entry)
        .collect()
}

pub(crate) async fn set_health(shared: &Shared, address: &str, healthy: bool) -> Result<()> {
    let done = shared
        .coll(Role::Runners)
        .update_one(doc! {"_id": address}, doc! {"$set": {"healthy": healthy}})
        .await
        .map_err(ctx("set runner health"))?;
    if done.matched_count == 0 {
        return Err(Error::NotFound(format!("runner {address}")));
    }
    Ok(())
}
