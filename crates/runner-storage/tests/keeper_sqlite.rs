//! The keeper cases on the SQLite backend, in real time at a fast timing (TTL 2 s, rounds
//! every 400 ms): SQLite answers from its own threads, which paused Tokio time cannot wait for.

mod support;

use berth_core::{OpenOptions, Store};
use support::cases::{self, Scale};

async fn open(dir: &tempfile::TempDir) -> Store {
    berth_state_sqlite::open(dir.path().join("state.db"), OpenOptions::default())
        .await
        .unwrap()
}

macro_rules! sqlite_cases {
    ($($name:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            let dir = tempfile::tempdir().unwrap();
            cases::$name(open(&dir).await, &Scale::fast()).await;
        }
    )*};
}

sqlite_cases!(
    keeps_leases_alive,
    hanging_storage_is_given_up_before_the_ttl,
    a_short_failure_keeps_the_shards,
    shards_move_when_runners_join_and_leave,
    a_dropped_runner_registers_again,
    an_unhealthy_runner_releases_its_shards,
);
