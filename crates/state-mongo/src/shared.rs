//! What every part of the backend shares: the client, database, names, server facts, clocks.

use crate::config::LeaseClock;
use crate::schema::{CollectionNames, Role};
use crate::server::ServerInfo;
use berth_core::{Error, Result, SharedClock};
use mongodb::bson::{doc, Bson, Document};
use mongodb::{Client, Collection, Database};
use std::future::Future;
use std::time::Duration;

/// The state shared by the record, lease and pack-run stores of one open backend.
#[derive(Debug, Clone)]
pub(crate) struct Shared {
    pub client: Client,
    pub db: Database,
    pub names: CollectionNames,
    pub server: ServerInfo,
    pub clock: SharedClock,
    pub lease_clock: LeaseClock,
    pub op_timeout: Duration,
}

impl Shared {
    /// The collection playing `role`.
    pub fn coll(&self, role: Role) -> Collection<Document> {
        self.db.collection(role.name(&self.names))
    }

    /// "Now" as the lease clock sees it, as an expression usable in queries and update
    /// pipelines: the server's `$$NOW` as Int64 epoch millis, or the injected clock's value.
    pub fn now_expr(&self) -> Bson {
        match self.lease_clock {
            LeaseClock::Server => Bson::Document(doc! {"$toLong": "$$NOW"}),
            LeaseClock::Injected => Bson::Int64(self.clock.now().millis()),
        }
    }

    /// Runs `fut` within the operation deadline; running out is a retryable backend error.
    pub async fn deadline<T>(&self, what: &str, fut: impl Future<Output = Result<T>>) -> Result<T> {
        self.deadline_within(what, self.op_timeout, fut).await
    }

    /// Runs `fut` within `limit` (capped by the operation deadline). Lease calls pass their TTL:
    /// an acquire or refresh slower than the lease it grants must fail, not report a lease
    /// that may already have lapsed.
    pub async fn deadline_within<T>(
        &self,
        what: &str,
        limit: Duration,
        fut: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        let limit = limit.min(self.op_timeout);
        match tokio::time::timeout(limit, fut).await {
            Ok(result) => result,
            Err(_) => Err(Error::backend_msg(
                format!("mongodb {what} did not finish within {limit:?}"),
                true,
            )),
        }
    }
}

/// Collects every document of a cursor opened without a session.
pub(crate) async fn collect(
    mut cursor: mongodb::Cursor<Document>,
    what: &'static str,
) -> Result<Vec<Document>> {
    let mut out = Vec::new();
    while cursor.advance().await.map_err(crate::errors::ctx(what))? {
        out.push(
            cursor
                .deserialize_current()
                .map_err(crate::errors::ctx(what))?,
        );
    }
    Ok(out)
}

/// Collects every document of a cursor opened in `session`.
pub(crate) async fn collect_in(
    mut cursor: mongodb::SessionCursor<Document>,
    session: &mut mongodb::ClientSession,
    what: &'static str,
) -> Result<Vec<Document>> {
    let mut out = Vec::new();
    while cursor
        .advance(session)
        .await
        .map_err(crate::errors::ctx(what))?
    {
        out.push(
            cursor
                .deserialize_current()
                .map_err(crate::errors::ctx(what))?,
        );
    }
    Ok(out)
}
