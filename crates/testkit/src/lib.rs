//! berth-testkit: the conformance suite every berth backend runs, and the trace recorder.
//!
//! The suite is the spec of berth's contracts: each test is an `async fn(&dyn Backend)`,
//! grouped by contract (records, batches, limits, typed collections, leases, checkpoints, pack
//! runs, persistence). A backend crate implements [`Backend`] (make a fresh, empty location)
//! and [`Location`] (open it, again and again), then expands the whole suite into
//! `#[tokio::test]`s with [`conformance_tests!`](crate::conformance_tests). [`trace`] records
//! what a service does to a store, as the seed traces show it.
//!
//! ```
//! use async_trait::async_trait;
//! use berth_core::{OpenOptions, Result, Store};
//! use berth_testkit::{Backend, Location};
//!
//! struct Memory;
//! struct MemoryLocation;
//!
//! #[async_trait]
//! impl Backend for Memory {
//!     async fn create(&self) -> Box<dyn Location> {
//!         Box::new(MemoryLocation)
//!     }
//! }
//!
//! #[async_trait]
//! impl Location for MemoryLocation {
//!     async fn open(&self, options: OpenOptions) -> Result<Store> {
//!         Ok(berth_state_memory::open(options))
//!     }
//! }
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! // One test of the suite; `berth_testkit::conformance_tests!(Memory);` expands all of them.
//! berth_testkit::batches::atomic_when_middle_precondition_fails(&Memory).await;
//! # });
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

pub mod batches;
pub mod checkpoints;
pub mod contention;
pub mod damaged;
pub mod leases;
pub mod limits;
pub mod packruns;
pub mod persistence;
pub mod records;
pub mod run_bundles;
pub mod sessions;
pub mod trace;
pub mod typed;

use async_trait::async_trait;
use berth_core::{Batch, DeterministicIds, ManualClock, OpenOptions, Result, Store, Timestamp};
use std::sync::Arc;

/// A backend under test: makes fresh, empty storage locations.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// A new, empty location (a temporary file, directory, database name…).
    async fn create(&self) -> Box<dyn Location>;
}

/// One storage location of a backend under test; removed when dropped.
#[async_trait]
pub trait Location: Send + Sync {
    /// Opens the store at this location. Called again after every handle of the previous
    /// open is dropped, it must see what the previous handle committed (if persistent).
    async fn open(&self, options: OpenOptions) -> Result<Store>;

    /// Overwrites the stored document of run `id` (opened as `store`) so that it no longer
    /// reads as a run, bypassing every check, as damage on disk would; its key and its place in
    /// listings stay. The default writes through the record layer, where the generic pack-run
    /// stores keep runs; a backend with native run storage overrides it with a raw write.
    /// `Unsupported` where the storage cannot be reached from outside the store.
    async fn damage_run(&self, store: &Store, id: &str) -> Result<()> {
        let mut batch = Batch::new();
        batch.put(
            "pack_runs",
            id,
            serde_json::json!({"id": id, "status": "no such status"}),
        );
        store.commit(batch).await.map(|_| ())
    }
}

/// Start time of the manual clock the suite uses: 2025-01-01T00:00:00Z.
pub const T0: Timestamp = Timestamp::from_millis(1_735_689_600_000);

/// A fresh store on a manual clock at [`T0`], with deterministic ids; keep the location alive.
pub async fn fresh(backend: &dyn Backend) -> (Box<dyn Location>, Store, ManualClock) {
    let location = backend.create().await;
    let clock = ManualClock::new(T0);
    let options = OpenOptions::default()
        .with_clock(Arc::new(clock.clone()))
        .with_ids(Arc::new(DeterministicIds::new(42)));
    let store = location.open(options).await.expect("open a fresh store");
    (location, store, clock)
}

