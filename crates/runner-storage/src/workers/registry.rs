//! [`WorkerRegistry`] and `update_unit_registrations`.

use super::image::{image_identity, lock_image};
use super::manager::WorkerManager;
use super::model::{Registrations, UnitWorker, WorkerRegistration};
use super::names;
use crate::locks::{InProcessLock, KeyLock};
use crate::observer::{info, NoObserver, StateObserver};
use crate::staging::Staging;
use berth_core::{Collection, Error, Item, Precondition, Result, Store};
use berth_encryption::{OsRandom, RandomSource};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;
use tracing::Instrument;

/// The worker registry over any backend's [`Store`]; cheap to clone.
#[derive(Clone)]
pub struct WorkerRegistry {
    pub(super) store: Store,
    pub(super) locks: Arc<dyn KeyLock>,
    pub(super) manager: Arc<dyn WorkerManager>,
    pub(super) random: Arc<dyn RandomSource>,
    pub(super) observer: Arc<dyn StateObserver>,
}

impl fmt::Debug for WorkerRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkerRegistry")
            .field("store", &self.store)
            .field("locks", &self.locks)
            .finish_non_exhaustive()
    }
}

/// `"service": "WorkerService"` and `"projectId"`, the first fields of every log line.
pub(super) fn fields(
    project: &str,
    rest: Vec<(&'static str, Value)>,
) -> Vec<(&'static str, Value)> {
    let mut all = vec![
        ("service", json!("WorkerService")),
        ("projectId", json!(project)),
    ];
    all.extend(rest);
    all
}

impl WorkerRegistry {
    /// A registry over `store` that starts and stops workers through `manager`, with the
    /// store's in-process keyed locks and the OS random source.
    pub fn new(store: Store, manager: Arc<dyn WorkerManager>) -> Self {
        WorkerRegistry {
            locks: Arc::new(InProcessLock::new(store.locks().clone())),
            store,
            manager,
            random: Arc::new(OsRandom),
            observer: Arc::new(NoObserver),
        }
    }

    /// This registry with `locks` (such as a lease-backed [`LockMode`](crate::LockMode)).
    pub fn with_locks(mut self, locks: Arc<dyn KeyLock>) -> Self {
        self.locks = locks;
        self
    }

    /// This registry drawing API-key tokens from `random`.
    pub fn with_random(mut self, random: Arc<dyn RandomSource>) -> Self {
        self.random = random;
        self
    }

    /// This registry reporting to `observer`.
    pub fn with_observer(mut self, observer: Arc<dyn StateObserver>) -> Self {
        self.observer = observer;
        self
    }

    pub(super) fn registrations(&self, project: &str) -> Result<Collection<WorkerRegistration>> {
        self.store.collection(&names::registrations(project))
    }

    /// Brings the registrations of instance `instance` of `project` in line with
    /// `unit_workers`, and returns the instance's new registrations (name → id).
    ///
    /// `current` is what the previous call returned; ids it names that no longer exist are
    /// ignored. Unchanged registrations are left alone, new parameters are written in place,
    /// a new image (or version) moves the registration to a worker of that image, and
    /// registrations of unit workers no longer listed are removed. A worker that no
    /// registration uses any more is deleted and stopped.
    pub async fn update_unit_registrations(
        &self,
        project: &str,
        instance: &str,
        current: &Registrations,
        unit_workers: &[UnitWorker],
    ) -> Result<Registrations> {
        let span = tracing::debug_span!(
            "worker_registry.update_unit_registrations",
            project,
            instance,
            unit_workers = unit_workers.len()
        );
        self.update(project, instance, current, unit_workers)
            .instrument(span)
            .await
    }

    async fn update(
        &self,
        project: &str,
        instance: &str,
        current: &Registrations,
        unit_workers: &[UnitWorker],
    ) -> Result<Registrations> {
        let mut images: Vec<String> = Vec::new();
        for (i, uw) in unit_workers.iter().enumerate() {
            image_identity(&uw.image)?;
            if unit_workers[..i].iter().any(|o| o.name == uw.name) {
                return Err(Error::invalid(
                    "unit workers",
                    format!("unit worker name {:?} is listed twice", uw.name),
                ));
            }
            let key = names::image_lock(project, &lock_image(&uw.image));
            if !images.contains(&key) {
                images.push(key);
            }
        }
        let guard = self.locks.lock(&images).await?;
        let outcome = self
            .update_locked(project, instance, current, unit_workers, &guard)
            .await;
        let unlocked = guard.release().await;
        let (registrations, released) = outcome?;
        unlocked?;
        // After the release: retiring takes the worker's image lock, and nobody may take an
        // image lock while holding others (only all at once), or two callers could deadlock.
        // The registrations are committed: a failure here leaves a worker nobody uses, which
        // `sweep_unused_workers` deletes later; the caller still gets the new registrations.
        for (worker_id, image) in released {
            if let Err(e) = self.retire_if_unused(project, &image, &worker_id).await {
                tracing::warn!(project, worker_id, error = %e, "retiring an unused worker failed");
            }
        }
        Ok(registrations)
    }

    async fn update_locked(
        &self,
        project: &str,
        instance: &str,
        current: &Registrations,
        unit_workers: &[UnitWorker],
        guard: &crate::LockGuard,
    ) -> Result<(Registrations, BTreeMap<String, String>)> {
        let registrations = self.registrations(project)?;
        let mut outer = Staging::open(&*self.observer);
        let ids: Vec<String> = current.values().cloned().collect();
        let existing: HashMap<String, Item<WorkerRegistration>> =
            registrations.get_many(&ids).await?;
        let mut result = Registrations::new();
        // Workers that lost a registration here: id → image.
        let mut released: BTreeMap<String, String> = BTreeMap::new();

        for uw in unit_workers {
            let found = current.get(&uw.name).and_then(|id| existing.get(id));
            let id = match found {
                Some(reg) if reg.value.image == uw.image => {
                    if reg.value.params != uw.params {
                        self.update_params(project, &mut outer, &registrations, reg, uw)?;
                    }
                    reg.id.clone()
                }
                _ => {
                    let identity = image_identity(&uw.image)?;
                    let worker_id = self.provide_worker(project, &uw.image, identity).await?;
                    match found {
                        Some(reg) => {
                            released.insert(reg.value.worker_id.clone(), reg.value.image.clone());
                            self.move_registration(
                                project,
                                instance,
                                &mut outer,
                                &registrations,
                                reg,
                                uw,
                                &worker_id,
                            )?;
                            reg.id.clone()
                        }
                        None => self.create_registration(
                            project,
                            instance,
                            &mut outer,
                            &registrations,
                            uw,
                            &worker_id,
                        )?,
                    }
                }
            };
            result.insert(uw.name.clone(), id);
        }

        for (name, id) in current {
            if result.contains_key(name) {
                continue;
            }
            let Some(reg) = existing.get(id) else {
                continue;
            };
            info(
                &*self.observer,
                &format!(
                    "removing worker registration {:?} of unit worker {name:?} in project {project:?}",
                    reg.id
                ),
                &fields(
                    project,
                    vec![
                        ("registrationId", json!(reg.id)),
                        ("unitWorkerName", json!(name)),
                        ("workerId", json!(reg.value.worker_id)),
                    ],
                ),
            );
            outer.delete_item(
                &registrations,
                &reg.id,
                Some(Precondition::Version(reg.meta.version)),
            )?;
            outer.delete_raw(
                &names::registration_index(project, &reg.value.worker_id),
                &reg.id,
            )?;
            released.insert(reg.value.worker_id.clone(), reg.value.image.clone());
        }

        if !outer.is_empty() {
            self.store.commit(outer.finish(guard.fences())).await?;
        }
        Ok((result, released))
    }

    fn update_params(
        &self,
        project: &str,
        outer: &mut Staging<'_>,
        registrations: &Collection<WorkerRegistration>,
        reg: &Item<WorkerRegistration>,
        uw: &UnitWorker,
    ) -> Result<()> {
        info(
            &*self.observer,
            &format!(
                "updating params of worker registration {:?} for unit worker {:?} in project {project:?}",
                reg.id, uw.name
            ),
            &fields(
                project,
                vec![
                    ("registrationId", json!(reg.id)),
                    ("unitWorkerName", json!(uw.name)),
                    ("workerId", json!(reg.value.worker_id)),
                ],
            ),
        );
        let updated = WorkerRegistration {
            params: uw.params.clone(),
            ..reg.value.clone()
        };
        outer.put_item(
            registrations,
            &reg.id,
            &updated,
            Precondition::Version(reg.meta.version),
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn move_registration(
        &self,
        project: &str,
        instance: &str,
        outer: &mut Staging<'_>,
        registrations: &Collection<WorkerRegistration>,
        reg: &Item<WorkerRegistration>,
        uw: &UnitWorker,
        worker_id: &str,
    ) -> Result<()> {
        info(
            &*self.observer,
            &format!(
                "moving worker registration {:?} for unit worker {:?} from worker {:?} to worker {worker_id:?} in project {project:?}",
                reg.id, uw.name, reg.value.worker_id
            ),
            &fields(
                project,
                vec![
                    ("registrationId", json!(reg.id)),
                    ("unitWorkerName", json!(uw.name)),
                    ("previousWorkerId", json!(reg.value.worker_id)),
                    ("workerId", json!(worker_id)),
                    ("image", json!(uw.image)),
                ],
            ),
        );
        let moved = WorkerRegistration {
            image: uw.image.clone(),
            params: uw.params.clone(),
            instance_id: instance.to_owned(),
            worker_id: worker_id.to_owned(),
        };
        outer.put_item(
            registrations,
            &reg.id,
            &moved,
            Precondition::Version(reg.meta.version),
        )?;
        outer.delete_raw(
            &names::registration_index(project, &reg.value.worker_id),
            &reg.id,
        )?;
        outer.put_raw(
            &names::registration_index(project, worker_id),
            &reg.id,
            json!(""),
        )
    }

    fn create_registration(
        &self,
        project: &str,
        instance: &str,
        outer: &mut Staging<'_>,
        registrations: &Collection<WorkerRegistration>,
        uw: &UnitWorker,
        worker_id: &str,
    ) -> Result<String> {
        let id = self.store.ids().next_id().to_string();
        info(
            &*self.observer,
            &format!(
                "creating worker registration {id:?} for unit worker {:?} in project {project:?}",
                uw.name
            ),
            &fields(
                project,
                vec![
                    ("registrationId", json!(id)),
                    ("unitWorkerName", json!(uw.name)),
                    ("workerId", json!(worker_id)),
                    ("image", json!(uw.image)),
                ],
            ),
        );
        let registration = WorkerRegistration {
            image: uw.image.clone(),
            params: uw.params.clone(),
            instance_id: instance.to_owned(),
            worker_id: worker_id.to_owned(),
        };
        outer.put_item(registrations, &id, &registration, Precondition::Absent)?;
        outer.put_raw(
            &names::registration_index(project, worker_id),
            &id,
            json!(""),
        )?;
        Ok(id)
    }
}
