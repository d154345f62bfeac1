//! Helpers shared by the integration tests.
#![allow(dead_code)]

use berth_core::{DeterministicIds, ManualClock, OpenOptions, Store, Timestamp};
use berth_pipeline::{Event, EventKind, Step, StepError};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use tokio::sync::broadcast;

/// A memory store with a manual clock and deterministic ids.
pub fn memory() -> (Store, ManualClock) {
    let clock = ManualClock::new(Timestamp::from_millis(1_700_000_000_000));
    let store = berth_state_memory::open(
        OpenOptions::default()
            .with_clock(Arc::new(clock.clone()))
            .with_ids(Arc::new(DeterministicIds::new(7))),
    );
    (store, clock)
}

/// A step that returns `patch`.
pub fn patch_step(id: &str, patch: Value) -> Step {
    Step::new(id, move |_| {
        let p = patch.clone();
        async move { Ok(p) }
    })
}

/// A step that increments `key` in the state (a loop counter).
pub fn incr(id: &str, key: &'static str) -> Step {
    Step::new(id, move |ctx| async move {
        let n = ctx.state()[key].as_u64().unwrap_or(0);
        Ok(json!({ key: n + 1 }))
    })
}

/// A step that fails with `msg` every time, counting its calls.
pub fn failing(id: &str, msg: &'static str, calls: Arc<AtomicU32>) -> Step {
    Step::new(id, move |_| {
        calls.fetch_add(1, Ordering::SeqCst);
        async move { Err(StepError::new(msg)) }
    })
}

/// Everything already in `rx`.
pub fn drain(rx: &mut broadcast::Receiver<Event>) -> Vec<Event> {
    let mut out = Vec::new();
    while let Ok(e) = rx.try_recv() {
        out.push(e);
    }
    out
}

/// Waits for the first event of `rx` matching `pred`.
pub async fn wait_for(
    rx: &mut broadcast::Receiver<Event>,
    pred: impl Fn(&EventKind) -> bool,
) -> Event {
    loop {
        match rx.recv().await {
            Ok(e) if pred(&e.kind) => return e,
            Ok(_) => {}
            Err(e) => panic!("event channel: {e}"),
        }
    }
}
