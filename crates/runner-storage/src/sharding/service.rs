//! [`RunnerStorage`]: the typed runner registry and shard leases over [`LeaseStore`], with
//! liveness from [`SessionStore`] sessions.

use crate::sharding::address::RunnerAddress;
use crate::sharding::lease::ShardLease;
use crate::sharding::runner::{RegisteredRunner, Runner};
use crate::sharding::shard::ShardId;
use berth_core::{Error, ErrorKind, LeaseStore, MachineId, Result, SessionId, SessionStore, Store};
use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing::Instrument;

/// Lease time-to-live unless configured otherwise.
pub const DEFAULT_TTL: Duration = Duration::from_secs(35);

/// The typed runner storage: registry, health, and shard leases with fencing tokens.
///
/// A thin layer over any backend's [`LeaseStore`] and [`SessionStore`]: it converts typed
/// values to the store's strings and back. Built with [`from_store`](Self::from_store), a
/// registration opens a session for the runner's address (TTL [`ttl`](Self::ttl)); the
/// runner's leases are attached to it, so:
///
/// - [`refresh`](Self::refresh) is one keepalive write however many shards are held, and a
///   refresh of no shards is a heartbeat that keeps the runner listed;
/// - a runner whose session expired is no longer listed by [`runners`](Self::runners) and its
///   shards are free for others at once;
/// - [`unregister`](Self::unregister) closes the session, releasing every lease in one commit;
/// - an [`acquire`](Self::acquire) after the session lapsed (a pause longer than the TTL)
///   opens a new session and takes back what nobody took, with new tokens.
///
/// Sessions are kept per handle (clones share them): an address registered through another
/// handle or process, or a store built with [`new`](Self::new), uses owner leases with their
/// own expiry instead. Every call is bounded by [`call_timeout`](Self::call_timeout): a hung
/// storage call fails with a retryable [`Backend`](berth_core::Error::Backend) error. It does
/// not keep leases alive; that is the [`ShardKeeper`](crate::ShardKeeper)'s job.
#[derive(Clone)]
pub struct RunnerStorage {
    leases: Arc<dyn LeaseStore>,
    sessions: Option<Arc<dyn SessionStore>>,
    /// The session opened for each address registered through this handle.
    opened: Arc<Mutex<HashMap<String, SessionId>>>,
    ttl: Duration,
    call_timeout: Option<Duration>,
}

impl fmt::Debug for RunnerStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunnerStorage")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

fn shard_names<'a>(shards: impl IntoIterator<Item = &'a ShardId>) -> Vec<String> {
    shards.into_iter().map(ToString::to_string).collect()
}

fn typed(leases: Vec<berth_core::Lease>) -> Result<Vec<ShardLease>> {
    leases.into_iter().map(ShardLease::try_from).collect()
}

impl RunnerStorage {
    /// Runner storage over `leases` alone (owner leases, no sessions) with the default TTL.
    pub fn new(leases: Arc<dyn LeaseStore>) -> Self {
        RunnerStorage {
            leases,
            sessions: None,
            opened: Arc::default(),
            ttl: DEFAULT_TTL,
            call_timeout: None,
        }
    }

    /// Runner storage over the leases and sessions of `store`.
    pub fn from_store(store: &Store) -> Self {
        RunnerStorage::new(store.leases().clone()).with_sessions(store.sessions().clone())
    }

    /// This storage with runner liveness from `sessions`.
    pub fn with_sessions(mut self, sessions: Arc<dyn SessionStore>) -> Self {
        self.sessions = Some(sessions);
        self
    }

    /// This storage with every call bounded by `timeout` (default: a third of the TTL).
    pub fn with_call_timeout(mut self, timeout: Duration) -> Self {
        self.call_timeout = Some(timeout);
        self
    }

    /// How long one storage call may take before it fails (retryably).
    pub fn call_timeout(&self) -> Duration {
        self.call_timeout.unwrap_or(self.ttl / 3)
    }

    /// Runs `fut` within the call timeout.
    async fn bounded<T>(
        &self,
        op: &'static str,
        fut: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        let limit = self.call_timeout();
        match tokio::time::timeout(limit, fut).await {
            Ok(r) => r,
            Err(_) => Err(Error::backend_msg(
                format!("runner storage {op} did not finish within {limit:?}"),
                true,
            )),
        }
    }

    fn session_of(&self, address: &str) -> Option<SessionId> {
        let opened = self.opened.lock().unwrap_or_else(|e| e.into_inner());
        opened.get(address).copied()
    }

    fn remember(&self, address: &str, id: Option<SessionId>) {
        let mut opened = self.opened.lock().unwrap_or_else(|e| e.into_inner());
        match id {
            Some(id) => opened.insert(address.to_owned(), id),
            None => opened.remove(address),
        };
    }

