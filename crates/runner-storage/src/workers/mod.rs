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
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> berth_core::Result<()> {
//! use berth_core::OpenOptions;
//! use berth_encryption::{Collections, EncryptedRecords, Keyring};
//! use berth_runner_storage::workers::{names, Registrations, Worker, WorkerManager};
//! use berth_runner_storage::{UnitWorker, WorkerRegistry};
//! use std::sync::Arc;
//!
//! #[derive(Debug)]
//! struct Manager;
//! #[async_trait::async_trait]
//! impl WorkerManager for Manager {
//!     async fn start_worker(&self, _: &str, _: &str) -> berth_core::Result<()> { Ok(()) }
//!     async fn stop_worker(&self, _: &str, _: &str) -> berth_core::Result<()> { Ok(()) }
//! }
//!
//! let plain = berth_state_memory::open(OpenOptions::default());
//! let keyring = Keyring::new("k1", [7; 32]); // load a real key from configuration
//! let store = EncryptedRecords::wrap_store(&plain, keyring, Collections::matching(["api-keys:*"]));
//! let registry = WorkerRegistry::new(store.clone(), Arc::new(Manager));
//!
//! let units = [
//!     UnitWorker::new("a", "ghcr.io/org/worker:v1"),
//!     UnitWorker::new("b", "ghcr.io/org/worker:v1"),
//! ];
//! let regs = registry
//!     .update_unit_registrations("proj", "inst", &Registrations::new(), &units)
//!     .await?;
//! assert_eq!(regs.len(), 2);
//! // One worker serves both registrations of the same image.
//! let workers = store.collection::<Worker>(&names::workers("proj"))?.all().await?;
//! assert_eq!(workers.len(), 1);
//!
//! // Listing nothing removes the registrations and the worker no one uses any more.
//! let regs = registry.update_unit_registrations("proj", "inst", &regs, &[]).await?;
//! assert!(regs.is_empty());
//! assert_eq!(store.records().count(&names::workers("proj"), "").await?, 0);
//! # Ok(()) }
//! ```

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
