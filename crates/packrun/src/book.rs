//! The pack-run record as the runner keeps it current: step status, attempts, next attempt.

use crate::owned::OwnedWrites;
use berth_core::packrun::{PackRun, RunStatus, StepState, StepStatus};
use berth_core::{ErrorKind, Timestamp};
use std::sync::Arc;
use tokio::sync::Mutex;

/// How many times an update re-reads the run after losing a compare-and-set race.
const RETRIES: usize = 8;

/// Serialises the runner's updates of one [`PackRun`]; cheap to clone.
#[derive(Clone)]
pub struct RunBook {
    store: OwnedWrites,
    run: Arc<Mutex<PackRun>>,
}

impl std::fmt::Debug for RunBook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunBook").finish_non_exhaustive()
    }
}

impl RunBook {
    /// Keeps `run` (as last read or written) current in `store`, as its owner.
    pub fn new(store: OwnedWrites, run: PackRun) -> Self {
        RunBook {
            store,
            run: Arc::new(Mutex::new(run)),
        }
    }

    /// The run as last written.
    pub async fn snapshot(&self) -> PackRun {
        self.run.lock().await.clone()
    }

    /// Whether `step_id`'s success is on the stored run record.
    pub async fn succeeded(&self, step_id: &str) -> bool {
        self.run
            .lock()
            .await
            .steps
            .iter()
            .any(|s| s.step_id == step_id && s.status == StepStatus::Succeeded)
    }

    /// Applies `change` and stores the run (compare-and-set on its version; on a lost race
    /// the run is read again and `change` applied to the fresh copy).
    pub async fn update(
        &self,
        change: impl Fn(&mut PackRun),
    ) -> Result<PackRun, berth_core::Error> {
        let mut guard = self.run.lock().await;
        let mut attempt = 0;
        loop {
            let mut next = guard.clone();
            change(&mut next);
            if next == *guard {
                return Ok(next);
            }
            match self.store.update_run(next).await {
                Ok(stored) => {
                    *guard = stored.clone();
                    return Ok(stored);
                }
                Err(e) if e.kind() == ErrorKind::Conflict && attempt < RETRIES => {
                    attempt += 1;
                    let fresh =
                        self.store
                            .store()
                            .runs()
                            .get(&guard.id)
                            .await?
                            .ok_or_else(|| {
                                berth_core::Error::NotFound(format!("pack run {}", guard.id))
                            })?;
                    *guard = fresh;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Sets one step's record.
    pub async fn step(
        &self,
        step_id: &str,
        change: impl Fn(&mut StepState),
    ) -> Result<PackRun, berth_core::Error> {
        self.update(|run| {
            if let Some(s) = run.steps.iter_mut().find(|s| s.step_id == step_id) {
                change(s);
            }
        })
        .await
    }

    /// An attempt starts.
    pub async fn started(&self, step_id: &str, attempt: u32) -> Result<PackRun, berth_core::Error> {
        self.update(|run| {
            run.status = RunStatus::Running;
            if let Some(s) = run.steps.iter_mut().find(|s| s.step_id == step_id) {
                s.status = StepStatus::Running;
                s.attempts = attempt;
                s.next_attempt_at = None;
            }
        })
        .await
    }

    /// An attempt failed; another follows at `next`.
    pub async fn retrying(
        &self,
        step_id: &str,
        error: &str,
        next: Timestamp,
    ) -> Result<PackRun, berth_core::Error> {
        self.step(step_id, |s| {
            s.status = StepStatus::Pending;
            s.next_attempt_at = Some(next);
            s.last_error = Some(error.to_owned());
        })
        .await
    }

    /// The step ended with `status`.
    pub async fn finished(
        &self,
        step_id: &str,
        status: StepStatus,
        error: Option<&str>,
    ) -> Result<PackRun, berth_core::Error> {
        self.step(step_id, |s| {
            s.status = status;
            s.next_attempt_at = None;
            if let Some(e) = error {
                s.last_error = Some(e.to_owned());
            }
        })
        .await
    }

    /// The run ended or paused: its status, and steps that never ran marked skipped.
    pub async fn conclude(&self, status: RunStatus) -> Result<PackRun, berth_core::Error> {
        self.update(|run| {
            run.status = status;
            if matches!(status, RunStatus::Failed | RunStatus::Cancelled) {
                for s in &mut run.steps {
                    if matches!(s.status, StepStatus::Pending | StepStatus::Running) {
                        s.status = StepStatus::Skipped;
                        s.next_attempt_at = None;
                    }
                }
            }
        })
        .await
    }
}
