//! The writes a runner makes for the run it owns, each under its [`RunClaim`]'s fence.
//!
//! A write refused for a stale fence renews the claim once (a lapse nobody used) and is made
//! again; once another runner has taken the run over it fails with
//! [`StaleFence`](berth_core::ErrorKind::StaleFence) and nothing is stored.

use crate::lease::RunClaim;
use berth_core::packrun::{Approval, Artifact, LogEntry, PackRun};
use berth_core::{write_fenced, Result, Store};
use std::sync::Arc;

/// The store as the run's owner writes to it; cheap to clone.
#[derive(Debug, Clone)]
pub struct OwnedWrites {
    store: Store,
    claim: Arc<RunClaim>,
}

impl OwnedWrites {
    /// Writes to `store` under `claim`.
    pub fn new(store: Store, claim: Arc<RunClaim>) -> Self {
        OwnedWrites { store, claim }
    }

    /// The store (for reads).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The claim the writes are made under.
    pub fn claim(&self) -> &Arc<RunClaim> {
        &self.claim
    }

    /// Replaces the run record (compare-and-set on its version).
    pub async fn update_run(&self, run: PackRun) -> Result<PackRun> {
        if !self.claim.is_fenced() {
            return self.store.runs().update(run).await;
        }
        write_fenced(self.claim.as_ref(), |f| {
            let run = run.clone();
            async move { self.store.runs().update_fenced(run, &f).await }
        })
        .await
    }

    /// Appends log entries.
    pub async fn append(&self, entries: &[LogEntry]) -> Result<usize> {
        if !self.claim.is_fenced() {
            return self.store.logs().append(entries).await;
        }
        write_fenced(self.claim.as_ref(), |f| async move {
            self.store.logs().append_fenced(entries, &f).await
        })
        .await
    }

    /// Records an artifact.
    pub async fn record_artifact(&self, artifact: Artifact) -> Result<()> {
        if !self.claim.is_fenced() {
            return self.store.artifacts().record(artifact).await;
        }
        write_fenced(self.claim.as_ref(), |f| {
            let artifact = artifact.clone();
            async move { self.store.artifacts().record_fenced(artifact, &f).await }
        })
        .await
    }

    /// Opens an approval gate.
    pub async fn open_gate(&self, approval: Approval) -> Result<Approval> {
        if !self.claim.is_fenced() {
            return self.store.approvals().create(approval).await;
        }
        write_fenced(self.claim.as_ref(), |f| {
            let approval = approval.clone();
            async move { self.store.approvals().create_fenced(approval, &f).await }
        })
        .await
    }
}
