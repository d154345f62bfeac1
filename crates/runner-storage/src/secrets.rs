//! [`InstanceSecrets`]: an instance's secrets, changed in one batch under the instance's lock.

use crate::locks::{InProcessLock, KeyLock};
use crate::observer::{info, NoObserver, StateObserver};
use crate::staging::Staging;
use berth_core::{Collection, Precondition, Result, Store};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use tracing::Instrument;

/// One stored secret. Keep `secrets:*` in an encrypted collection
/// (`berth_encryption::EncryptedRecords`): the value is stored as given.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct Secret {
    /// The secret value.
    pub value: Value,
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Secret")
            .field("value", &"<redacted>")
            .finish()
    }
}

/// What [`InstanceSecrets::update_instance_secrets`] changed, by secret name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecretChanges {
    /// Secrets that did not exist.
    pub created: Vec<String>,
    /// Secrets whose value changed.
    pub updated: Vec<String>,
    /// Secrets removed.
    pub deleted: Vec<String>,
}

impl SecretChanges {
    /// Whether nothing changed (and nothing was written).
    pub fn is_empty(&self) -> bool {
        self.created.is_empty() && self.updated.is_empty() && self.deleted.is_empty()
    }
}

/// The collection of the secrets of `instance` of `project` (keyed by secret name).
pub fn secrets_collection(project: &str, instance: &str) -> String {
    format!("secrets:{project}:{instance}")
}

/// The lock key of `instance` of `project`.
pub fn instance_lock(project: &str, instance: &str) -> String {
    format!("instance:{project}:{instance}")
}

/// Instance secrets over any backend's [`Store`]; cheap to clone.
#[derive(Clone)]
pub struct InstanceSecrets {
    store: Store,
    locks: Arc<dyn KeyLock>,
    observer: Arc<dyn StateObserver>,
}

impl fmt::Debug for InstanceSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InstanceSecrets")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

fn fields(project: &str, instance: &str, name: &str) -> Vec<(&'static str, Value)> {
    vec![
        ("service", json!("SecretService")),
        ("projectId", json!(project)),
        ("instanceId", json!(instance)),
        ("secretName", json!(name)),
    ]
}

impl InstanceSecrets {
    /// Instance secrets over `store` with its in-process keyed locks.
    pub fn new(store: Store) -> Self {
        InstanceSecrets {
            locks: Arc::new(InProcessLock::new(store.locks().clone())),
            store,
            observer: Arc::new(NoObserver),
        }
    }

    /// These secrets with `locks` (such as a lease-backed [`LockMode`](crate::LockMode)).
    pub fn with_locks(mut self, locks: Arc<dyn KeyLock>) -> Self {
        self.locks = locks;
        self
    }

    /// These secrets reporting to `observer` (names only, never values).
    pub fn with_observer(mut self, observer: Arc<dyn StateObserver>) -> Self {
        self.observer = observer;
        self
    }

    /// The secrets of `instance` of `project`, by name.
    pub async fn instance_secrets(
        &self,
        project: &str,
        instance: &str,
    ) -> Result<BTreeMap<String, Value>> {
        let secrets = self
            .store
            .collection::<Secret>(&secrets_collection(project, instance))?;
        Ok(secrets
            .all()
            .await?
            .into_iter()
            .map(|item| (item.id, item.value.value))
            .collect())
    }

    /// Applies `changes` to the secrets of `instance` of `project` in one batch under the
    /// instance's lock: `Some(value)` creates or updates a secret, `None` deletes it. Writes
    /// nothing when nothing changes.
    pub async fn update_instance_secrets(
        &self,
        project: &str,
        instance: &str,
        changes: &BTreeMap<String, Option<Value>>,
    ) -> Result<SecretChanges> {
        let span = tracing::debug_span!(
            "instance_secrets.update",
            project,
            instance,
            changes = changes.len()
        );
        async {
            let guard = self.locks.lock(&[instance_lock(project, instance)]).await?;
            let outcome = self.update_locked(project, instance, changes, &guard).await;
            let released = guard.release().await;
            let done = outcome?;
            released?;
            Ok(done)
        }
        .instrument(span)
        .await
    }

    async fn update_locked(
        &self,
        project: &str,
        instance: &str,
        changes: &BTreeMap<String, Option<Value>>,
        guard: &crate::LockGuard,
    ) -> Result<SecretChanges> {
        let secrets: Collection<Secret> = self
            .store
            .collection(&secrets_collection(project, instance))?;
        let names: Vec<String> = changes.keys().cloned().collect();
        let existing = secrets.get_many(&names).await?;
        let mut batch = Staging::open(&*self.observer);
        let mut done = SecretChanges::default();
        for (name, change) in changes {
            let found = existing.get(name);
            match (change, found) {
                (Some(value), None) => {
                    info(
                        &*self.observer,
                        &format!("creating secret {name:?} of instance {instance:?} in project {project:?}"),
                        &fields(project, instance, name),
                    );
                    let secret = Secret {
                        value: value.clone(),
                    };
                    batch.put_item(&secrets, name, &secret, Precondition::Absent)?;
                    done.created.push(name.clone());
                }
                (Some(value), Some(old)) if old.value.value != *value => {
                    info(
                        &*self.observer,
                        &format!("updating secret {name:?} of instance {instance:?} in project {project:?}"),
                        &fields(project, instance, name),
                    );
                    let secret = Secret {
                        value: value.clone(),
                    };
                    batch.put_item(
                        &secrets,
                        name,
                        &secret,
                        Precondition::Version(old.meta.version),
                    )?;
                    done.updated.push(name.clone());
                }
                (None, Some(old)) => {
                    info(
                        &*self.observer,
                        &format!("deleting secret {name:?} of instance {instance:?} in project {project:?}"),
                        &fields(project, instance, name),
                    );
                    batch.delete_item(
                        &secrets,
                        name,
                        Some(Precondition::Version(old.meta.version)),
                    )?;
                    done.deleted.push(name.clone());
                }
                _ => {}
            }
        }
        if !batch.is_empty() {
            self.store.commit(batch.finish(guard.fences())).await?;
        }
        Ok(done)
    }
}
