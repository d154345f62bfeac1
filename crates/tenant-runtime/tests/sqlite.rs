//! The tenant records on SQLite: a host restarted on the same database file adopts its live
//! tenant and still backs off a broken one — real processes, real file.

mod common;

use berth_core::OpenOptions;
use berth_tenant_runtime::{Error, Transition};
use common::{alive, get, runtime, Harness};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_on_sqlite_survive_a_host_restart() {
    let db = tempfile::tempdir().unwrap();
    let path = db.path().join("berth.db");
    let store = berth_state_sqlite::open(&path, OpenOptions::default())
        .await
        .unwrap();
    let h = Harness::with_store(store.clone());
    h.tenant("live", &[]);
    h.tenant("broken", &[("TENANT_EXIT_AT_START", "2")]);

    let (options, _events) = h.options();
    let first = runtime(options).await;
    let live = first.ensure("live").await.unwrap();
    assert!(first.ensure("broken").await.is_err());
    first.abandon();
    drop(first);
    drop(store);

    let reopened = berth_state_sqlite::open(&path, OpenOptions::default())
        .await
        .unwrap();
    let (options, mut events) = h.options_on(reopened);
    let second = runtime(options).await;
    assert!(events.transitions().contains(&Transition::Adopted {
        key: "live".into(),
        pid: live.pid,
        port: live.port,
    }));
    let again = second.ensure("live").await.unwrap();
    assert_eq!(again.pid, live.pid);
    assert_eq!(get(again.port).await, format!("ok pid={}\n", live.pid));
    assert!(matches!(
        second.ensure("broken").await,
        Err(Error::BackingOff { attempt: 1, .. })
    ));
    second.dispose().await;
    assert!(!alive(live.pid));
    h.assert_no_leaks();
}
