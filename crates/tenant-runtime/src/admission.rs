//! Admission under `max_concurrent`: a start takes a slot before it spawns anything; at the
//! cap it evicts the least recently used running tenant or waits for a slot, bounded by
//! `admission_timeout`. A slot is given back only when every process of its start is gone,
//! so the cap counts stopping tenants too and is never exceeded.

use crate::error::{Error, Result};
use crate::events::{ExitReason, Transition};
use crate::start::{called_off, cancelled};
use crate::state::{Phase, Proc, Shared};
use crate::supervisor::terminate;
use std::sync::Arc;
use tokio::sync::watch;
use tokio::time::Instant;

/// An admission slot taken by a start; given back on drop unless the spawned process took
/// it over (its supervisor gives it back once every process of the start is gone).
pub(crate) struct Slot<'a> {
    shared: &'a Shared,
    armed: bool,
}

impl Slot<'_> {
    pub(crate) fn disarm(&mut self) {
        self.armed = false;
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        if self.armed {
            let mut st = self.shared.state.lock();
            self.shared.release_slot(&mut st);
        }
    }
}

/// Takes an admission slot: at once under `max_concurrent`; else evicts the least recently
/// used running tenant (one per waiting start) and waits for a slot to be given back, at
/// most `admission_timeout`.
pub(crate) async fn admit<'a>(
    shared: &'a Arc<Shared>,
    key: &str,
    cancel: &mut watch::Receiver<Option<ExitReason>>,
) -> Result<Slot<'a>> {
    let limit = shared.options.max_concurrent.max(1);
    let waited_from = Instant::now();
    let deadline = waited_from + shared.options.admission_timeout;
    let mut freed = shared.admission.subscribe();
    let mut evicted: Option<Arc<Proc>> = None;
    loop {
        let victim = {
            let mut guard = shared.state.lock();
            let st = &mut *guard;
            freed.borrow_and_update();
            if st.slots < limit {
                st.slots += 1;
                return Ok(Slot {
                    shared,
                    armed: true,
                });
            }
            let pending = evicted.as_ref().is_some_and(|p| !*p.exited.borrow());
            if pending {
                None
            } else {
                let lru = st
                    .keys
                    .iter()
                    .filter_map(|(k, e)| match &e.phase {
                        Phase::Running { last_touched, .. } if k != key => {
                            Some((*last_touched, k.clone()))
                        }
                        _ => None,
                    })
                    .min()
                    .map(|(_, k)| k);
                match lru
                    .and_then(|k| st.keys.get_mut(&k))
                    .map(|e| std::mem::take(&mut e.phase))
                {
                    Some(Phase::Running { proc, .. }) => {
                        proc.stop_reason(ExitReason::LruEvicted);
                        let (p, grace) = (proc.clone(), shared.options.stop_grace);
                        shared.spawn_tracked(st, async move {
                            terminate(&p, grace).await;
                        });
                        Some(proc)
                    }
                    _ => None,
                }
            }
        };
        if let Some(victim) = victim {
            shared.options.sinks.transition(Transition::LruEvict {
                key: victim.key.clone(),
                pid: victim.pid,
            });
            evicted = Some(victim);
            continue;
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(Error::AtCapacity {
                key: key.to_owned(),
                limit,
                waited: now - waited_from,
            });
        }
        tokio::select! {
            _ = freed.changed() => {}
            _ = tokio::time::sleep_until(deadline) => {}
            reason = called_off(cancel) => return Err(cancelled(key, reason)),
        }
    }
}
