//! The worker registry of seed 000: unit workers registered with workers per image, each
//! worker with a service account (shared by its image identity) and an API key.
//!
//! [`WorkerRegistry::update_unit_registrations`] brings an instance's registrations in line
//! with the unit workers it lists: under one keyed lock over every listed
//! `worker-image:<project>:<image>` it reads the instance's registrations in one `get_many`,
//! and for each image, under a lock on `worker-image:<project>:<identity>`, reuses the worker of
//! that image or creates one (service account reused per identity, fresh API key, worker
//! `starting`) in its own batch and starts it through the [`WorkerManager`]. Registrations
//! and their `worker-registration-index:<project>:<worker>` entries are written in one batch;
//! a worker no registration uses any more is deleted afterwards.
//!
//! Collections: `workers:<project>`, `service-accounts:<project>`, `api-keys:<project>`
//! (tokens: wrap the store with `berth_encryption::EncryptedRecords` for `api-keys:*`),
//! `worker-registrations:<project>`, `worker-registration-index:<project>:<worker>`.

mod cleanup;
mod image;
mod manager;
mod model;
pub mod names;
mod provision;
mod registry;

pub use image::image_identity;
pub use manager::WorkerManager;
pub use model::{
    ApiKey, ApiKeyScope, Registrations, ServiceAccount, UnitWorker, Worker, WorkerRegistration,
    WorkerStatus,
};
pub use registry::WorkerRegistry;
