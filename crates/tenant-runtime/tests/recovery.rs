//! A restarted host (a new runtime on the same store) adopts live tenants, stops orphans,
//! forgets dead ones and keeps back-off — real processes.

mod common;

use berth_tenant_runtime::{Error, ExitReason, ProcessState, Recovery, TenantRecord, Transition};
use common::{alive, get, runtime, Ev, Harness};
use std::time::Duration;

async fn record(h: &Harness, key: &str) -> Option<TenantRecord> {
    h.store
        .collection::<TenantRecord>("tenant-runtime")
        .unwrap()
        .get(key)
        .await
        .unwrap()
        .map(|i| i.value)
}

async fn wait_record(h: &Harness, key: &str, f: impl Fn(&TenantRecord) -> bool) -> TenantRecord {
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Some(r) = record(h, key).await.filter(|r| f(r)) {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("record never reached the expected state")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_runtime_adopts_live_tenants_kills_orphans_and_keeps_backoff() {
    let h = Harness::new();
    h.tenant("live", &[]);
    h.tenant("half", &[("TENANT_NEVER_READY", "1")]);
    h.tenant("gone", &[]);
    h.tenant("broken", &[("TENANT_EXIT_AT_START", "1")]);
    let (mut options, mut events) = h.options();
    options.readiness_timeout = Duration::from_secs(20);
    let first = runtime(options).await;

    let live = first.ensure("live").await.unwrap();
    let gone = first.ensure("gone").await.unwrap();
    assert!(first.ensure("broken").await.is_err());
    tokio::spawn({
        let rt = first.clone();
        async move { rt.ensure("half").await }
    });
    let half = wait_record(&h, "half", |r| r.process.is_some()).await;
    let half = half.process.unwrap();
    assert_eq!(half.state, ProcessState::Starting);
    let stored = record(&h, "live").await.unwrap().process.unwrap();
    assert_eq!(
        (stored.pid, stored.port, stored.state),
        (live.pid, live.port, ProcessState::Running)
    );

    // The host "dies": nothing is stopped, the records stay.
    first.abandon();
    assert!(alive(live.pid) && alive(half.pid) && alive(gone.pid));
    // One child dies while no host watches.
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(gone.pid as i32).unwrap(),
        rustix::process::Signal::KILL,
    )
    .unwrap();
    tokio::time::timeout(Duration::from_secs(5), async {
        while alive(gone.pid) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap();
    events.clear();

    let (options, mut events) = h.options();
    let second = runtime(options).await;
    // Orphans are stopped before `new` returns.
    assert!(!alive(half.pid), "the half-started orphan survived");
    let transitions = events.transitions();
    assert!(transitions.contains(&Transition::Adopted {
        key: "live".into(),
        pid: live.pid,
        port: live.port
    }));
    assert!(transitions.iter().any(|t| matches!(t,
        Transition::Exit { key, reason: ExitReason::Orphaned, .. } if key == "half")));
    assert!(record(&h, "gone").await.unwrap().process.is_none());
    assert_eq!(record(&h, "live").await.unwrap().totals.spawns, 1);

    let again = second.ensure("live").await.unwrap();
    assert_eq!(again.pid, live.pid, "adopted, not respawned");
    assert_eq!(get(again.port).await, format!("ok pid={}\n", live.pid));
    assert!(matches!(
        second.ensure("broken").await,
        Err(Error::BackingOff { attempt: 1, .. })
    ));
    let m = second.metrics();
    assert_eq!((m.adopted, m.total_spawns, m.stats.running), (1, 0, 1));

    // The adopted tenant is supervised like any other.
    second.kill("live").await;
    assert!(!alive(live.pid));
    let reason = events
        .wait(|e| match e {
            Ev::T(Transition::Exit { key, reason, .. }) if key == "live" => Some(*reason),
            _ => None,
        })
        .await;
    assert_eq!(reason, ExitReason::Killed);
    assert!(record(&h, "live").await.unwrap().process.is_none());
    second.dispose().await;
    h.assert_no_leaks();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_all_recovery_stops_every_recorded_process() {
    let h = Harness::new();
    h.tenant(
        "a",
        &[("TENANT_IGNORE_SIGTERM", "1"), ("TENANT_GRANDCHILD", "1")],
    );
    let (options, mut events) = h.options();
    let first = runtime(options).await;
    let a = first.ensure("a").await.unwrap();
    let grandchild = events
        .wait(|e| match e {
            Ev::L(l) => l.line.strip_prefix("grandchild pid=")?.parse::<u32>().ok(),
            _ => None,
        })
        .await;
    first.abandon();

    let (mut options, mut events) = h.options();
    options.recovery = Recovery::KillAll;
    let second = runtime(options).await;
    assert!(!alive(a.pid) && !alive(grandchild));
    let reason = events
        .wait(|e| match e {
            Ev::T(Transition::Exit { reason, .. }) => Some(*reason),
            _ => None,
        })
        .await;
    assert_eq!(reason, ExitReason::Orphaned);
    assert_eq!(second.stats().running, 0);
    second.dispose().await;
    h.assert_no_leaks();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorded_pid_now_used_by_another_process_is_never_signalled() {
    use std::os::unix::process::CommandExt;
    let h = Harness::new();
    // An unrelated process, leading its own group, whose pid a stale record happens to name.
    let mut stranger = std::process::Command::new("sleep")
        .arg("30")
        .process_group(0)
        .spawn()
        .unwrap();
    let pid = stranger.id();
    let ticks = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .unwrap()
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .nth(19)
        .unwrap()
        .parse::<u64>()
        .unwrap();
    let stale = TenantRecord {
        key: "stale".into(),
        process: Some(berth_tenant_runtime::ProcessRecord {
            pid,
            pgid: pid,
            port: 1,
            started_at: berth_core::Timestamp::from_millis(0),
            start_ticks: Some(ticks + 1),
            state: ProcessState::Running,
            start_id: "not-a-start-of-this-host".into(),
            cgroup: None,
        }),
        ..TenantRecord::default()
    };
    h.store
        .collection::<TenantRecord>("tenant-runtime")
        .unwrap()
        .put("stale", &stale)
        .await
        .unwrap();

    let (options, mut events) = h.options();
    let rt = runtime(options).await;
    assert!(
        alive(pid),
        "a process that is not the recorded one was signalled"
    );
    assert!(record(&h, "stale").await.unwrap().process.is_none());
    assert!(events.transitions().is_empty());
    rt.dispose().await;
    stranger.kill().unwrap();
    stranger.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorded_tenant_that_no_longer_answers_is_stopped_not_adopted() {
    let h = Harness::new();
    let dir = h.tenant("hung", &[]);
    let (options, _events) = h.options();
    let first = runtime(options).await;
    let hung = first.ensure("hung").await.unwrap();
    first.abandon();
    std::fs::write(dir.join("hang"), "").unwrap();

    let (mut options, mut events) = h.options();
    options.readiness_timeout = Duration::from_millis(500);
    let second = runtime(options).await;
    assert!(
        !alive(hung.pid),
        "an unresponsive recorded tenant was left running"
    );
    let transitions = events.transitions();
    assert!(!transitions
        .iter()
        .any(|t| matches!(t, Transition::Adopted { .. })));
    assert!(transitions.iter().any(|t| matches!(t,
        Transition::Exit { key, reason: ExitReason::Orphaned, .. } if key == "hung")));
    assert_eq!(second.metrics().adopted, 0);
    second.dispose().await;
    h.assert_no_leaks();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undecodable_record_is_quarantined_while_the_others_recover() {
    let h = Harness::new();
    h.tenant("live", &[]);
    let (options, _events) = h.options();
    let first = runtime(options).await;
    let live = first.ensure("live").await.unwrap();
    first.abandon();
    let raw = h
        .store
        .collection::<serde_json::Value>("tenant-runtime")
        .unwrap();
    raw.put("bad", &serde_json::json!({"key": "bad", "process": 17}))
        .await
        .unwrap();

    let (options, mut events) = h.options();
    let second = runtime(options).await;
    let transitions = events.transitions();
    assert!(
        transitions
            .iter()
            .any(|t| matches!(t, Transition::Quarantined { key, .. } if key == "bad")),
        "{transitions:?}"
    );
    assert_eq!(second.metrics().adopted, 1, "the good record was recovered");
    assert_eq!(second.ensure("live").await.unwrap().pid, live.pid);
    assert!(raw.get("bad").await.unwrap().is_none());
    let kept = h
        .store
        .collection::<serde_json::Value>("tenant-runtime-quarantine")
        .unwrap()
        .get("bad")
        .await
        .unwrap()
        .expect("the bad record is kept in quarantine");
    assert_eq!(kept.value["process"], 17);
    second.dispose().await;
    h.assert_no_leaks();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rest_of_a_dead_leaders_group_is_stopped_by_either_recovery() {
    for recovery in [Recovery::Adopt, Recovery::KillAll] {
        let h = Harness::new();
        h.tenant("a", &[("TENANT_GRANDCHILD", "1")]);
        let (options, mut events) = h.options();
        let first = runtime(options).await;
        let a = first.ensure("a").await.unwrap();
        let grandchild = events
            .wait(|e| match e {
                Ev::L(l) => l.line.strip_prefix("grandchild pid=")?.parse::<u32>().ok(),
                _ => None,
            })
            .await;
        first.abandon();
        // The leader dies while no host watches; its grandchild (ignoring SIGTERM) lives on.
        rustix::process::kill_process(
            rustix::process::Pid::from_raw(a.pid as i32).unwrap(),
            rustix::process::Signal::KILL,
        )
        .unwrap();
        common::until("the leader is gone", || !alive(a.pid)).await;
        assert!(alive(grandchild));

        let (mut options, _events) = h.options();
        options.recovery = recovery;
        let second = runtime(options).await;
        assert!(
            !alive(grandchild),
            "{recovery:?}: the dead leader's grandchild survived recovery"
        );
        assert!(record(&h, "a").await.unwrap().process.is_none());
        second.dispose().await;
        h.assert_no_leaks();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hung_tenants_are_probed_in_parallel_at_recovery() {
    let h = Harness::new();
    let (options, _events) = h.options();
    let first = runtime(options).await;
    let mut pids = Vec::new();
    for i in 0..5 {
        let key = format!("hung{i}");
        h.tenant(&key, &[]);
        pids.push(first.ensure(&key).await.unwrap().pid);
    }
    first.abandon();
    for i in 0..5 {
        std::fs::write(h.root().join(format!("hung{i}")).join("hang"), "").unwrap();
    }

    // Each probe gives up after 1 s: one after another would take 5 s.
    let (mut options, _events) = h.options();
    options.readiness_timeout = Duration::from_secs(1);
    let started = std::time::Instant::now();
    let second = runtime(options).await;
    let took = started.elapsed();
    assert!(took < Duration::from_millis(3500), "recovery took {took:?}");
    assert!(pids.iter().all(|p| !alive(*p)), "a hung tenant survived");
    assert_eq!(second.metrics().adopted, 0);
    second.dispose().await;
    h.assert_no_leaks();
}
