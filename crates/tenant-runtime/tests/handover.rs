//! Socket hand-over (`LISTEN_FDS`) under concurrent starts, reserved ports, and `/proc`
//! observations — real processes.

mod common;

use berth_tenant_runtime::{MetricEvent, SocketHandover, Transition};
use common::{get, runtime, Ev, Harness};
use std::collections::BTreeSet;
use std::time::Duration;

async fn start_all(h: &Harness, handover: SocketHandover, opt_in: bool) {
    let keys: Vec<String> = (0..16).map(|i| format!("t{i}")).collect();
    for k in &keys {
        h.tenant(k, &[]);
        if opt_in {
            h.opt_in_handover(k);
        }
    }
    let (mut options, mut events) = h.options();
    options.handover = handover;
    let rt = runtime(options).await;
    for round in 0..2 {
        let calls: Vec<_> = keys
            .iter()
            .map(|k| {
                let (rt, k) = (rt.clone(), k.clone());
                tokio::spawn(async move {
                    if round == 0 {
                        rt.ensure(&k).await
                    } else {
                        rt.restart(&k).await
                    }
                })
            })
            .collect();
        let mut ports = BTreeSet::new();
        for call in calls {
            let t = call
                .await
                .unwrap()
                .expect("every concurrent start succeeds");
            assert_eq!(get(t.port).await, format!("ok pid={}\n", t.pid));
            ports.insert(t.port);
        }
        assert_eq!(ports.len(), keys.len(), "ports are distinct");
    }
    let via = if opt_in { "LISTEN_FDS" } else { "PORT" };
    let mut served = 0;
    for e in events.drain_now() {
        match e {
            Ev::T(Transition::Spawn { handover, .. }) => assert_eq!(*handover, opt_in),
            Ev::L(l) if l.line.starts_with("listening") => {
                assert!(l.line.contains(&format!("via={via}")), "{}", l.line);
                served += 1;
            }
            Ev::L(l) => assert!(!l.line.starts_with("bind"), "{}", l.line),
            _ => {}
        }
    }
    assert!(served > 0);
    assert_eq!(rt.metrics().total_spawns, 32);
    rt.dispose().await;
    h.assert_no_leaks();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handed_over_sockets_never_race_under_concurrent_starts() {
    start_all(&Harness::new(), SocketHandover::default(), true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reserved_ports_are_distinct_under_concurrent_starts() {
    start_all(&Harness::new(), SocketHandover::Never, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observations_of_a_busy_tenant_show_rising_cpu_over_its_group() {
    let h = Harness::new();
    h.tenant("busy", &[("TENANT_BUSY", "1"), ("TENANT_GRANDCHILD", "1")]);
    let (mut options, mut events) = h.options();
    options.observe_interval = Duration::from_millis(150);
    let rt = runtime(options).await;
    let t = rt.ensure("busy").await.unwrap();
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let obs = events
            .wait(|e| match e {
                Ev::M(MetricEvent::Observation {
                    pid,
                    cpu_ms,
                    rss_bytes,
                    processes,
                    ..
                }) => Some((*pid, *cpu_ms, *rss_bytes, *processes)),
                _ => None,
            })
            .await;
        events.clear();
        seen.push(obs);
    }
    for (pid, _, rss, processes) in &seen {
        assert_eq!(*pid, t.pid);
        assert!(*rss > 0);
        assert_eq!(*processes, 2, "tenant and grandchild");
    }
    assert!(seen[2].1 > seen[0].1, "CPU did not rise: {seen:?}");
    assert!(events
        .seen
        .iter()
        .all(|e| !matches!(e, Ev::M(MetricEvent::Observation { key, .. }) if key != "busy")));
    rt.dispose().await;
    h.assert_no_leaks();
}
