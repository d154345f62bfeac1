//! [`WorkerManager`]: what runs workers.

use async_trait::async_trait;
use berth_core::Result;
use std::fmt;

/// Starts and stops the worker processes the registry records.
#[async_trait]
pub trait WorkerManager: Send + Sync + fmt::Debug {
    /// Starts worker `worker_id` of `project` (called once its records are committed).
    async fn start_worker(&self, project: &str, worker_id: &str) -> Result<()>;

    /// Stops worker `worker_id` of `project` (called once its records are deleted).
    async fn stop_worker(&self, project: &str, worker_id: &str) -> Result<()>;
}
