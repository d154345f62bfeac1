//! Failures: back-off timing and cap, crashes after readiness, readiness timeouts, and
//! tenants that ignore SIGTERM — real processes.

mod common;

use berth_core::{ManualClock, OpenOptions, Timestamp};
use berth_tenant_runtime::{BackoffPolicy, Error, ExitReason, Transition};
use common::{alive, runtime, Ev, Harness};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn manual_store() -> (berth_core::Store, ManualClock) {
    let clock = ManualClock::new(Timestamp::from_millis(1_700_000_000_000));
    let store =
        berth_state_memory::open(OpenOptions::default().with_clock(Arc::new(clock.clone())));
    (store, clock)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_starts_back_off_exponentially_up_to_the_cap() {
    let (store, clock) = manual_store();
    let h = Harness::with_store(store);
    let dir = h.tenant("broken", &[("TENANT_EXIT_AT_START", "7")]);
    let (mut options, mut events) = h.options();
    options.backoff = BackoffPolicy::new(Duration::from_secs(1), Duration::from_secs(3), 4);
    let rt = runtime(options).await;

    let first = rt.ensure("broken").await.unwrap_err();
    assert!(
        matches!(&first, Error::ExitedBeforeReady { status, .. } if status == "exit code 7"),
        "{first:?}"
    );
    let reason = events
        .wait(|e| match e {
            Ev::T(Transition::Exit {
                reason, exit_code, ..
            }) => Some((*reason, *exit_code)),
            _ => None,
        })
        .await;
    assert_eq!(reason, (ExitReason::Crashed, Some(7)));

    // Windows: 1 s, 2 s, 3 s (capped), then refused at 4 failures.
    for (attempt, window) in [(1, 1), (2, 2), (3, 3)] {
        match rt.ensure("broken").await {
            Err(Error::BackingOff {
                attempt: a,
                retry_in,
                ..
            }) => {
                assert_eq!(a, attempt);
                assert_eq!(retry_in, Duration::from_secs(window));
            }
            other => panic!("expected back-off, got {other:?}"),
        }
        clock.advance(Duration::from_millis(window * 1000 - 1));
        assert!(rt.ensure("broken").await.unwrap_err().is_backoff());
        clock.advance(Duration::from_millis(1));
        assert!(matches!(
            rt.ensure("broken").await,
            Err(Error::ExitedBeforeReady { .. })
        ));
    }
    clock.advance(Duration::from_secs(3600));
    assert!(matches!(
        rt.ensure("broken").await,
        Err(Error::TooManyFailures { failures: 4, .. })
    ));
    let m = rt.metrics();
    assert_eq!(m.total_backoff_entries, 4);
    assert_eq!(m.total_spawns, 4);
    assert_eq!(m.stats.backoff, 1);

    // Fixed and cleared: starts at once.
    std::fs::write(dir.join("tenant.env"), "").unwrap();
    rt.clear_backoff("broken").await.unwrap();
    assert_eq!(rt.stats().backoff, 0);
    rt.ensure("broken")
        .await
        .expect("starts after clear_backoff");
    rt.dispose().await;
    h.assert_no_leaks();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_after_readiness_counts_until_the_tenant_is_stable() {
    let (store, clock) = manual_store();
    let h = Harness::with_store(store);
    let dir = h.tenant("flaky", &[("TENANT_CRASH_AFTER_MS", "700")]);
    let (mut options, mut events) = h.options();
    options.stable_after = Duration::from_secs(600);
    let rt = runtime(options).await;

    let t = rt.ensure("flaky").await.expect("ready before it crashes");
    let (pid, reason, code) = events
        .wait(|e| match e {
            Ev::T(Transition::Exit {
                pid,
                reason,
                exit_code,
                ..
            }) => Some((*pid, *reason, *exit_code)),
            _ => None,
        })
        .await;
    assert_eq!((pid, reason, code), (t.pid, ExitReason::Crashed, Some(3)));
    let attempt = events
        .wait(|e| match e {
            Ev::T(Transition::Backoff { attempt, .. }) => Some(*attempt),
            _ => None,
        })
        .await;
    assert_eq!(attempt, 1);
    assert!(matches!(
        rt.ensure("flaky").await,
        Err(Error::BackingOff { attempt: 1, .. })
    ));

    // A tenant that stays up for the stable period has its failures forgotten.
    std::fs::write(dir.join("tenant.env"), "").unwrap();
    clock.advance(Duration::from_secs(1));
    rt.ensure("flaky").await.unwrap();
    assert_eq!(rt.stats().backoff, 0, "window passed");
    clock.advance(Duration::from_secs(601));
    tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let stored = h
                .store
                .collection::<berth_tenant_runtime::TenantRecord>("tenant-runtime")
                .unwrap()
                .get("flaky")
                .await
                .unwrap()
                .unwrap();
            if stored.value.backoff.is_none() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the sweeper forgets failures of a stable tenant");
    rt.dispose().await;
    h.assert_no_leaks();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_that_never_becomes_ready_is_killed_and_reported_as_readiness_timeout() {
    let h = Harness::new();
    h.tenant("mute", &[("TENANT_NEVER_READY", "1")]);
    let (mut options, mut events) = h.options();
    options.readiness_timeout = Duration::from_millis(800);
    let rt = runtime(options).await;
    let started = Instant::now();
    let err = rt.ensure("mute").await.unwrap_err();
    assert!(
        matches!(err, Error::ReadinessTimeout { after, .. } if after == Duration::from_millis(800)),
        "{err:?}"
    );
    assert!(started.elapsed() >= Duration::from_millis(800));
    let (pid, reason) = events
        .wait(|e| match e {
            Ev::T(Transition::Exit { pid, reason, .. }) => Some((*pid, *reason)),
            _ => None,
        })
        .await;
    assert_eq!(reason, ExitReason::ReadinessTimeout);
    assert!(!alive(pid));
    let m = rt.metrics();
    assert_eq!(m.total_exits[&ExitReason::ReadinessTimeout], 1);
    assert_eq!(m.total_exits[&ExitReason::Crashed], 0);
    assert_eq!(m.stats.backoff, 1);
    rt.dispose().await;
    h.assert_no_leaks();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_ignoring_tenant_is_sigkilled_with_its_grandchild_after_the_grace() {
    let h = Harness::new();
    h.tenant(
        "stubborn",
        &[("TENANT_IGNORE_SIGTERM", "1"), ("TENANT_GRANDCHILD", "1")],
    );
    h.tenant("polite", &[("TENANT_GRANDCHILD", "1")]);
    let (mut options, mut events) = h.options();
    options.stop_grace = Duration::from_millis(400);
    let rt = runtime(options).await;

    let t = rt.ensure("stubborn").await.unwrap();
    let grandchild = events
        .wait(|e| match e {
            Ev::L(l) if l.key == "stubborn" => {
                l.line.strip_prefix("grandchild pid=")?.parse::<u32>().ok()
            }
            _ => None,
        })
        .await;
    assert!(alive(t.pid) && alive(grandchild));
    let started = Instant::now();
    rt.kill("stubborn").await;
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(400),
        "SIGKILL came before the grace: {took:?}"
    );
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert!(!alive(t.pid), "tenant survived");
    assert!(!alive(grandchild), "grandchild survived");
    let (reason, signal) = events
        .wait(|e| match e {
            Ev::T(Transition::Exit {
                key,
                reason,
                signal,
                ..
            }) if key == "stubborn" => Some((*reason, *signal)),
            _ => None,
        })
        .await;
    assert_eq!((reason, signal), (ExitReason::Killed, Some(9)));

    // A polite tenant dies of SIGTERM well within the grace; its grandchild (which ignores
    // SIGTERM) is still killed with the group.
    let p = rt.ensure("polite").await.unwrap();
    let grandchild = events
        .wait(|e| match e {
            Ev::L(l) if l.key == "polite" => {
                l.line.strip_prefix("grandchild pid=")?.parse::<u32>().ok()
            }
            _ => None,
        })
        .await;
    rt.kill("polite").await;
    assert!(!alive(p.pid) && !alive(grandchild));
    let signal = events
        .wait(|e| match e {
            Ev::T(Transition::Exit { key, signal, .. }) if key == "polite" => Some(*signal),
            _ => None,
        })
        .await;
    assert_eq!(signal, Some(15));
    rt.dispose().await;
    h.assert_no_leaks();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_exit_is_reported_as_such_and_not_counted_as_failure() {
    let h = Harness::new();
    h.tenant("done", &[("TENANT_EXIT_AFTER_MS", "1000")]);
    let (options, mut events) = h.options();
    let rt = runtime(options).await;
    rt.ensure("done").await.unwrap();
    let reason = events
        .wait(|e| match e {
            Ev::T(Transition::Exit { reason, .. }) => Some(*reason),
            _ => None,
        })
        .await;
    assert_eq!(reason, ExitReason::ExitedClean);
    rt.ensure("done")
        .await
        .expect("no back-off after a clean exit");
    assert_eq!(rt.metrics().total_spawns, 2);
    rt.dispose().await;
    h.assert_no_leaks();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_decay_so_a_daily_crash_is_never_refused() {
    let (store, clock) = manual_store();
    let h = Harness::with_store(store);
    h.tenant("daily", &[("TENANT_CRASH_AFTER_MS", "200")]);
    let (mut options, mut events) = h.options();
    // Refused at the 2nd failure in a row; a failure 10 min after the previous one is a
    // first failure again.
    options.backoff = BackoffPolicy::new(Duration::from_secs(1), Duration::from_secs(60), 2);
    options.stable_after = Duration::from_secs(600);
    let rt = runtime(options).await;
    for day in 0..3 {
        rt.ensure("daily").await.expect("starts each day");
        let attempt = events
            .wait(|e| match e {
                Ev::T(Transition::Backoff { attempt, .. }) => Some(*attempt),
                _ => None,
            })
            .await;
        assert_eq!(attempt, 1, "day {day}: the earlier crash still counted");
        events.clear();
        clock.advance(Duration::from_secs(24 * 3600));
    }
    rt.dispose().await;
    h.assert_no_leaks();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_backoff_window_holds_for_callers_in_a_tight_loop() {
    let h = Harness::new();
    h.tenant("flaky", &[("TENANT_CRASH_AFTER_MS", "50")]);
    let (mut options, mut events) = h.options();
    options.backoff = BackoffPolicy::new(Duration::from_millis(300), Duration::from_secs(5), 50);
    let rt = runtime(options).await;
    let started = Instant::now();
    // When each new process was first returned ready.
    let mut spawned_at: Vec<(u32, Instant)> = Vec::new();
    while started.elapsed() < Duration::from_millis(1500) {
        if let Ok(t) = rt.ensure("flaky").await {
            if spawned_at.last().map(|(pid, _)| *pid) != Some(t.pid) {
                spawned_at.push((t.pid, Instant::now()));
            }
        }
        tokio::task::yield_now().await;
    }
    let spawns: Vec<_> = events
        .transitions()
        .into_iter()
        .filter(|t| matches!(t, Transition::Spawn { .. }))
        .collect();
    assert!(spawns.len() >= 2, "{spawns:?}");
    // Every crash opens a window of at least 300 ms (then 600 ms): between two starts there
    // is the tenant's 50 ms of life plus that window.
    assert!(spawned_at.len() >= 2, "{spawned_at:?}");
    for pair in spawned_at.windows(2) {
        let gap = pair[1].1 - pair[0].1;
        assert!(
            gap >= Duration::from_millis(340),
            "a start {gap:?} after the previous one, inside its back-off window"
        );
    }
    rt.dispose().await;
    h.assert_no_leaks();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_program_is_a_spawn_error_with_and_without_handover() {
    let h = Harness::new();
    h.tenant("plain", &[]);
    h.tenant("socket", &[]);
    h.opt_in_handover("socket");
    let (options, _events) = h.options();
    let rt = runtime(options.command(["./no-such-program"])).await;
    for key in ["plain", "socket"] {
        let err = rt.ensure(key).await.unwrap_err();
        assert!(
            matches!(&err, Error::Spawn { source, .. } if source.kind() == std::io::ErrorKind::NotFound),
            "{key}: {err:?}"
        );
    }
    assert_eq!(rt.metrics().total_spawns, 0);
    rt.dispose().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn environment_names_are_validated_and_values_never_shown() {
    let h = Harness::new();
    for (name, value) in [("A=B", "x"), ("", "x"), ("NUL\0", "x"), ("OK", "se\0cret")] {
        let (mut options, _events) = h.options();
        options.env.insert(name.to_owned(), value.to_owned());
        let err = berth_tenant_runtime::Runtime::new(options)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::InvalidEnv { .. }), "{name:?}: {err:?}");
        assert!(!err.to_string().contains("cret"), "{err}");
    }
    let (mut options, _events) = h.options();
    options.env_allow.push("BAD=NAME".into());
    assert!(matches!(
        berth_tenant_runtime::Runtime::new(options).await,
        Err(Error::InvalidEnv { .. })
    ));
    assert!(berth_tenant_runtime::validate_env_name("GOOD_NAME").is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stable_run_clears_failures_however_it_ends() {
    let (store, clock) = manual_store();
    let h = Harness::with_store(store);
    let dir = h.tenant("t", &[("TENANT_EXIT_AT_START", "1")]);
    let (mut options, _events) = h.options();
    options.stable_after = Duration::from_secs(600);
    // No sweeper pass during the test: only the end of the run can clear the failure.
    options.sweep_interval = Duration::from_secs(3600);
    let rt = runtime(options).await;
    assert!(rt.ensure("t").await.is_err());
    std::fs::write(dir.join("tenant.env"), "").unwrap();
    clock.advance(Duration::from_secs(2));
    rt.ensure("t").await.unwrap();
    let backoff = |h: &Harness| {
        let records = h
            .store
            .collection::<berth_tenant_runtime::TenantRecord>("tenant-runtime")
            .unwrap();
        async move { records.get("t").await.unwrap().unwrap().value.backoff }
    };
    assert_eq!(backoff(&h).await.map(|b| b.attempt), Some(1));
    clock.advance(Duration::from_secs(601));
    // Stopped by an operator (the same holds for an idle stop) after a stable run.
    rt.kill("t").await;
    assert_eq!(
        backoff(&h).await,
        None,
        "a stable run did not clear the failures"
    );
    rt.dispose().await;
    h.assert_no_leaks();
}
