//! Starting a tenant: single flight, admission under the cap, the write-ahead record, spawn,
//! readiness.

use crate::admission;
use crate::error::{Error, Result};
use crate::events::{ExitReason, LogStream, MetricEvent, Transition};
use crate::isolation;
use crate::logs;
use crate::members::Members;
use crate::options::SocketHandover;
use crate::port;
use crate::procfs;
use crate::readiness::ReadyTarget;
use crate::records::{ProcessRecord, ProcessState};
use crate::spawn::{spawn_tenant, Launch};
pub(crate) use crate::state::StartResult;
use crate::state::{Phase, Proc, Shared, State, Tenant};
use crate::supervisor::{supervise_child, terminate};
use parking_lot::Mutex;
use std::sync::Arc;
use tokio::sync::watch;
use tokio::time::Instant;

/// Puts `key` in the starting phase and launches its start; the caller holds the state lock.
/// `replacing` is a process to stop first (a restart).
pub(crate) fn begin(
    shared: &Arc<Shared>,
    st: &mut State,
    key: &str,
    replacing: Option<Arc<Proc>>,
) -> StartResult {
    st.next_gen += 1;
    let gen = st.next_gen;
    let (result_tx, result_rx) = watch::channel(None);
    let (cancel_tx, cancel_rx) = watch::channel(None);
    let entry = st.keys.entry(key.to_owned()).or_default();
    entry.phase = Phase::Starting {
        gen,
        result: result_rx.clone(),
        cancel: cancel_tx,
    };
    let activity = shared.activity();
    let task_shared = shared.clone();
    let key = key.to_owned();
    shared.spawn_tracked(st, async move {
        let _activity = activity;
        let outcome = start(&task_shared, &key, gen, cancel_rx, replacing).await;
        if outcome.is_err() {
            let mut st = task_shared.state.lock();
            if let Some(entry) = st.keys.get_mut(&key) {
                if matches!(entry.phase, Phase::Starting { gen: g, .. } if g == gen) {
                    entry.phase = Phase::Idle;
                }
            }
        }
        result_tx.send_replace(Some(outcome));
    });
    result_rx
}

/// Waits for the outcome of a start.
pub(crate) async fn join(mut result: StartResult) -> Result<Tenant> {
    match result.wait_for(|r| r.is_some()).await {
        Ok(r) => r.clone().unwrap_or(Err(Error::Disposed)),
        Err(_) => Err(Error::Disposed),
    }
}

/// Resolves when the start is called off, with the reason.
pub(crate) async fn called_off(cancel: &mut watch::Receiver<Option<ExitReason>>) -> ExitReason {
    let reason = match cancel.wait_for(|r| r.is_some()).await {
        Ok(r) => Some(r.unwrap_or(ExitReason::Killed)),
        Err(_) => None,
    };
    match reason {
        Some(reason) => reason,
        None => std::future::pending().await,
    }
}

/// Resolves when the process has exited and its group is gone.
async fn gone(exited: &mut watch::Receiver<bool>) {
    let _ = exited.wait_for(|e| *e).await;
}

/// How waiting for readiness ended.
enum Wait {
    Ready,
    Failed(Error),
    Exited,
    CalledOff(ExitReason),
}

