//! Checkpoints: written in the caller's batch, the current one is the newest history entry,
//! and what a LangGraph checkpointer user expects (ids, metadata filters, paging, pending
//! writes, whole-run delete and copy, pruning, time-to-live, nested namespaces).

mod basics;
mod interleave;
mod lookup;
mod races;
mod runs;
mod writes;

pub use basics::{checkpoint_commits_with_state_patch, history_list_and_prune, write_read_clear};
pub use interleave::whole_run_operations_see_writes_that_cut_in;
pub use lookup::{get_by_id_and_caller_ids, metadata_filter_and_before_paging};
pub use races::{
    current_is_newest_under_concurrent_writers, current_is_newest_under_reordered_commits,
};
pub use runs::{
    copy_run_forks_atomically, delete_run_removes_everything, namespaces_nested_and_long,
    prune_policy_over_many_runs, survive_reopen, ttl_expires_runs,
};
pub use writes::pending_writes_per_task;

use berth_core::{Checkpoint, Store, Timestamp};

/// A checkpoint of `run` in `ns` with id `id` at `at` (ms after the suite's start).
pub(crate) fn at(ns: &str, run: &str, id: &str, at: u64) -> Checkpoint {
    Checkpoint::new(
        ns,
        run,
        "s",
        "Stage",
        Timestamp::from_millis(crate::T0.millis() + at as i64),
    )
    .with_id(id)
    .with_data(serde_json::json!({"id": id}))
}

/// Raw records of `collection` whose key starts with `prefix`.
pub(crate) async fn raw_count(store: &Store, collection: &str, prefix: &str) -> u64 {
    store.records().count(collection, prefix).await.unwrap()
}