/// Expands to one `#[tokio::test]` per conformance test, for the backend `$backend`
/// (an expression of a type implementing [`Backend`]).
#[macro_export]
macro_rules! conformance_tests {
    ($backend:expr) => {
        $crate::conformance_tests!(@tests $backend;
            records::round_trip_and_versions,
            records::timestamps_follow_the_clock,
            records::get_many_aligns_and_skips_missing,
            records::scan_orders_by_key_bytes,
            records::scan_prefix_cursor_limit_reverse,
            records::pagination_neither_repeats_nor_skips_under_inserts,
            records::count_by_prefix,
            records::collections_are_independent,
            batches::atomic_when_middle_precondition_fails,
            batches::precondition_absent,
            batches::precondition_exists,
            batches::precondition_version,
            batches::ops_see_earlier_ops_of_the_batch,
            batches::check_op_writes_nothing,
            batches::delete_then_recreate_restarts_version,
            batches::concurrent_compare_and_set_loses_no_update,
            limits::invalid_names_and_keys_are_rejected,
            limits::oversized_value_rejected_and_nothing_written,
            limits::largest_value_round_trips,
            limits::deepest_value_round_trips,
            limits::too_deep_value_rejected_and_nothing_written,
            typed::typed_collection_round_trip,
            typed::typed_decode_mismatch_is_corrupt,
            typed::raw_index_puts,
            leases::register_keeps_machine_id,
            leases::unregister_then_register_gets_new_id,
            leases::health_changes,
            leases::acquire_is_exclusive_and_partial,
            leases::takeover_after_expiry,
            leases::refresh_returns_only_held,
            leases::release_and_release_all,
            leases::tokens_strictly_increase,
            leases::fenced_batch_rejected_after_takeover,
            leases::fenced_batch_accepted_while_held,
            leases::concurrent_acquire_single_winner,
            leases::invalid_lease_names_rejected,
            sessions::keepalive_extends_every_attached_lease,
            sessions::expiry_frees_everything_at_once,
            sessions::close_releases_everything,
            sessions::reestablish_gives_new_tokens,
            sessions::tokens_never_reset,
            sessions::sessions_survive_reopen,
            sessions::owner_leases_and_session_leases_exclude_each_other,
            sessions::concurrent_session_acquire_single_winner,
            sessions::bad_ttl_and_clock_edges_are_typed,
            sessions::unknown_sessions_and_bad_names_are_typed,
            checkpoints::write_read_clear,
            checkpoints::checkpoint_commits_with_state_patch,
            checkpoints::history_list_and_prune,
            checkpoints::get_by_id_and_caller_ids,
            checkpoints::metadata_filter_and_before_paging,
            checkpoints::pending_writes_per_task,
            checkpoints::delete_run_removes_everything,
            checkpoints::copy_run_forks_atomically,
            checkpoints::prune_policy_over_many_runs,
            checkpoints::ttl_expires_runs,
            checkpoints::namespaces_nested_and_long,
            checkpoints::current_is_newest_under_reordered_commits,
            checkpoints::current_is_newest_under_concurrent_writers,
            checkpoints::whole_run_operations_see_writes_that_cut_in,
            checkpoints::survive_reopen,
            packruns::runs_create_get_update,
            packruns::runs_listed_by_updated_and_tenant,
            packruns::log_append_idempotent_and_ordered,
            packruns::log_conflict_writes_nothing,
            packruns::artifacts_unique_per_run_and_name,
            packruns::approvals_compare_and_set,
            packruns::approvals_quorum_and_grants,
            packruns::restore_keeps_records_exactly,
            run_bundles::bundle_restores_whole_with_versions,
            run_bundles::bundle_restore_failing_part_way_writes_nothing,
            run_bundles::bundle_reimport_idempotent_versions_forward,
            packruns::fenced_packrun_writes_rejected_after_takeover,
            packruns::fenced_packrun_writes_need_a_live_lease,
            damaged::damaged_run_is_named_and_skipped_in_listings,
            persistence::data_survives_reopen,
            persistence::capabilities_are_honest,
        );
    };
    (@tests $backend:expr; $($module:ident :: $name:ident),+ $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let backend = $backend;
                $crate::$module::$name(&backend).await;
            }
        )+
    };
}
