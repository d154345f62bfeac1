//! Tenants that try to escape being stopped: leaving their process group, a helper that
//! calls `setsid`, a leader that dies and leaves a helper behind — and the grace that covers
//! every process of a tenant. Each runs with a cgroup where the host allows one (`Auto`) and
//! with session tracking alone (`Session`) — real processes.

mod common;

use berth_tenant_runtime::{ExitReason, Isolation, IsolationMode, Transition};
use common::{alive, processes_under, runtime, until, Ev, Harness};
use std::time::{Duration, Instant};

async fn line_value(events: &mut common::Events, key: &str, prefix: &str) -> String {
    let (key, prefix) = (key.to_owned(), prefix.to_owned());
    events
        .wait(move |e| match e {
            Ev::L(l) if l.key == key => l.line.strip_prefix(&prefix).map(str::to_owned),
            _ => None,
        })
        .await
}

async fn leaves_its_process_group(mode: IsolationMode) {
    let h = Harness::new();
    let host_pgid = rustix::process::getpgrp()
        .as_raw_nonzero()
        .get()
        .to_string();
    h.tenant(
        "escaper",
        &[
            ("TENANT_IGNORE_SIGTERM", "1"),
            ("TENANT_JOIN_PGID", &host_pgid),
            ("TENANT_WORKER", "setpgid"),
        ],
    );
    let (mut options, mut events) = h.options();
    options.isolation = mode;
    let rt = runtime(options).await;
    let t = rt.ensure("escaper").await.unwrap();
    let worker: u32 = line_value(&mut events, "escaper", "worker pid=")
        .await
        .parse()
        .unwrap();
    let joined = line_value(&mut events, "escaper", &format!("join pgid={host_pgid} ")).await;
    // A tenant leads its own session: it cannot join the host's process group. (Without a
    // `setsid` program it can; the stop must reach it all the same.)
    if !matches!(rt.isolation(), Isolation::ProcessGroup) {
        assert_eq!(
            joined, "refused",
            "the tenant joined the host's process group"
        );
    }
    until("the worker left the tenant's group", || {
        std::fs::read_to_string(format!("/proc/{worker}/stat"))
            .ok()
            .and_then(|s| {
                s.rsplit(')')
                    .next()?
                    .split_whitespace()
                    .nth(2)?
                    .parse()
                    .ok()
            })
            == Some(worker)
    })
    .await;

    let started = Instant::now();
    let survivors = rt.kill("escaper").await;
    let took = started.elapsed();
    assert!(survivors.is_empty(), "left alive: {survivors:?}");
    assert!(took < Duration::from_secs(4), "kill took {took:?}");
    assert!(
        !alive(t.pid) && !alive(worker),
        "a process of the tenant survived"
    );
    rt.dispose().await;
    assert!(processes_under(h.root()).is_empty());
    h.assert_no_leaks();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_that_leaves_its_process_group_is_stopped_in_bounded_time() {
    leaves_its_process_group(IsolationMode::Auto).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_that_leaves_its_process_group_is_stopped_without_cgroups() {
    leaves_its_process_group(IsolationMode::Session).await;
}

async fn setsid_helper(mode: IsolationMode) {
    let h = Harness::new();
    h.tenant("daemon", &[("TENANT_WORKER", "setsid")]);
    h.tenant(
        "crasher",
        &[
            ("TENANT_WORKER", "setsid"),
            ("TENANT_CRASH_AFTER_MS", "300"),
        ],
    );
    let (mut options, mut events) = h.options();
    options.isolation = mode;
    let rt = runtime(options).await;

    // A helper in a session of its own goes with its tenant on dispose.
    let t = rt.ensure("daemon").await.unwrap();
    let helper: u32 = line_value(&mut events, "daemon", "worker pid=")
        .await
        .parse()
        .unwrap();
    until("the helper has its own session", || {
        std::fs::read_to_string(format!("/proc/{helper}/stat"))
            .ok()
            .and_then(|s| {
                s.rsplit(')')
                    .next()?
                    .split_whitespace()
                    .nth(3)?
                    .parse()
                    .ok()
            })
            == Some(helper)
    })
    .await;

    // And when its leader dies on its own, the helper left behind (now a child of init) is
    // stopped too.
    let c = rt.ensure("crasher").await.unwrap();
    let orphan: u32 = line_value(&mut events, "crasher", "worker pid=")
        .await
        .parse()
        .unwrap();
    let reason = events
        .wait(|e| match e {
            Ev::T(Transition::Exit { key, reason, .. }) if key == "crasher" => Some(*reason),
            _ => None,
        })
        .await;
    assert_eq!(reason, ExitReason::Crashed);
    assert!(!alive(c.pid), "crashed leader alive");
    assert!(!alive(orphan), "the helper of a crashed tenant survived it");

    rt.dispose().await;
    assert!(!alive(t.pid), "tenant survived dispose");
    assert!(!alive(helper), "the setsid helper survived dispose");
    assert!(processes_under(h.root()).is_empty());
    h.assert_no_leaks();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_helper_that_calls_setsid_is_stopped_with_its_tenant() {
    setsid_helper(IsolationMode::Auto).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_helper_that_calls_setsid_is_stopped_with_its_tenant_without_cgroups() {
    setsid_helper(IsolationMode::Session).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_grace_covers_every_process_of_the_tenant() {
    let h = Harness::new();
    h.tenant(
        "team",
        &[("TENANT_WORKER", "none"), ("TENANT_WORKER_TERM_MS", "600")],
    );
    let (mut options, mut events) = h.options();
    options.stop_grace = Duration::from_secs(3);
    let rt = runtime(options).await;
    let t = rt.ensure("team").await.unwrap();
    let worker: u32 = line_value(&mut events, "team", "worker pid=")
        .await
        .parse()
        .unwrap();

    // The leader dies of SIGTERM at once; its worker needs 600 ms to finish, well inside
    // the 3 s grace, and must be allowed to.
    let started = Instant::now();
    let survivors = rt.kill("team").await;
    let took = started.elapsed();
    assert!(survivors.is_empty());
    assert!(!alive(t.pid) && !alive(worker));
    line_value(&mut events, "team", "worker stopping").await;
    assert_eq!(line_value(&mut events, "team", "worker d").await, "one");
    assert!(took >= Duration::from_millis(600), "{took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    let signal = events
        .wait(|e| match e {
            Ev::T(Transition::Exit { key, signal, .. }) if key == "team" => Some(*signal),
            _ => None,
        })
        .await;
    assert_eq!(signal, Some(15), "the leader died of SIGTERM");
    rt.dispose().await;
    h.assert_no_leaks();
}