#[tracing::instrument(level = "debug", skip(shared, cancel, replacing), fields(restart = replacing.is_some()))]
async fn start(
    shared: &Arc<Shared>,
    key: &str,
    gen: u64,
    mut cancel: watch::Receiver<Option<ExitReason>>,
    replacing: Option<Arc<Proc>>,
) -> Result<Tenant> {
    let opts = &shared.options;
    if let Some(old) = replacing {
        terminate(&old, opts.stop_grace).await;
    }
    let Some(life) = shared.state.lock().keys.get(key).map(|e| e.life.clone()) else {
        return Err(Error::Disposed);
    };
    // Wait for the previous process of this key to be confirmed gone.
    let life = tokio::select! {
        guard = life.lock_owned() => guard,
        reason = called_off(&mut cancel) => return Err(cancelled(key, reason)),
    };
    let mut slot = admission::admit(shared, key, &mut cancel).await?;

    let cwd = opts.tenant_dir(key);
    if !cwd.is_dir() {
        let err = Error::UnknownTenant {
            key: key.to_owned(),
            path: cwd,
        };
        shared.record_failure(key, err.to_string()).await;
        return Err(err);
    }
    let handover = match &opts.handover {
        SocketHandover::Never => false,
        SocketHandover::Always => true,
        SocketHandover::IfMarker(name) => cwd.join(name).exists(),
    };

    // Write-ahead: the record names the start (and its cgroup) before anything is spawned,
    // so a host that dies at any later point leaves nothing a new host cannot find.
    let start_id = uuid::Uuid::now_v7().to_string();
    let cgroup = shared.isolation.cgroup_of(&start_id);
    if let Some(cg) = &cgroup {
        if let Err(err) = isolation::create_cgroup(cg) {
            let err = Error::spawn(key, err);
            shared.record_failure(key, err.to_string()).await;
            return Err(err);
        }
    }
    let started_at = shared.clock.now();
    let remove_cgroup = || {
        if let Some(cg) = &cgroup {
            isolation::remove_cgroup(cg);
        }
    };
    {
        let mut st = shared.state.lock();
        if let Some(entry) = st.keys.get_mut(key) {
            entry.launching = Some(ProcessRecord {
                pid: 0,
                pgid: 0,
                port: 0,
                started_at,
                start_ticks: None,
                state: ProcessState::Starting,
                start_id: start_id.clone(),
                cgroup: cgroup.clone(),
            });
        }
    }
    let clear_launching = |shared: &Shared| {
        if let Some(entry) = shared.state.lock().keys.get_mut(key) {
            entry.launching = None;
        }
    };
    if let Err(err) = shared.persist(key).await {
        clear_launching(shared);
        remove_cgroup();
        return Err(err);
    }
    opts.sinks.transition(Transition::Starting {
        key: key.to_owned(),
        start_id: start_id.clone(),
    });
    // Output files, and where this process's output will begin in them (taken before the
    // spawn: the tenant may write before the tailers start).
    let files = (|| {
        let out = logs::path(&opts.log_dir, key, LogStream::Stdout);
        let err = logs::path(&opts.log_dir, key, LogStream::Stderr);
        let (out_file, err_file) = (logs::open(&out)?, logs::open(&err)?);
        let from = [
            (out, logs::len_of(&out_file)),
            (err, logs::len_of(&err_file)),
        ];
        Ok::<_, std::io::Error>((out_file, err_file, from))
    })();

    // Port choice, the last check for a call-off and the spawn happen under the state lock so
    // that `dispose` never misses a child and two starts never share a port.
    let spawned = {
        let mut st = shared.state.lock();
        let called = *cancel.borrow();
        if let Some(reason) = called {
            Err(reason)
        } else {
            let lease = if handover {
                port::bind(opts.bind_addr)
            } else {
                port::reserve(opts.bind_addr, &st.ports)
            };
            let spawned = files.and_then(|(out, err, from)| {
                let lease = lease?;
                let port = lease.port();
                let launch = Launch {
                    cwd: &cwd,
                    start_id: &start_id,
                    cgroup: cgroup.as_deref(),
                    setsid: shared.isolation.setsid(),
                    stdout: out,
                    stderr: err,
                };
                spawn_tenant(opts, launch, lease).map(|child| (child, port, from))
            });
            match spawned {
                Ok((child, port, from)) => {
                    let pid = child.id().unwrap_or(0);
                    let (exited, _) = watch::channel(false);
                    let start_ticks = procfs::stat(pid).map(|s| s.start_ticks);
                    let proc = Arc::new(Proc {
                        key: key.to_owned(),
                        gen,
                        pid,
                        port,
                        started_at,
                        start_ticks,
                        members: Arc::new(Members::new(
                            start_id.clone(),
                            pid,
                            start_ticks,
                            cgroup.clone(),
                        )),
                        grace_end: Mutex::new(None),
                        reason: Mutex::new(None),
                        ready_at: Mutex::new(None),
                        exit: Mutex::new(None),
                        usage: Mutex::new(Default::default()),
                        exited,
                    });
                    // The process now holds the slot: its supervisor gives it back.
                    slot.disarm();
                    st.ports.insert(port);
                    st.counters.spawns += 1;
                    if let Some(entry) = st.keys.get_mut(key) {
                        entry.live = Some(proc.clone());
                        entry.launching = None;
                        entry.totals.spawns += 1;
                    }
                    let [(out_path, out_from), (err_path, err_from)] = from;
                    for (path, offset, stream) in [
                        (out_path, out_from, LogStream::Stdout),
                        (err_path, err_from, LogStream::Stderr),
                    ] {
                        let tail = logs::Tail {
                            path,
                            stream,
                            key: key.to_owned(),
                            pid,
                            sinks: opts.sinks.clone(),
                            clock: shared.clock.clone(),
                            max_bytes: opts.log_max_bytes,
                            keep: opts.log_keep,
                        };
                        let done = proc.exited.subscribe();
                        shared.spawn_tracked(&mut st, tail.run(offset, done));
                    }
                    let supervise = supervise_child(shared.clone(), proc.clone(), child, life);
                    let activity = shared.activity();
                    shared.spawn_tracked(&mut st, async move {
                        let _activity = activity;
                        supervise.await;
                    });
                    Ok(Ok(proc))
                }
                Err(err) => Ok(Err(err)),
            }
        }
    };
    let proc = match spawned {
        Err(reason) => {
            clear_launching(shared);
            let _ = shared.persist(key).await;
            remove_cgroup();
            return Err(cancelled(key, reason));
        }
        Ok(Ok(proc)) => proc,
        Ok(Err(err)) => {
            clear_launching(shared);
            remove_cgroup();
            let err = Error::spawn(key, err);
            tracing::warn!(key, %err, "tenant spawn failed");
            shared.record_failure(key, err.to_string()).await;
            return Err(err);
        }
    };
    tracing::debug!(
        key,
        pid = proc.pid,
        port = proc.port,
        handover,
        isolation = shared.isolation.name(),
        "tenant spawned"
    );
    opts.sinks.transition(Transition::Spawn {
        key: key.to_owned(),
        pid: proc.pid,
        port: proc.port,
        handover,
    });
    let stop = |reason: ExitReason| {
        proc.stop_reason(reason);
        terminate(&proc, opts.stop_grace)
    };
    if let Err(err) = shared.persist(key).await {
        stop(ExitReason::Killed).await;
        return Err(err);
    }

    let target = ReadyTarget {
        key: key.to_owned(),
        pid: proc.pid,
        addr: opts.bind_addr,
        port: proc.port,
    };
    let mut exited = proc.exited.subscribe();
    let waited = tokio::select! {
        ready = tokio::time::timeout(opts.readiness_timeout, opts.readiness.wait_ready(&target)) => {
            match ready {
                Ok(Ok(())) => Wait::Ready,
                Ok(Err(reason)) => Wait::Failed(Error::NotReady { key: key.to_owned(), reason }),
                Err(_) => Wait::Failed(Error::ReadinessTimeout {
                    key: key.to_owned(),
                    after: opts.readiness_timeout,
                }),
            }
        }
        _ = gone(&mut exited) => Wait::Exited,
        reason = called_off(&mut cancel) => Wait::CalledOff(reason),
    };
    let waited = match waited {
        Wait::Ready => match mark_running(shared, key, &proc, &cancel) {
            Ok(tenant) => {
                if let Err(err) = shared.persist(key).await {
                    tracing::warn!(key, %err, "tenant is ready but its record was not updated");
                }
                let duration = shared.clock.now().since(proc.started_at);
                opts.sinks.metric(MetricEvent::Spawn {
                    key: key.to_owned(),
                    pid: proc.pid,
                    port: proc.port,
                    duration,
                });
                opts.sinks.transition(Transition::Ready {
                    key: key.to_owned(),
                    pid: proc.pid,
                    port: proc.port,
                    duration,
                });
                return Ok(tenant);
            }
            Err(reason) => Wait::CalledOff(reason),
        },
        other => other,
    };
    match waited {
        Wait::Failed(err) => {
            tracing::warn!(key, %err, "tenant not ready; stopping it");
            stop(ExitReason::ReadinessTimeout).await;
            shared.record_failure(key, err.to_string()).await;
            Err(err)
        }
        Wait::Exited => {
            let status = proc.exit.lock().unwrap_or_default().describe();
            let err = Error::ExitedBeforeReady {
                key: key.to_owned(),
                status,
            };
            shared.record_failure(key, err.to_string()).await;
            Err(err)
        }
        Wait::CalledOff(reason) => {
            stop(reason).await;
            Err(cancelled(key, reason))
        }
        Wait::Ready => Err(Error::Disposed),
    }
}