    /// The live session of `address` opened through this handle, opening a new one if it
    /// lapsed (or if `open` and there is none). `None`: owner leases are used.
    async fn live_session(&self, address: &str, open: bool) -> Result<Option<SessionId>> {
        let Some(sessions) = &self.sessions else {
            return Ok(None);
        };
        let known = self.session_of(address);
        if let Some(id) = known {
            match sessions.keepalive(id).await {
                Ok(_) => return Ok(Some(id)),
                Err(e) if matches!(e.kind(), ErrorKind::SessionExpired | ErrorKind::NotFound) => {
                    tracing::warn!(address, session = %id, "runner session lapsed; opening a new one");
                }
                Err(e) => return Err(e),
            }
        } else if !open {
            return Ok(None);
        }
        let session = sessions.open(address, self.ttl).await?;
        self.remember(address, Some(session.id));
        Ok(Some(session.id))
    }

    /// This storage with leases lasting `ttl` after each acquire or refresh.
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// The lease time-to-live.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The underlying lease store.
    pub fn lease_store(&self) -> &Arc<dyn LeaseStore> {
        &self.leases
    }

    /// Registers `runner`; registering the same address again keeps its machine id and
    /// replaces its description and health.
    pub async fn register(&self, runner: &Runner, healthy: bool) -> Result<MachineId> {
        let address = runner.address().to_string();
        let span = tracing::debug_span!("runner_storage.register", %address, healthy);
        let fut = async {
            let id = self
                .leases
                .register(&address, &runner.encode(), healthy)
                .await?;
            self.live_session(&address, true).await?;
            Ok(id)
        };
        self.bounded("register", fut).instrument(span).await
    }

    /// Removes the runner at `address` and releases its leases: the session opened through
    /// this handle is closed (one commit; leases a predecessor at the same address left are
    /// not touched); without one, the address's owner leases are released. Nothing happens
    /// if it is not registered.
    pub async fn unregister(&self, address: &RunnerAddress) -> Result<()> {
        let address = address.to_string();
        let span = tracing::debug_span!("runner_storage.unregister", %address);
        let fut = async {
            if let (Some(sessions), Some(id)) = (&self.sessions, self.session_of(&address)) {
                match sessions.close(id).await {
                    Ok(()) => {}
                    Err(e) if e.kind() == ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
                self.remember(&address, None);
            } else {
                self.leases.release_all(&address).await?;
            }
            self.leases.unregister(&address).await
        };
        self.bounded("unregister", fut).instrument(span).await
    }

    /// Every registered, live runner with its health and machine id, ordered by address.
    ///
    /// With sessions, a runner is live while some session of its address is: one whose
    /// session expired (a dead or frozen process) is left out.
    ///
    /// An entry that does not decode as a [`Runner`] (written by something else, or whose
    /// address disagrees with its key) is skipped with a warning rather than failing the
    /// whole list, so one bad entry cannot stop every keeper from assigning shards.
    pub async fn runners(&self) -> Result<Vec<RegisteredRunner>> {
        let span = tracing::debug_span!("runner_storage.runners");
        let fut = async {
            let entries = self.leases.runners().await?;
            let Some(sessions) = &self.sessions else {
                return Ok(entries);
            };
            let live: BTreeSet<String> = sessions
                .live()
                .await?
                .into_iter()
                .map(|s| s.owner)
                .collect();
            Ok(entries
                .into_iter()
                .filter(|e| live.contains(&e.address))
                .collect())
        };
        let entries = self.bounded("runners", fut).instrument(span).await?;
        let mut out = Vec::with_capacity(entries.len());
        for entry in entries {
            match Runner::decode(&entry.runner) {
                Ok(runner) if runner.address().to_string() == entry.address => {
                    out.push(RegisteredRunner {
                        runner,
                        healthy: entry.healthy,
                        machine_id: entry.machine_id,
                    })
                }
                Ok(_) => {
                    tracing::warn!(address = %entry.address, "registry entry names another address; skipped")
                }
                Err(e) => {
                    tracing::warn!(address = %entry.address, error = %e, "undecodable registry entry; skipped")
                }
            }
        }
        Ok(out)
    }

    /// Marks the runner at `address` healthy or not; [`NotFound`](berth_core::Error::NotFound) if not registered.
    pub async fn set_runner_health(&self, address: &RunnerAddress, healthy: bool) -> Result<()> {
        let address = address.to_string();
        let span = tracing::debug_span!("runner_storage.set_health", %address, healthy);
        self.bounded("set_health", self.leases.set_health(&address, healthy))
            .instrument(span)
            .await
    }

    /// Takes every shard of `shards` that is free, lapsed or already held by `address`, and
    /// returns exactly those it now holds (partial success is normal). A new grant carries a
    /// new, greater fencing token; a shard already held keeps its token and is extended.
    pub async fn acquire<'a>(
        &self,
        address: &RunnerAddress,
        shards: impl IntoIterator<Item = &'a ShardId>,
    ) -> Result<Vec<ShardLease>> {
        let owner = address.to_string();
        let shards = shard_names(shards);
        if shards.is_empty() {
            return Ok(Vec::new());
        }
        let span = tracing::debug_span!("runner_storage.acquire", %owner, shards = shards.len());
        let fut = async {
            match (&self.sessions, self.live_session_for_acquire(&owner).await?) {
                (Some(sessions), Some(id)) => sessions.acquire(id, &shards).await,
                _ => self.leases.acquire(&owner, &shards, self.ttl).await,
            }
        };
        typed(self.bounded("acquire", fut).instrument(span).await?)
    }

