//! Recovery at start: reload back-off and totals (quarantining undecodable records), probe
//! every recorded process in parallel, adopt live ready tenants under the cap, and stop every
//! other process of a recorded start: orphans, the rest of a group whose leader died, and
//! the processes of a start whose pid was never recorded (found by their start marker).

use crate::error::Result;
use crate::events::{ExitReason, Transition};
use crate::group::stop_members;
use crate::isolation;
use crate::logs;
use crate::members::Members;
use crate::options::Recovery;
use crate::procfs;
use crate::readiness::ReadyTarget;
use crate::records::{ProcessRecord, ProcessState};
use crate::state::{Entry, Phase, Proc, Shared, Tenant};
use crate::supervisor::{supervise_adopted, terminate};
use crate::LogStream;
use parking_lot::Mutex;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;

/// Longest readiness probe of a recorded process before it is judged an orphan.
const ADOPT_PROBE: Duration = Duration::from_secs(2);

/// What the probe of one recorded process found.
enum Found {
    /// The recorded leader lives; `answers` if it passed the readiness probe.
    Live { answers: bool },
    /// No recorded leader (never spawned, or dead, or its pid now someone else's).
    Dead,
}

/// Loads every record; adopts or stops the processes they name.
#[tracing::instrument(level = "debug", skip_all, fields(collection = %shared.options.records_collection))]
pub(crate) async fn recover(shared: &Arc<Shared>) -> Result<()> {
    let (records, quarantined) = shared.records.load().await?;
    for q in quarantined {
        shared.options.sinks.transition(Transition::Quarantined {
            key: q.key,
            error: q.error,
        });
    }
    let mut probes = JoinSet::new();
    for record in records {
        {
            let mut st = shared.state.lock();
            st.keys.insert(
                record.key.clone(),
                Entry {
                    backoff: record.backoff.clone(),
                    totals: record.totals.clone(),
                    ..Entry::default()
                },
            );
        }
        if let Some(p) = record.process {
            let shared = shared.clone();
            probes.spawn(async move {
                let found = probe(&shared, &record.key, &p).await;
                (record.key, p, found)
            });
        }
    }
    let mut found = Vec::new();
    while let Some(done) = probes.join_next().await {
        if let Ok(one) = done {
            found.push(one);
        }
    }
    found.sort_by(|a, b| a.0.cmp(&b.0));

    let mut stops = JoinSet::new();
    for (key, p, found) in found {
        match found {
            Found::Live { answers } => {
                let adopt = answers && under_cap(shared);
                let proc = watch_process(shared, &key, &p, adopt);
                if adopt {
                    shared.options.sinks.transition(Transition::Adopted {
                        key: key.clone(),
                        pid: p.pid,
                        port: p.port,
                    });
                    tracing::info!(key, pid = p.pid, port = p.port, "adopted tenant");
                } else {
                    proc.stop_reason(ExitReason::Orphaned);
                    tracing::info!(key, pid = p.pid, "stopping orphaned tenant");
                    let grace = shared.options.stop_grace;
                    stops.spawn(async move {
                        terminate(&proc, grace).await;
                    });
                }
            }
            Found::Dead => {
                let shared = shared.clone();
                stops.spawn(async move { stop_leftovers(&shared, &key, &p).await });
            }
        }
    }
    while stops.join_next().await.is_some() {}
    Ok(())
}

/// Whether the recorded leader lives and, if it may be adopted, whether it answers.
async fn probe(shared: &Shared, key: &str, p: &ProcessRecord) -> Found {
    if p.pid == 0 || !is_recorded_process(p) {
        return Found::Dead;
    }
    let may_adopt = shared.options.recovery == Recovery::Adopt && p.state == ProcessState::Running;
    Found::Live {
        answers: may_adopt && answers(shared, key, p).await,
    }
}

