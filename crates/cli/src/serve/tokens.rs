//! API tokens of `berth serve`: created with a role, stored hashed in the store, revocable.
//!
//! A token reads `berth_<id>_<secret>`; only its id and the SHA-256 of the whole token are
//! stored, so a copy of the store does not give anyone access. The token itself is shown once,
//! when it is created.

use berth::{Collection, Store, Timestamp};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;

/// The collection holding token records (key: token id).
pub const TOKENS: &str = "berth-serve-tokens";

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads runs, logs and artifacts.
    Viewer,
    /// Also approves and rejects gates, resumes and cancels runs.
    Approver,
    /// Everything an approver may do (reserved for administrative endpoints).
    Admin,
}

impl Role {
    /// The role's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Approver => "approver",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "viewer" => Ok(Role::Viewer),
            "approver" => Ok(Role::Approver),
            "admin" => Ok(Role::Admin),
            other => Err(format!(
                "unknown role {other:?} (roles: viewer, approver, admin)"
            )),
        }
    }
}

/// A stored token (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenRecord {
    /// Public id, part of the token.
    pub id: String,
    /// Who holds it; recorded as the actor of their decisions.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// Hex SHA-256 of the whole token.
    pub hash: String,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it stops working, if ever.
    #[serde(default)]
    pub expires_at: Option<Timestamp>,
    /// When it was revoked, if it was.
    #[serde(default)]
    pub revoked_at: Option<Timestamp>,
}

/// What a token looks like in listings: no hash.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenInfo {
    /// Public id.
    pub id: String,
    /// Holder.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Created.
    pub created_at: Timestamp,
    /// Expires.
    pub expires_at: Option<Timestamp>,
    /// Revoked.
    pub revoked_at: Option<Timestamp>,
}

impl From<&TokenRecord> for TokenInfo {
    fn from(r: &TokenRecord) -> Self {
        TokenInfo {
            id: r.id.clone(),
            name: r.name.clone(),
            role: r.role,
            created_at: r.created_at,
            expires_at: r.expires_at,
            revoked_at: r.revoked_at,
        }
    }
}

/// The secret token, printed once; its `Debug` hides it.
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Who presented a valid token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Token id.
    pub token_id: String,
    /// Holder's name.
    pub name: String,
    /// Role.
    pub role: Role,
}

/// Why a token was not accepted (the text never contains the token).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// Not a berth token, or unknown, or the secret does not match.
    #[error("the token is not valid")]
    Invalid,
    /// Revoked.
    #[error("the token was revoked")]
    Revoked,
    /// Past its expiry.
    #[error("the token has expired")]
    Expired,
}

/// Checks a token holder's name: 1–64 of `A–Z a–z 0–9 . _ @ -`.
pub fn validate_name(name: &str) -> Result<(), berth::Error> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._@-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(berth::Error::invalid(
            "token name",
            "must be 1–64 characters of A-Z a-z 0-9 . _ @ -",
        ))
    }
}

fn digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Token records in a store.
#[derive(Clone)]
pub struct Tokens {
    store: Store,
    records: Collection<TokenRecord>,
}

impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Tokens")
    }
}

impl Tokens {
    /// The tokens of `store`.
    pub fn new(store: &Store) -> Result<Self, berth::Error> {
        Ok(Tokens {
            store: store.clone(),
            records: store.collection(TOKENS)?,
        })
    }

    /// Creates a token; returns its record and the secret token (shown once).
    pub async fn create(
        &self,
        name: &str,
        role: Role,
        expires_in: Option<std::time::Duration>,
    ) -> Result<(TokenRecord, Secret), berth::Error> {
        validate_name(name)?;
        let id = self.store.ids().next_id().simple().to_string();
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret)
            .map_err(|e| berth::Error::backend_msg(format!("no randomness: {e}"), false))?;
        let token = format!("berth_{id}_{}", hex::encode(secret));
        let now = self.store.clock().now();
        let expires_at = expires_in.map(|d| {
            Timestamp::from_millis(
                now.millis()
                    .saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
            )
        });
        let record = TokenRecord {
            id: id.clone(),
            name: name.to_owned(),
            role,
            hash: digest(&token),
            created_at: now,
            expires_at,
            revoked_at: None,
        };
        let mut batch = berth::Batch::new();
        self.records
            .put_in(&mut batch, &id, &record)?
            .when(berth::Precondition::Absent);
        self.store.commit(batch).await?;
        Ok((record, Secret(token)))
    }

    /// Every token, oldest first.
    pub async fn list(&self) -> Result<Vec<TokenRecord>, berth::Error> {
        let mut all: Vec<TokenRecord> = self
            .records
            .all()
            .await?
            .into_iter()
            .map(|i| i.value)
            .collect();
        all.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(all)
    }

    /// Revokes token `id`; revoking a revoked token changes nothing. `None` if unknown.
    pub async fn revoke(&self, id: &str) -> Result<Option<TokenRecord>, berth::Error> {
        let Some(item) = self.records.get(id).await? else {
            return Ok(None);
        };
        let mut record = item.value;
        if record.revoked_at.is_none() {
            record.revoked_at = Some(self.store.clock().now());
            let mut batch = berth::Batch::new();
            self.records
                .put_in(&mut batch, id, &record)?
                .when(berth::Precondition::Version(item.meta.version));
            self.store.commit(batch).await?;
        }
        Ok(Some(record))
    }

    /// Who holds `token`, if it is valid now.
    pub async fn verify(&self, token: &str) -> Result<Result<Caller, Refused>, berth::Error> {
        let Some(id) = token
            .strip_prefix("berth_")
            .and_then(|rest| rest.split_once('_'))
            .map(|(id, _)| id)
            .filter(|id| id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()))
        else {
            return Ok(Err(Refused::Invalid));
        };
        let Some(item) = self.records.get(id).await? else {
            return Ok(Err(Refused::Invalid));
        };
        let record = item.value;
        // Both sides are digests of secrets, so comparing them leaks nothing about the secret.
        if record.hash != digest(token) {
            return Ok(Err(Refused::Invalid));
        }
        if record.revoked_at.is_some() {
            return Ok(Err(Refused::Revoked));
        }
        if matches!(record.expires_at, Some(t) if t <= self.store.clock().now()) {
            return Ok(Err(Refused::Expired));
        }
        Ok(Ok(Caller {
            token_id: record.id,
            name: record.name,
            role: record.role,
        }))
    }
}
