//! The MongoDB [`LeaseStore`]: runner registry and shard leases.

use crate::leases;
use crate::runners;
use crate::shared::Shared;
use async_trait::async_trait;
use berth_core::validate_lease_request;
use berth_core::{validate_lease_name, Lease, LeaseStore, MachineId, Result, RunnerEntry};
use std::time::Duration;
use tracing::Instrument;

/// The MongoDB backend's [`LeaseStore`].
#[derive(Debug, Clone)]
pub struct MongoLeases {
    shared: Shared,
}

impl MongoLeases {
    pub(crate) fn new(shared: Shared) -> Self {
        MongoLeases { shared }
    }
}

#[async_trait]
impl LeaseStore for MongoLeases {
    async fn register(&self, address: &str, runner: &str, healthy: bool) -> Result<MachineId> {
        validate_lease_name("runner address", address)?;
        let span = tracing::debug_span!("mongo.register", address);
        let fut = runners::register(&self.shared, address, runner, healthy);
        self.shared.deadline("register", fut).instrument(span).await
    }

    async fn unregister(&self, address: &str) -> Result<()> {
        validate_lease_name("runner address", address)?;
        let span = tracing::debug_span!("mongo.unregister", address);
        self.shared
            .deadline("unregister", runners::unregister(&self.shared, address))
            .instrument(span)
            .await
    }

    async fn runners(&self) -> Result<Vec<RunnerEntry>> {
        let span = tracing::debug_span!("mongo.runners");
        self.shared
            .deadline("runners", runners::runners(&self.shared))
            .instrument(span)
            .await
    }

    async fn set_health(&self, address: &str, healthy: bool) -> Result<()> {
        validate_lease_name("runner address", address)?;
        let span = tracing::debug_span!("mongo.set_health", address, healthy);
        let fut = runners::set_health(&self.shared, address, healthy);
        self.shared
            .deadline("set_health", fut)
            .instrument(span)
            .await
    }

    async fn acquire(&self, owner: &str, shards: &[String], ttl: Duration) -> Result<Vec<Lease>> {
        validate_lease_request(owner, shards)?;
        let span = tracing::debug_span!("mongo.acquire", owner, shards = shards.len());
        let fut = leases::acquire(&self.shared, owner, shards, ttl);
        self.shared
            .deadline_within("acquire", ttl, fut)
            .instrument(span)
            .await
    }

    async fn refresh(&self, owner: &str, shards: &[String], ttl: Duration) -> Result<Vec<Lease>> {
        validate_lease_request(owner, shards)?;
        let span = tracing::debug_span!("mongo.refresh", owner, shards = shards.len());
        let fut = leases::refresh(&self.shared, owner, shards, ttl);
        self.shared
            .deadline_within("refresh", ttl, fut)
            .instrument(span)
            .await
    }

    async fn release(&self, owner: &str, shard: &str) -> Result<()> {
        validate_lease_name("runner address", owner)?;
        validate_lease_name("shard id", shard)?;
        let span = tracing::debug_span!("mongo.release", owner, shard);
        self.shared
            .deadline("release", leases::release(&self.shared, owner, shard))
            .instrument(span)
            .await
    }

    async fn release_all(&self, owner: &str) -> Result<()> {
        validate_lease_name("runner address", owner)?;
        let span = tracing::debug_span!("mongo.release_all", owner);
        self.shared
            .deadline("release_all", leases::release_all(&self.shared, owner))
            .instrument(span)
            .await
    }

    async fn lease(&self, shard: &str) -> Result<Option<Lease>> {
        validate_lease_name("shard id", shard)?;
        let span = tracing::debug_span!("mongo.lease", shard);
        self.shared
            .deadline("lease", leases::lease(&self.shared, shard))
            .instrument(span)
            .await
    }

    async fn held_by(&self, owner: &str) -> Result<Vec<Lease>> {
        validate_lease_name("runner address", owner)?;
        let span = tracing::debug_span!("mongo.held_by", owner);
        self.shared
            .deadline("held_by", leases::held_by(&self.shared, owner))
            .instrument(span)
            .await
    }
}