/// Stops what is left of a start whose leader is gone (or was never recorded): processes in
/// its cgroup or carrying its start marker, and their descendants; then clears the record.
async fn stop_leftovers(shared: &Arc<Shared>, key: &str, p: &ProcessRecord) {
    let members = Arc::new(Members::new(
        p.start_id.clone(),
        0,
        p.start_ticks,
        p.cgroup.clone(),
    ));
    let grace_end = Instant::now() + shared.options.stop_grace;
    let survivors = stop_members(&members, grace_end).await;
    if survivors.is_empty() {
        if let Some(cg) = &p.cgroup {
            isolation::remove_cgroup(cg);
        }
    } else {
        shared.options.sinks.transition(Transition::StopIncomplete {
            key: key.to_owned(),
            pid: p.pid,
            survivors,
        });
    }
    tracing::info!(key, pid = p.pid, start = %p.start_id, "recorded tenant process is gone; leftovers stopped");
    let _ = shared.persist(key).await;
}

/// Whether the recorded pid is still the recorded process (not a later one with its pid).
fn is_recorded_process(p: &ProcessRecord) -> bool {
    match procfs::stat(p.pid) {
        Some(s) if !s.is_dead() && s.pgid == p.pgid => match p.start_ticks {
            Some(ticks) => ticks == s.start_ticks,
            None => s.pgid == s.pid,
        },
        _ => false,
    }
}

fn under_cap(shared: &Shared) -> bool {
    shared.state.lock().slots < shared.options.max_concurrent
}

async fn answers(shared: &Shared, key: &str, p: &ProcessRecord) -> bool {
    let target = ReadyTarget {
        key: key.to_owned(),
        pid: p.pid,
        addr: shared.options.bind_addr,
        port: p.port,
    };
    let limit = shared.options.readiness_timeout.min(ADOPT_PROBE);
    matches!(
        tokio::time::timeout(limit, shared.options.readiness.wait_ready(&target)).await,
        Ok(Ok(()))
    )
}

/// Supervises a recorded process (holding an admission slot until it is gone); as the
/// running tenant of `key` if `adopt`.
fn watch_process(shared: &Arc<Shared>, key: &str, p: &ProcessRecord, adopt: bool) -> Arc<Proc> {
    let mut guard = shared.state.lock();
    let st = &mut *guard;
    st.next_gen += 1;
    st.slots += 1;
    let (exited, _) = watch::channel(false);
    let now = shared.clock.now();
    let proc = Arc::new(Proc {
        key: key.to_owned(),
        gen: st.next_gen,
        pid: p.pid,
        port: p.port,
        started_at: p.started_at,
        start_ticks: p.start_ticks,
        members: Arc::new(Members::new(
            p.start_id.clone(),
            p.pid,
            p.start_ticks,
            p.cgroup.clone(),
        )),
        grace_end: Mutex::new(None),
        reason: Mutex::new(None),
        ready_at: Mutex::new(adopt.then_some(p.started_at)),
        exit: Mutex::new(None),
        usage: Mutex::new(Default::default()),
        exited,
    });
    st.ports.insert(p.port);
    let entry = st.keys.entry(key.to_owned()).or_default();
    entry.live = Some(proc.clone());
    // A fresh entry's lock is free: the adopted process holds it until it is gone.
    let life = entry.life.clone().try_lock_owned();
    if adopt {
        entry.phase = Phase::Running {
            proc: proc.clone(),
            tenant: Tenant {
                key: key.to_owned(),
                port: p.port,
                pid: p.pid,
                started_at: p.started_at,
                last_touched_at: now,
            },
            last_touched: Instant::now(),
        };
        st.counters.adopted += 1;
        // Its output files are tailed from where they end now.
        for stream in [LogStream::Stdout, LogStream::Stderr] {
            let path = logs::path(&shared.options.log_dir, key, stream);
            let tail = logs::Tail {
                path: path.clone(),
                stream,
                key: key.to_owned(),
                pid: p.pid,
                sinks: shared.options.sinks.clone(),
                clock: shared.clock.clone(),
                max_bytes: shared.options.log_max_bytes,
                keep: shared.options.log_keep,
            };
            let done = proc.exited.subscribe();
            shared.spawn_tracked(st, tail.run(logs::len(&path), done));
        }
    }
    let activity = shared.activity();
    let task = proc.clone();
    let task_shared = shared.clone();
    shared.spawn_tracked(st, async move {
        let _activity = activity;
        match life {
            Ok(life) => supervise_adopted(task_shared, task, life).await,
            Err(_) => tracing::error!("tenant life lock taken during recovery"),
        }
    });
    proc
}