    /// The session to acquire in: the address's own (re-established if it lapsed).
    async fn live_session_for_acquire(&self, owner: &str) -> Result<Option<SessionId>> {
        if self.sessions.is_none() || self.session_of(owner).is_none() {
            return Ok(None);
        }
        self.live_session(owner, true).await
    }

    /// Extends the shards of `shards` that `address` still holds and returns them; the others
    /// are no longer held and must not be acted on. With a session this is one keepalive
    /// however many shards are held, and with no shards it is a heartbeat that keeps the
    /// runner listed. A lapsed session returns nothing (everything must be acquired again).
    pub async fn refresh<'a>(
        &self,
        address: &RunnerAddress,
        shards: impl IntoIterator<Item = &'a ShardId>,
    ) -> Result<Vec<ShardLease>> {
        let owner = address.to_string();
        let shards = shard_names(shards);
        let span = tracing::debug_span!("runner_storage.refresh", %owner, shards = shards.len());
        let fut = async {
            if let (Some(sessions), Some(id)) = (&self.sessions, self.session_of(&owner)) {
                match sessions.keepalive(id).await {
                    Ok(_) => {}
                    Err(e) if e.kind() == ErrorKind::SessionExpired => return Ok(Vec::new()),
                    Err(e) => return Err(e),
                }
                if shards.is_empty() {
                    return Ok(Vec::new());
                }
                let mut held: HashMap<String, berth_core::Lease> = sessions
                    .held(id)
                    .await?
                    .into_iter()
                    .map(|l| (l.shard.clone(), l))
                    .collect();
                // In the order asked for, each shard once.
                return Ok(shards.iter().filter_map(|s| held.remove(s)).collect());
            }
            if shards.is_empty() {
                return Ok(Vec::new());
            }
            self.leases.refresh(&owner, &shards, self.ttl).await
        };
        typed(self.bounded("refresh", fut).instrument(span).await?)
    }

    /// Releases `shard` if `address` holds it.
    pub async fn release(&self, address: &RunnerAddress, shard: &ShardId) -> Result<()> {
        let (owner, shard) = (address.to_string(), shard.to_string());
        let span = tracing::debug_span!("runner_storage.release", %owner, %shard);
        let fut = async {
            if let (Some(sessions), Some(id)) = (&self.sessions, self.session_of(&owner)) {
                match sessions.release(id, std::slice::from_ref(&shard)).await {
                    Ok(()) => {}
                    Err(e) if e.kind() == ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
            self.leases.release(&owner, &shard).await
        };
        self.bounded("release", fut).instrument(span).await
    }

    /// Releases every shard `address` holds.
    pub async fn release_all(&self, address: &RunnerAddress) -> Result<()> {
        let owner = address.to_string();
        let span = tracing::debug_span!("runner_storage.release_all", %owner);
        let fut = async {
            if let (Some(sessions), Some(id)) = (&self.sessions, self.session_of(&owner)) {
                let held: Vec<String> = match sessions.held(id).await {
                    Ok(held) => held.into_iter().map(|l| l.shard).collect(),
                    Err(e) if e.kind() == ErrorKind::NotFound => Vec::new(),
                    Err(e) => return Err(e),
                };
                if !held.is_empty() {
                    sessions.release(id, &held).await?;
                }
            }
            self.leases.release_all(&owner).await
        };
        self.bounded("release_all", fut).instrument(span).await
    }

    /// The current lease of `shard`, if it is held.
    pub async fn lease(&self, shard: &ShardId) -> Result<Option<ShardLease>> {
        let name = shard.to_string();
        let span = tracing::trace_span!("runner_storage.lease", shard = %name);
        self.bounded("lease", self.leases.lease(&name))
            .instrument(span)
            .await?
            .map(ShardLease::try_from)
            .transpose()
    }

    /// Every lease `address` holds, ordered by shard id string.
    pub async fn held_by(&self, address: &RunnerAddress) -> Result<Vec<ShardLease>> {
        let owner = address.to_string();
        let span = tracing::trace_span!("runner_storage.held_by", %owner);
        typed(
            self.bounded("held_by", self.leases.held_by(&owner))
                .instrument(span)
                .await?,
        )
    }
}
