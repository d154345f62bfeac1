//! The one state machine of a shard's lease slot, shared by every backend that keeps slots in
//! Rust (memory, sled); the SQL and MongoDB backends state the same rules in their query
//! languages, and the conformance suite holds all four to them.
//!
//! A slot is free, held by an owner with its own expiry (a lease taken with
//! [`LeaseStore::acquire`](crate::LeaseStore::acquire)), or held by a session (it lives exactly
//! as long as the session). A slot is never deleted: release only clears its holder, so the
//! next grant's token continues from the last one.

use crate::error::{Error, Result};
use crate::lease::Lease;
use crate::session::SessionId;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// The stored state of one shard's lease.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseSlot {
    /// The holder's owner name, `None` when free.
    pub owner: Option<String>,
    /// The session holding it, if it was taken in one.
    pub session: Option<SessionId>,
    /// Token of the latest grant (0 before the first).
    pub token: u64,
    /// Expiry of an owner-held lease; for a session-held one, the session's expiry at grant.
    pub expires_at: Timestamp,
}

/// Who asks for a slot.
#[derive(Debug, Clone, Copy)]
pub enum Claimant<'a> {
    /// An owner taking a lease of its own that lapses at `expires_at`.
    Owner {
        /// The owner.
        owner: &'a str,
        /// The expiry of the grant.
        expires_at: Timestamp,
    },
    /// A live session.
    Session {
        /// The session.
        id: SessionId,
        /// Its owner.
        owner: &'a str,
        /// Its current expiry.
        expires_at: Timestamp,
    },
}

impl Claimant<'_> {
    fn owner(&self) -> &str {
        match self {
            Claimant::Owner { owner, .. } | Claimant::Session { owner, .. } => owner,
        }
    }

    fn session(&self) -> Option<SessionId> {
        match self {
            Claimant::Owner { .. } => None,
            Claimant::Session { id, .. } => Some(*id),
        }
    }

    fn expires_at(&self) -> Timestamp {
        match self {
            Claimant::Owner { expires_at, .. } | Claimant::Session { expires_at, .. } => {
                *expires_at
            }
        }
    }
}

impl LeaseSlot {
    /// When the current holder's claim ends: the slot's own expiry, or its session's
    /// (`session_expiry`: the expiry of the slot's session if that session still exists).
    pub fn ends_at(&self, session_expiry: Option<Timestamp>) -> Option<Timestamp> {
        self.owner.as_ref()?;
        match self.session {
            None => Some(self.expires_at),
            Some(_) => session_expiry,
        }
    }

    /// Whether the slot is held at `now`.
    pub fn is_live(&self, now: Timestamp, session_expiry: Option<Timestamp>) -> bool {
        self.ends_at(session_expiry).is_some_and(|end| end > now)
    }

    /// Whether `claimant` is the slot's holder (live or not).
    pub fn is_held_by(&self, claimant: &Claimant<'_>) -> bool {
        self.owner.as_deref() == Some(claimant.owner()) && self.session == claimant.session()
    }

    /// Applies an acquire by `claimant` at `now`: a live own slot is extended with its token;
    /// a free or lapsed one is granted with the next token; a slot live for someone else is
    /// left alone. Returns whether the claimant now holds it.
    pub fn acquire(
        &mut self,
        claimant: &Claimant<'_>,
        now: Timestamp,
        session_expiry: Option<Timestamp>,
    ) -> Result<bool> {
        let live = self.is_live(now, session_expiry);
        if live && !self.is_held_by(claimant) {
            return Ok(false);
        }
        if !live {
            self.token = self
                .token
                .checked_add(1)
                .ok_or_else(|| Error::backend_msg("fencing tokens exhausted", false))?;
            self.owner = Some(claimant.owner().to_owned());
            self.session = claimant.session();
        }
        self.expires_at = claimant.expires_at();
        Ok(true)
    }

    /// Whether a write fenced with `token` may apply at `now`.
    pub fn fence_holds(
        &self,
        token: u64,
        now: Timestamp,
        session_expiry: Option<Timestamp>,
    ) -> bool {
        self.token == token && self.is_live(now, session_expiry)
    }

    /// Clears the holder (the token stays).
    pub fn release(&mut self) {
        self.owner = None;
        self.session = None;
    }

    /// The lease this slot describes for `shard`, if it is live at `now`.
    pub fn lease(
        &self,
        shard: &str,
        now: Timestamp,
        session_expiry: Option<Timestamp>,
    ) -> Option<Lease> {
        let end = self.ends_at(session_expiry).filter(|end| *end > now)?;
        Some(Lease {
            shard: shard.to_owned(),
            owner: self.owner.clone()?,
            token: self.token,
            expires_at: end,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    const NOW: Timestamp = Timestamp::from_millis(1_000);

    #[test]
    fn a_session_slot_lives_and_dies_with_its_session() {
        let id = SessionId(Uuid::from_u128(7));
        let me = Claimant::Session {
            id,
            owner: "a",
            expires_at: Timestamp::from_millis(2_000),
        };
        let mut slot = LeaseSlot::default();
        assert!(slot.acquire(&me, NOW, None).unwrap());
        assert_eq!((slot.token, slot.session), (1, Some(id)));
        let other = Claimant::Owner {
            owner: "b",
            expires_at: Timestamp::from_millis(3_000),
        };
        let alive = Some(Timestamp::from_millis(2_000));
        assert!(
            !slot.acquire(&other, NOW, alive).unwrap(),
            "held while the session lives"
        );
        // The same owner without the session is someone else.
        let same_owner = Claimant::Owner {
            owner: "a",
            expires_at: Timestamp::from_millis(3_000),
        };
        assert!(!slot.acquire(&same_owner, NOW, alive).unwrap());
        assert!(slot.fence_holds(1, NOW, alive));
        assert!(
            !slot.fence_holds(1, NOW, None),
            "a closed session fences nothing"
        );
        assert!(!slot.fence_holds(1, Timestamp::from_millis(2_000), alive));
        assert!(slot
            .acquire(&other, Timestamp::from_millis(2_000), alive)
            .unwrap());
        assert_eq!((slot.token, slot.session), (2, None));
    }
}
