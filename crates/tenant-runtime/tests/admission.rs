//! Admission under the cap: a burst of cold starts never runs more than `max_concurrent`
//! tenant processes (sampled from `/proc` throughout), and a start that finds no slot and
//! nothing to evict fails with a typed error after `admission_timeout` — real processes.

mod common;

use berth_tenant_runtime::{Error, Transition};
use common::{processes_under, runtime, Ev, Harness};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_50_cold_starts_never_runs_more_than_the_cap_of_8() {
    let h = Harness::new();
    let keys: Vec<String> = (0..50).map(|i| format!("t{i:02}")).collect();
    for key in &keys {
        h.tenant(key, &[]);
    }
    let (mut options, mut events) = h.options();
    options.max_concurrent = 8;
    options.readiness_timeout = Duration::from_secs(20);
    options.admission_timeout = Duration::from_secs(40);
    let rt = runtime(options).await;

    // Sample /proc for live processes working in any tenant directory, all the time.
    let stop = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicUsize::new(0));
    let samples = Arc::new(AtomicUsize::new(0));
    let sampler = {
        let (stop, peak, samples) = (stop.clone(), peak.clone(), samples.clone());
        let root = h.root().to_path_buf();
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let n = processes_under(&root).len();
                peak.fetch_max(n, Ordering::Relaxed);
                samples.fetch_add(1, Ordering::Relaxed);
            }
        })
    };

    let calls: Vec<_> = keys
        .iter()
        .map(|k| {
            let (rt, k) = (rt.clone(), k.clone());
            tokio::spawn(async move { rt.ensure(&k).await })
        })
        .collect();
    let mut ok = 0;
    for call in calls {
        match call.await.unwrap() {
            Ok(_) => ok += 1,
            Err(err) => panic!("a start of the burst failed: {err}"),
        }
    }
    stop.store(true, Ordering::Relaxed);
    sampler.join().unwrap();

    let peak = peak.load(Ordering::Relaxed);
    assert!(
        samples.load(Ordering::Relaxed) > 10,
        "too few /proc samples"
    );
    assert!(
        peak <= 8,
        "{peak} tenant processes ran at once with a cap of 8"
    );
    assert!(peak >= 2, "the sampler never saw the burst ({peak})");
    assert_eq!(ok, 50);
    let transitions = events.transitions();
    let spawns = transitions
        .iter()
        .filter(|t| matches!(t, Transition::Spawn { .. }))
        .count();
    let evictions = transitions
        .iter()
        .filter(|t| matches!(t, Transition::LruEvict { .. }))
        .count();
    assert_eq!(spawns, 50);
    assert!(evictions >= 42, "only {evictions} evictions");
    assert!(rt.stats().total <= 8, "{:?}", rt.stats());
    rt.dispose().await;
    assert!(processes_under(h.root()).is_empty());
    events.clear();
    h.assert_no_leaks();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_that_finds_no_slot_fails_typed_after_the_admission_timeout() {
    let h = Harness::new();
    h.tenant("slow", &[("TENANT_NEVER_READY", "1")]);
    h.tenant("other", &[]);
    let (mut options, mut events) = h.options();
    options.max_concurrent = 1;
    options.readiness_timeout = Duration::from_secs(20);
    options.admission_timeout = Duration::from_millis(300);
    let rt = runtime(options).await;

    let slow = tokio::spawn({
        let rt = rt.clone();
        async move { rt.ensure("slow").await }
    });
    events
        .wait(|e| match e {
            Ev::T(Transition::Spawn { key, .. }) if key == "slow" => Some(()),
            _ => None,
        })
        .await;
    // The only slot is held by a start, which is never evicted: "other" waits, then fails.
    let started = std::time::Instant::now();
    let err = rt.ensure("other").await.unwrap_err();
    assert!(
        matches!(&err, Error::AtCapacity { limit: 1, key, .. } if key == "other"),
        "{err:?}"
    );
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert!(processes_under(&h.root().join("other")).is_empty());

    // Once the slot is given back, "other" starts.
    rt.kill("slow").await;
    assert!(slow.await.unwrap().is_err());
    rt.ensure("other")
        .await
        .expect("starts once a slot is free");
    rt.dispose().await;
    h.assert_no_leaks();
}
