//! Spawn-or-reuse, single flight, idle kill, LRU eviction, drain and dispose — real processes.

mod common;

use berth_tenant_runtime::{Error, ExitReason, LogStream, Transition};
use common::{alive, get, runtime, Ev, Harness};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_flight_spawns_one_process_for_200_callers_then_reuses_it() {
    let h = Harness::new();
    h.tenant("cold", &[]);
    let (options, mut events) = h.options();
    let rt = runtime(options).await;

    let calls: Vec<_> = (0..200)
        .map(|_| {
            let rt = rt.clone();
            tokio::spawn(async move { rt.ensure("cold").await })
        })
        .collect();
    let mut pids = std::collections::BTreeSet::new();
    for call in calls {
        pids.insert(call.await.unwrap().expect("ensure").pid);
    }
    assert_eq!(pids.len(), 1, "every caller got the same process");
    let spawns = events
        .transitions()
        .iter()
        .filter(|t| matches!(t, Transition::Spawn { .. }))
        .count();
    assert_eq!(spawns, 1);

    let tenant = rt.ensure("cold").await.unwrap();
    assert!(pids.contains(&tenant.pid), "warm ensure reuses the process");
    assert_eq!(get(tenant.port).await, format!("ok pid={}\n", tenant.pid));
    let m = rt.metrics();
    assert_eq!(m.total_spawns, 1);
    assert_eq!((m.stats.running, m.stats.total), (1, 1));
    assert!(m.last_spawn.is_some());

    // stdout and stderr lines arrive one by one.
    events
        .wait(|e| match e {
            Ev::L(l) if l.stream == LogStream::Stdout && l.line.starts_with("listening port=") => {
                Some(())
            }
            _ => None,
        })
        .await;
    events
        .wait(|e| match e {
            Ev::L(l) if l.stream == LogStream::Stderr && l.line == "hello from stderr" => Some(()),
            _ => None,
        })
        .await;

    rt.dispose().await;
    let exit = events
        .wait(|e| match e {
            Ev::T(Transition::Exit { reason, .. }) => Some(*reason),
            _ => None,
        })
        .await;
    assert_eq!(exit, ExitReason::Disposed);
    assert!(matches!(rt.ensure("cold").await, Err(Error::Disposed)));
    h.assert_no_leaks();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_tenants_are_stopped_and_touch_keeps_them() {
    let h = Harness::new();
    h.tenant("idle", &[]);
    h.tenant("busy", &[]);
    let (mut options, mut events) = h.options();
    options.idle_after = Duration::from_millis(400);
    let rt = runtime(options).await;
    let idle = rt.ensure("idle").await.unwrap();
    let busy = rt.ensure("busy").await.unwrap();
    // Keep "busy" in use the whole time.
    let toucher = tokio::spawn({
        let rt = rt.clone();
        async move {
            loop {
                rt.touch("busy");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    });

    let (key, reason) = events
        .wait(|e| match e {
            Ev::T(Transition::Exit { key, reason, .. }) => Some((key.clone(), *reason)),
            _ => None,
        })
        .await;
    assert_eq!((key.as_str(), reason), ("idle", ExitReason::IdleKilled));
    assert!(events
        .seen
        .iter()
        .any(|e| matches!(e, Ev::T(Transition::IdleKill { key, .. }) if key == "idle")));
    assert!(!alive(idle.pid));
    // Twice the idle time later, the touched tenant is still up.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(
        alive(busy.pid),
        "touched every 50 ms, never idle for 400 ms"
    );
    assert_eq!(rt.stats().running, 1);
    toucher.abort();
    let key = events
        .wait(|e| match e {
            Ev::T(Transition::Exit { key, .. }) if key == "busy" => Some(key.clone()),
            _ => None,
        })
        .await;
    assert_eq!(key, "busy", "idle once no longer touched");
    assert_eq!(rt.metrics().total_exits[&ExitReason::IdleKilled], 2);
    rt.dispose().await;
    h.assert_no_leaks();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_least_recently_used_tenant_is_evicted_at_the_cap() {
    let h = Harness::new();
    for k in ["a", "b", "c"] {
        h.tenant(k, &[]);
    }
    let (mut options, mut events) = h.options();
    options.max_concurrent = 2;
    let rt = runtime(options).await;
    let a = rt.ensure("a").await.unwrap();
    let b = rt.ensure("b").await.unwrap();
    rt.touch("a");
    let c = rt.ensure("c").await.unwrap();

    let (key, reason) = events
        .wait(|e| match e {
            Ev::T(Transition::Exit { key, reason, .. }) => Some((key.clone(), *reason)),
            _ => None,
        })
        .await;
    assert_eq!((key.as_str(), reason), ("b", ExitReason::LruEvicted));
    assert!(events
        .seen
        .iter()
        .any(|e| matches!(e, Ev::T(Transition::LruEvict { key, .. }) if key == "b")));
    assert!(!alive(b.pid), "evicted before c was started");
    assert!(alive(a.pid) && alive(c.pid));
    assert_eq!(rt.stats().running, 2);
    rt.dispose().await;
    h.assert_no_leaks();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_refuses_new_starts_and_reports_completion() {
    let h = Harness::new();
    h.tenant("one", &[]);
    h.tenant("two", &[]);
    h.tenant("new", &[]);
    let (options, mut events) = h.options();
    let rt = runtime(options).await;
    rt.ensure("one").await.unwrap();
    rt.ensure("two").await.unwrap();

    rt.drain();
    assert!(rt.stats().draining);
    assert!(matches!(rt.ensure("new").await, Err(Error::Draining)));
    assert!(matches!(rt.restart("one").await, Err(Error::Draining)));
    rt.ensure("one")
        .await
        .expect("running tenants are still served");

    let drained = tokio::spawn({
        let rt = rt.clone();
        async move { rt.drained().await }
    });
    rt.kill("one").await;
    assert!(!drained.is_finished());
    rt.kill("two").await;
    tokio::time::timeout(Duration::from_secs(5), drained)
        .await
        .expect("drained resolves")
        .unwrap();
    events
        .wait(|e| matches!(e, Ev::T(Transition::Drained)).then_some(()))
        .await;
    let kinds: Vec<_> = events.transitions();
    let drain_at = kinds.iter().position(|t| *t == Transition::Drain).unwrap();
    let drained_at = kinds
        .iter()
        .position(|t| *t == Transition::Drained)
        .unwrap();
    assert!(drain_at < drained_at);
    assert_eq!(rt.metrics().total_exits[&ExitReason::Killed], 2);
    rt.dispose().await;
    h.assert_no_leaks();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dispose_during_a_start_leaves_no_process() {
    let h = Harness::new();
    h.tenant("slow", &[("TENANT_START_DELAY_MS", "10000")]);
    let (options, mut events) = h.options();
    let rt = runtime(options).await;
    let pending = tokio::spawn({
        let rt = rt.clone();
        async move { rt.ensure("slow").await }
    });
    let pid = events
        .wait(|e| match e {
            Ev::T(Transition::Spawn { pid, .. }) => Some(*pid),
            _ => None,
        })
        .await;
    assert!(alive(pid));
    rt.dispose().await;
    assert!(!alive(pid), "dispose returned with the child still alive");
    let outcome = pending.await.unwrap();
    assert!(
        matches!(
            outcome,
            Err(Error::Cancelled {
                reason: ExitReason::Disposed,
                ..
            })
        ),
        "{outcome:?}"
    );
    let reason = events
        .wait(|e| match e {
            Ev::T(Transition::Exit { reason, .. }) => Some(*reason),
            _ => None,
        })
        .await;
    assert_eq!(reason, ExitReason::Disposed);
    assert_eq!(rt.stats().total, 0);
    h.assert_no_leaks();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn environment_is_an_allow_list_plus_port() {
    let h = Harness::new();
    h.tenant("env", &[]);
    // A shell command that prints its environment, then serves via the test tenant.
    let (mut options, mut events) = h.options();
    let tenant = env!("CARGO_BIN_EXE_berth-test-tenant");
    options.command = vec![
        "/bin/sh".into(),
        "-c".into(),
        format!("env | sort | sed 's/^/env: /'; exec {tenant}"),
    ];
    options.env_allow = vec!["PATH".into()];
    options.env.insert("TENANT_GREETING".into(), "hi".into());
    std::env::set_var("BERTH_TEST_SECRET", "must-not-leak");
    let rt = runtime(options).await;
    let t = rt.ensure("env").await.unwrap();
    // The env dump comes before the tenant's "listening" line.
    events
        .wait(|e| match e {
            Ev::L(l) if l.line.starts_with("listening port=") => Some(()),
            _ => None,
        })
        .await;
    let port_line = format!("env: PORT={}", t.port);
    assert!(events
        .seen
        .iter()
        .any(|e| matches!(e, Ev::L(l) if l.line == port_line)));
    let names: Vec<String> = events
        .seen
        .iter()
        .filter_map(|e| match e {
            Ev::L(l) => l
                .line
                .strip_prefix("env: ")?
                .split('=')
                .next()
                .map(str::to_owned),
            _ => None,
        })
        .collect();
    assert!(names.contains(&"TENANT_GREETING".to_owned()));
    assert!(names.contains(&"PATH".to_owned()));
    assert!(
        !names.contains(&"BERTH_TEST_SECRET".to_owned()),
        "{names:?}"
    );
    assert!(!names.contains(&"HOME".to_owned()), "{names:?}");
    rt.dispose().await;
    h.assert_no_leaks();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_keys_and_missing_tenants_are_typed_errors() {
    let h = Harness::new();
    let (options, _events) = h.options();
    let rt = runtime(options).await;
    for key in ["", "..", "a/b", "nul\0"] {
        assert!(
            matches!(rt.ensure(key).await, Err(Error::InvalidKey { .. })),
            "{key:?}"
        );
    }
    assert!(matches!(
        rt.ensure("nobody").await,
        Err(Error::UnknownTenant { .. })
    ));
    assert!(matches!(
        rt.ensure("nobody").await,
        Err(Error::BackingOff { .. })
    ));
    assert_eq!(rt.stats().backoff, 1);
    rt.dispose().await;
}