pub(crate) fn cancelled(key: &str, reason: ExitReason) -> Error {
    Error::Cancelled {
        key: key.to_owned(),
        reason,
    }
}

/// Makes the started process the key's running tenant, unless the start was called off.
fn mark_running(
    shared: &Shared,
    key: &str,
    proc: &Arc<Proc>,
    cancel: &watch::Receiver<Option<ExitReason>>,
) -> std::result::Result<Tenant, ExitReason> {
    let now = shared.clock.now();
    let mut st = shared.state.lock();
    if let Some(reason) = *cancel.borrow() {
        return Err(reason);
    }
    *proc.ready_at.lock() = Some(now);
    let tenant = Tenant {
        key: key.to_owned(),
        port: proc.port,
        pid: proc.pid,
        started_at: proc.started_at,
        last_touched_at: now,
    };
    st.counters.last_spawn = Some(now.since(proc.started_at));
    st.counters.last_spawn_at = Some(proc.started_at);
    let Some(entry) = st.keys.get_mut(key) else {
        return Err(ExitReason::Disposed);
    };
    entry.phase = Phase::Running {
        proc: proc.clone(),
        tenant: tenant.clone(),
        last_touched: Instant::now(),
    };
    // Starts waiting at the cap may evict it now.
    shared.admission_changed();
    Ok(tenant)
}
