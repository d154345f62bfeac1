//! Deleting a worker once no registration uses it.

use super::image::{image_identity, lock_image};
use super::model::{ApiKey, ServiceAccount, Worker};
use super::names;
use super::registry::{fields, WorkerRegistry};
use crate::observer::info;
use crate::staging::Staging;
use berth_core::{Precondition, Result};
use serde_json::json;

impl WorkerRegistry {
    /// Deletes worker `worker_id` (running `image`) with its API key if its registration index
    /// is empty, and its service account too if no other worker of the identity uses it; then
    /// stops it.
    ///
    /// Runs under the image's lock, which every caller that could register with this worker
    /// holds from reading it to committing its registration (so the index count cannot be
    /// stale), and then the identity's lock, like worker creation (which may reuse the service
    /// account). Image locks before identity locks, as everywhere.
    pub(super) async fn retire_if_unused(
        &self,
        project: &str,
        image: &str,
        worker_id: &str,
    ) -> Result<()> {
        let identity = image_identity(image)?;
        let image_guard = self
            .locks
            .lock(&[names::image_lock(project, &lock_image(image))])
            .await?;
        let outcome = async {
            let guard = self
                .locks
                .lock(&[names::image_lock(project, identity)])
                .await?;
            let mut fences = image_guard.fences();
            fences.extend(guard.fences());
            let outcome = self.retire_locked(project, worker_id, fences).await;
            let released = guard.release().await;
            outcome?;
            released
        }
        .await;
        let released = image_guard.release().await;
        outcome?;
        released
    }

    async fn retire_locked(
        &self,
        project: &str,
        worker_id: &str,
        fences: Vec<Precondition>,
    ) -> Result<()> {
        let index = names::registration_index(project, worker_id);
        if self.store.records().count(&index, "").await? > 0 {
            return Ok(());
        }
        let workers = self.store.collection::<Worker>(&names::workers(project))?;
        let all = workers.all().await?;
        let Some(worker) = all.iter().find(|w| w.id == worker_id) else {
            return Ok(());
        };
        info(
            &*self.observer,
            &format!(
                "deleting worker {worker_id:?} of image {:?} in project {project:?}: no registration uses it",
                worker.value.image
            ),
            &fields(
                project,
                vec![
                    ("workerId", json!(worker_id)),
                    ("image", json!(worker.value.image)),
                    ("identity", json!(worker.value.identity)),
                ],
            ),
        );
        let mut batch = Staging::open(&*self.observer);
        batch.delete_item(
            &workers,
            worker_id,
            Some(Precondition::Version(worker.meta.version)),
        )?;
        let api_keys = self.store.collection::<ApiKey>(&names::api_keys(project))?;
        batch.delete_item(&api_keys, &worker.value.api_key_id, None)?;
        let account = &worker.value.service_account_id;
        let shared = all
            .iter()
            .any(|w| w.id != worker_id && w.value.service_account_id == *account);
        if !shared {
            info(
                &*self.observer,
                &format!("deleting service account {account:?} in project {project:?}: no worker uses it"),
                &fields(project, vec![("serviceAccountId", json!(account))]),
            );
            let accounts = self
                .store
                .collection::<ServiceAccount>(&names::service_accounts(project))?;
            batch.delete_item(&accounts, account, None)?;
        }
        self.store.commit(batch.finish(fences)).await?;
        if let Err(e) = self.manager.stop_worker(project, worker_id).await {
            tracing::warn!(project, worker_id, error = %e, "stopping the deleted worker failed");
        }
        Ok(())
    }
}
