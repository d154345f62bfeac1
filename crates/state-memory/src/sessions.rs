//! [`SessionStore`] in memory: sessions in a map beside the lease slots, under the same lock.

use crate::leases::grant;
use crate::state::{SessionRow, State};
use async_trait::async_trait;
use berth_core::{
    expiry_after, session_expired, session_not_found, validate_lease_name, validate_lease_request,
    Claimant, IdGenerator, Lease, Result, Session, SessionId, SessionStore, SharedClock, Timestamp,
};
use parking_lot::Mutex;
use std::sync::Arc;
use std::time::Duration;

/// The memory backend's [`SessionStore`].
pub struct MemorySessions {
    state: Arc<Mutex<State>>,
    clock: SharedClock,
    ids: Arc<dyn IdGenerator>,
}

impl MemorySessions {
    pub(crate) fn new(
        state: Arc<Mutex<State>>,
        clock: SharedClock,
        ids: Arc<dyn IdGenerator>,
    ) -> Self {
        MemorySessions { state, clock, ids }
    }
}

fn session(id: SessionId, row: &SessionRow) -> Session {
    Session {
        id,
        owner: row.owner.clone(),
        ttl: row.ttl,
        expires_at: row.expires_at,
    }
}

/// The session `id` if it is live at `now`; a typed error otherwise.
fn live_row(state: &State, id: SessionId, now: Timestamp) -> Result<&SessionRow> {
    match state.sessions.get(&id) {
        None => Err(session_not_found(id)),
        Some(row) if row.expires_at <= now => Err(session_expired(id)),
        Some(row) => Ok(row),
    }
}

#[async_trait]
impl SessionStore for MemorySessions {
    async fn open(&self, owner: &str, ttl: Duration) -> Result<Session> {
        validate_lease_name("session owner", owner)?;
        let expires_at = expiry_after(self.clock.now(), ttl)?;
        let id = SessionId(self.ids.next_id());
        let row = SessionRow {
            owner: owner.to_owned(),
            ttl,
            expires_at,
        };
        let out = session(id, &row);
        self.state.lock().sessions.insert(id, row);
        Ok(out)
    }

    async fn keepalive(&self, id: SessionId) -> Result<Session> {
        let now = self.clock.now();
        let mut state = self.state.lock();
        let ttl = live_row(&state, id, now)?.ttl;
        let expires_at = expiry_after(now, ttl)?;
        let row = state
            .sessions
            .get_mut(&id)
            .ok_or_else(|| session_not_found(id))?;
        row.expires_at = expires_at;
        Ok(session(id, row))
    }

    async fn close(&self, id: SessionId) -> Result<()> {
        let mut state = self.state.lock();
        state
            .sessions
            .remove(&id)
            .ok_or_else(|| session_not_found(id))?;
        for slot in state.leases.values_mut() {
            if slot.session == Some(id) {
                slot.release();
            }
        }
        Ok(())
    }

    async fn acquire(&self, id: SessionId, shards: &[String]) -> Result<Vec<Lease>> {
        let now = self.clock.now();
        let mut state = self.state.lock();
        let row = live_row(&state, id, now)?.clone();
        validate_lease_request(&row.owner, shards)?;
        let claimant = Claimant::Session {
            id,
            owner: &row.owner,
            expires_at: row.expires_at,
        };
        grant(&mut state, &claimant, shards, now)
    }

    async fn release(&self, id: SessionId, shards: &[String]) -> Result<()> {
        let mut state = self.state.lock();
        let owner = state
            .sessions
            .get(&id)
            .ok_or_else(|| session_not_found(id))?
            .owner
            .clone();
        validate_lease_request(&owner, shards)?;
        for shard in shards {
            if let Some(slot) = state.leases.get_mut(shard) {
                if slot.session == Some(id) {
                    slot.release();
                }
            }
        }
        Ok(())
    }

    async fn held(&self, id: SessionId) -> Result<Vec<Lease>> {
        let now = self.clock.now();
        let state = self.state.lock();
        let row = state
            .sessions
            .get(&id)
            .ok_or_else(|| session_not_found(id))?;
        Ok(state
            .leases
            .iter()
            .filter(|(_, slot)| slot.session == Some(id))
            .filter_map(|(shard, slot)| slot.lease(shard, now, Some(row.expires_at)))
            .collect())
    }

    async fn live(&self) -> Result<Vec<Session>> {
        let now = self.clock.now();
        let state = self.state.lock();
        let mut out: Vec<Session> = state
            .sessions
            .iter()
            .filter(|(_, row)| row.expires_at > now)
            .map(|(id, row)| session(*id, row))
            .collect();
        out.sort_by(|a, b| (&a.owner, a.id).cmp(&(&b.owner, b.id)));
        Ok(out)
    }
}
