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
    /// Deletes (and stops) every worker of `project` that no registration uses: workers left
    /// behind when a call failed between creating a worker and committing its registration,
    /// or between removing a registration and retiring its worker. Returns how many it
    /// deleted. Safe to run at any time: each worker is checked under the same locks as a
    /// retirement.
    pub async fn sweep_unused_workers(&self, project: &str) -> Result<usize> {
        let workers = self.store.collection::<Worker>(&names::workers(project))?;
        let mut deleted = 0;
        for worker in workers.all().await? {
            if self
                .retire_if_unused(project, &worker.value.image, &worker.id)
                .await?
            {
                deleted += 1;
            }
        }
        Ok(deleted)
    }

    /// Deletes worker `worker_id` (running `image`) with its API key if its registration index
    /// is empty, and its service account too if no other worker of the identity uses it; then
    /// stops it. Returns whether it deleted the worker.
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
    ) -> Result<bool> {
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
            let retired = outcome?;
            released.map(|()| retired)
        }
        .await;
        let released = image_guard.release().await;
        let retired = outcome?;
        released.map(|()| retired)
    }

    async fn retire_locked(
        &self,
        project: &str,
        worker_id: &str,
        fences: Vec<Precondition>,
    ) -> Result<bool> {
        let index = names::registration_index(project, worker_id);
        if self.store.records().count(&index, "").await? > 0 {
            return Ok(false);
        }
        let workers = self.store.collection::<Worker>(&names::workers(project))?;
        let all = workers.all().await?;
        let Some(worker) = all.iter().find(|w| w.id == worker_id) else {
            return Ok(false);
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
        Ok(true)
    }
}
