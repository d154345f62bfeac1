//! Finding or creating the worker of an image, under its identity's lock.

use super::model::{ApiKey, ApiKeyScope, ServiceAccount, Worker, WorkerStatus};
use super::names;
use super::registry::{fields, WorkerRegistry};
use crate::observer::info;
use crate::staging::Staging;
use berth_core::{Precondition, Result};
use berth_encryption::random_hex;
use serde_json::json;

/// Bytes of randomness in an API-key token.
const TOKEN_BYTES: usize = 32;

impl WorkerRegistry {
    /// The id of the worker running `image`, created (and started) if there is none.
    ///
    /// Runs under the lock of the image's identity, so two callers never create two workers
    /// for one image, nor two service accounts for one identity.
    pub(super) async fn provide_worker(
        &self,
        project: &str,
        image: &str,
        identity: &str,
    ) -> Result<String> {
        let guard = self
            .locks
            .lock(&[names::image_lock(project, identity)])
            .await?;
        let outcome = self.provide_locked(project, image, identity, &guard).await;
        let released = guard.release().await;
        let id = outcome?;
        released?;
        Ok(id)
    }

    async fn provide_locked(
        &self,
        project: &str,
        image: &str,
        identity: &str,
        guard: &crate::LockGuard,
    ) -> Result<String> {
        let workers = self.store.collection::<Worker>(&names::workers(project))?;
        let all = workers.all().await?;
        if let Some(worker) = all.iter().find(|w| w.value.image == image) {
            return Ok(worker.id.clone());
        }
        info(
            &*self.observer,
            &format!(
                "creating new worker for image {image:?} with identity {identity:?} in project {project:?}"
            ),
            &fields(
                project,
                vec![("image", json!(image)), ("identity", json!(identity))],
            ),
        );
        let mut batch = Staging::open(&*self.observer);
        let service_account_id = match all.iter().find(|w| w.value.identity == identity) {
            Some(sibling) => {
                let id = sibling.value.service_account_id.clone();
                info(
                    &*self.observer,
                    &format!(
                        "reusing service account {id:?} for worker identity {identity:?} in project {project:?}"
                    ),
                    &fields(
                        project,
                        vec![("serviceAccountId", json!(id)), ("identity", json!(identity))],
                    ),
                );
                id
            }
            None => {
                let id = self.store.ids().next_id().to_string();
                info(
                    &*self.observer,
                    &format!(
                        "creating service account {id:?} for worker identity {identity:?} in project {project:?}"
                    ),
                    &fields(
                        project,
                        vec![("serviceAccountId", json!(id)), ("identity", json!(identity))],
                    ),
                );
                let accounts = self
                    .store
                    .collection::<ServiceAccount>(&names::service_accounts(project))?;
                batch.put_item(&accounts, &id, &ServiceAccount {}, Precondition::Absent)?;
                id
            }
        };

        let api_key_id = self.store.ids().next_id().to_string();
        let api_key = ApiKey {
            token: random_hex(&*self.random, TOKEN_BYTES)?,
            scopes: vec![ApiKeyScope {
                kind: "service-account".to_owned(),
                actions: vec!["full".to_owned()],
                service_account_ids: vec![service_account_id.clone()],
            }],
        };
        let api_keys = self.store.collection::<ApiKey>(&names::api_keys(project))?;
        batch.put_item(&api_keys, &api_key_id, &api_key, Precondition::Absent)?;

        let worker_id = self.store.ids().next_id().to_string();
        info(
            &*self.observer,
            &format!("creating worker {worker_id:?} for image {image:?} in project {project:?}"),
            &fields(
                project,
                vec![
                    ("workerId", json!(worker_id)),
                    ("image", json!(image)),
                    ("identity", json!(identity)),
                    ("serviceAccountId", json!(service_account_id)),
                ],
            ),
        );
        let worker = Worker {
            status: WorkerStatus::Starting,
            failed_start_attempts: 0,
            identity: identity.to_owned(),
            image: image.to_owned(),
            service_account_id,
            api_key_id,
        };
        batch.put_item(&workers, &worker_id, &worker, Precondition::Absent)?;
        self.store.commit(batch.finish(guard.fences())).await?;

        if let Err(e) = self.manager.start_worker(project, &worker_id).await {
            // The worker is recorded as starting; whoever supervises workers retries it.
            tracing::warn!(project, worker_id, error = %e, "starting the new worker failed");
        }
        Ok(worker_id)
    }
}
