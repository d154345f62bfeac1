//! Restart: never two processes of one key (checked in the process table), one shared
//! respawn for concurrent restarts — real processes.

mod common;

use berth_tenant_runtime::{ExitReason, Transition};
use common::{alive, get, processes_in, runtime, Ev, Harness};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarts_never_overlap_and_concurrent_restarts_share_one_respawn() {
    let h = Harness::new();
    // Ignoring SIGTERM, each old process lives through the whole grace period: a replacement
    // started too early would show up next to it in the process table.
    let dir = h.tenant("app", &[("TENANT_IGNORE_SIGTERM", "1")]);
    let (mut options, mut events) = h.options();
    options.stop_grace = std::time::Duration::from_millis(150);
    let rt = runtime(options).await;
    let first = rt.ensure("app").await.unwrap();

    // Watch the process table the whole time.
    let stop = Arc::new(AtomicBool::new(false));
    let most = Arc::new(AtomicUsize::new(0));
    let samples = Arc::new(AtomicUsize::new(0));
    let watcher = std::thread::spawn({
        let (stop, most, samples, dir) = (stop.clone(), most.clone(), samples.clone(), dir.clone());
        move || {
            while !stop.load(Ordering::SeqCst) {
                let n = processes_in(&dir).len();
                most.fetch_max(n, Ordering::SeqCst);
                samples.fetch_add(1, Ordering::SeqCst);
            }
        }
    });

    let mut pids = vec![first.pid];
    for _ in 0..3 {
        let t = rt.restart("app").await.unwrap();
        assert!(!pids.contains(&t.pid), "restart gives a fresh process");
        assert_eq!(get(t.port).await, format!("ok pid={}\n", t.pid));
        pids.push(t.pid);
    }
    let before = events
        .transitions()
        .iter()
        .filter(|t| matches!(t, Transition::Spawn { .. }))
        .count();
    let calls: Vec<_> = (0..5)
        .map(|_| {
            let rt = rt.clone();
            tokio::spawn(async move { rt.restart("app").await })
        })
        .collect();
    let mut got = BTreeSet::new();
    for call in calls {
        got.insert(call.await.unwrap().unwrap().pid);
    }
    // Concurrent restarts of one key share one respawn.
    let spawned = events
        .transitions()
        .iter()
        .filter(|t| matches!(t, Transition::Spawn { .. }))
        .count()
        - before;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(spawned, 1);
    let last = *got.iter().next().unwrap();
    assert!(alive(last));
    for pid in &pids {
        assert!(!alive(*pid), "old process {pid} still alive");
    }

    stop.store(true, Ordering::SeqCst);
    watcher.join().unwrap();
    assert!(samples.load(Ordering::SeqCst) > 10);
    assert_eq!(
        most.load(Ordering::SeqCst),
        1,
        "two processes of one key at once"
    );

    events
        .wait(|e| match e {
            Ev::T(Transition::Exit { pid, .. }) if *pid == pids[3] => Some(()),
            _ => None,
        })
        .await;
    let restarted = events
        .transitions()
        .iter()
        .filter(|t| {
            matches!(
                t,
                Transition::Exit {
                    reason: ExitReason::Restarted,
                    ..
                }
            )
        })
        .count();
    assert_eq!(restarted, 4);
    rt.dispose().await;
    h.assert_no_leaks();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ensure_after_kill_waits_for_the_old_group_to_be_gone() {
    let h = Harness::new();
    let dir = h.tenant("app", &[("TENANT_IGNORE_SIGTERM", "1")]);
    let (options, _events) = h.options();
    let rt = runtime(options).await;
    let old = rt.ensure("app").await.unwrap();
    // Kill in the background (it takes the 300 ms grace), and ensure at once.
    let killing = tokio::spawn({
        let rt = rt.clone();
        async move { rt.kill("app").await }
    });
    while rt.stats().running != 0 {
        tokio::task::yield_now().await;
    }
    assert!(alive(old.pid), "still in its grace period");
    let fresh = rt.ensure("app").await.unwrap();
    assert_ne!(old.pid, fresh.pid);
    assert!(
        !alive(old.pid),
        "the new process started before the old one was gone"
    );
    assert_eq!(processes_in(&dir), vec![fresh.pid]);
    killing.await.unwrap();
    rt.dispose().await;
    h.assert_no_leaks();
}
