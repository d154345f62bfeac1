//! Byte layouts of everything berth keeps in sled.
//!
//! Every value starts with a one-byte format tag so a later layout can be told apart; integers
//! are big-endian. Anything that does not decode is [`Error::Corrupt`], never a panic.

use berth_core::{Error, LeaseSlot, MachineId, Record, Result, RunnerEntry, SessionId, Timestamp};
use uuid::Uuid;

/// Format tag of record values.
const RECORD_V1: u8 = 1;
/// Format tag of lease values written before sessions.
const LEASE_V1: u8 = 1;
/// Format tag of lease values.
const LEASE_V2: u8 = 2;
/// Format tag of session values.
const SESSION_V1: u8 = 1;
/// Session header: tag, ttl, expires_at, then the owner's bytes.
const SESSION_HEADER: usize = 1 + 8 + 8;
/// Format tag of runner values.
const RUNNER_V1: u8 = 1;
/// Record header: tag, version, created_at, updated_at.
const RECORD_HEADER: usize = 1 + 8 + 8 + 8;
/// Lease layout: tag, token, expires_at, owner flag, then the owner's bytes.
const LEASE_HEADER: usize = 1 + 8 + 8 + 1;
/// Runner header: tag, machine id, health, then the runner's description.
const RUNNER_HEADER: usize = 1 + 8 + 1;

/// The records-tree key of `collection`/`key`: collection bytes, NUL, key bytes.
///
/// Collection names never contain NUL, so the NUL ends the collection unambiguously and all
/// keys of a collection are one contiguous, byte-ordered range.
pub(crate) fn record_key(collection: &str, key: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(collection.len() + 1 + key.len());
    out.extend_from_slice(collection.as_bytes());
    out.push(0);
    out.extend_from_slice(key.as_bytes());
    out
}

/// The user key part of a records-tree key whose collection prefix is `prefix_len` bytes long.
pub(crate) fn user_key(tree_key: &[u8], prefix_len: usize) -> Result<String> {
    let raw = tree_key
        .get(prefix_len..)
        .ok_or_else(|| Error::Corrupt("record key shorter than its collection".into()))?;
    String::from_utf8(raw.to_vec()).map_err(|_| Error::Corrupt("record key is not UTF-8".into()))
}

/// A record's stored form without its key.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StoredRecord {
    pub version: u64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub json: Vec<u8>,
}

impl StoredRecord {
    /// The record with its JSON parsed.
    pub fn into_record(self, key: String) -> Result<Record> {
        let value =
            berth_core::limits::decode_stored(&self.json, &format!("record {key}: stored JSON"))?;
        Ok(Record {
            key,
            value,
            version: self.version,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

/// Encodes a record value: the 25-byte header, then compact JSON.
pub(crate) fn encode_record(
    version: u64,
    created: Timestamp,
    updated: Timestamp,
    json: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(RECORD_HEADER + json.len());
    out.push(RECORD_V1);
    out.extend_from_slice(&version.to_be_bytes());
    out.extend_from_slice(&created.millis().to_be_bytes());
    out.extend_from_slice(&updated.millis().to_be_bytes());
    out.extend_from_slice(json);
    out
}

/// Decodes only the header of a record value (what preconditions need).
pub(crate) fn decode_record_header(bytes: &[u8]) -> Result<(u64, Timestamp, Timestamp)> {
    if bytes.len() < RECORD_HEADER || bytes[0] != RECORD_V1 {
        return Err(Error::Corrupt("record value has an unknown layout".into()));
    }
    Ok((
        u64::from_be_bytes(array(&bytes[1..9])?),
        Timestamp::from_millis(i64::from_be_bytes(array(&bytes[9..17])?)),
        Timestamp::from_millis(i64::from_be_bytes(array(&bytes[17..25])?)),
    ))
}

/// Decodes a whole record value.
pub(crate) fn decode_record(bytes: &[u8]) -> Result<StoredRecord> {
    let (version, created_at, updated_at) = decode_record_header(bytes)?;
    Ok(StoredRecord {
        version,
        created_at,
        updated_at,
        json: bytes[RECORD_HEADER..].to_vec(),
    })
}

/// Encodes a lease slot: tag 2, token, expires_at, owner flag, session flag, the session's
/// 16 bytes if any, then the owner's bytes.
pub(crate) fn encode_lease(slot: &LeaseSlot) -> Vec<u8> {
    let owner = slot.owner.as_deref().unwrap_or("");
    let mut out = Vec::with_capacity(LEASE_HEADER + 1 + 16 + owner.len());
    out.push(LEASE_V2);
    out.extend_from_slice(&slot.token.to_be_bytes());
    out.extend_from_slice(&slot.expires_at.millis().to_be_bytes());
    out.push(u8::from(slot.owner.is_some()));
    out.push(u8::from(slot.session.is_some()));
    if let Some(session) = slot.session {
        out.extend_from_slice(session.0.as_bytes());
    }
    out.extend_from_slice(owner.as_bytes());
    out
}

/// Decodes a lease slot (tag 1, written before sessions, has no session).
pub(crate) fn decode_lease(bytes: &[u8]) -> Result<LeaseSlot> {
    let bad = || Error::Corrupt("lease value has an unknown layout".into());
    if bytes.len() < LEASE_HEADER || !matches!(bytes[0], LEASE_V1 | LEASE_V2) {
        return Err(bad());
    }
    let (session, rest) = if bytes[0] == LEASE_V1 {
        (None, &bytes[LEASE_HEADER..])
    } else {
        match bytes.get(LEASE_HEADER) {
            Some(0) => (None, &bytes[LEASE_HEADER + 1..]),
            Some(1) => {
                let id = bytes
                    .get(LEASE_HEADER + 1..LEASE_HEADER + 17)
                    .ok_or_else(bad)?;
                (
                    Some(SessionId(Uuid::from_bytes(array(id)?))),
                    &bytes[LEASE_HEADER + 17..],
                )
            }
            _ => return Err(bad()),
        }
    };
    let owner = match bytes[17] {
        0 => None,
        1 => Some(text(rest, "lease owner")?),
        _ => return Err(Error::Corrupt("lease owner flag is invalid".into())),
    };
    Ok(LeaseSlot {
        owner,
        session,
        token: u64::from_be_bytes(array(&bytes[1..9])?),
        expires_at: Timestamp::from_millis(i64::from_be_bytes(array(&bytes[9..17])?)),
    })
}

/// A session as sled keeps it (the id is the tree key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SessionRow {
    pub owner: String,
    pub ttl_ms: i64,
    pub expires_at: Timestamp,
}

/// Encodes a session: tag, ttl in ms, expires_at, then the owner's bytes.
pub(crate) fn encode_session(row: &SessionRow) -> Vec<u8> {
    let mut out = Vec::with_capacity(SESSION_HEADER + row.owner.len());
    out.push(SESSION_V1);
    out.extend_from_slice(&row.ttl_ms.to_be_bytes());
    out.extend_from_slice(&row.expires_at.millis().to_be_bytes());
    out.extend_from_slice(row.owner.as_bytes());
    out
}

/// Decodes a session.
pub(crate) fn decode_session(bytes: &[u8]) -> Result<SessionRow> {
    if bytes.len() < SESSION_HEADER || bytes[0] != SESSION_V1 {
        return Err(Error::Corrupt("session value has an unknown layout".into()));
    }
    Ok(SessionRow {
        ttl_ms: i64::from_be_bytes(array(&bytes[1..9])?),
        expires_at: Timestamp::from_millis(i64::from_be_bytes(array(&bytes[9..17])?)),
        owner: text(&bytes[SESSION_HEADER..], "session owner")?,
    })
}

/// Encodes a runner entry (the address is the tree key).
pub(crate) fn encode_runner(machine_id: MachineId, healthy: bool, runner: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(RUNNER_HEADER + runner.len());
    out.push(RUNNER_V1);
    out.extend_from_slice(&machine_id.0.to_be_bytes());
    out.push(u8::from(healthy));
    out.extend_from_slice(runner.as_bytes());
    out
}

/// Decodes a runner entry stored under `address`.
pub(crate) fn decode_runner(address: &[u8], bytes: &[u8]) -> Result<RunnerEntry> {
    if bytes.len() < RUNNER_HEADER || bytes[0] != RUNNER_V1 {
        return Err(Error::Corrupt("runner value has an unknown layout".into()));
    }
    let healthy = match bytes[9] {
        0 => false,
        1 => true,
        _ => return Err(Error::Corrupt("runner health flag is invalid".into())),
    };
    Ok(RunnerEntry {
        address: text(address, "runner address")?,
        runner: text(&bytes[RUNNER_HEADER..], "runner description")?,
        healthy,
        machine_id: MachineId(i64::from_be_bytes(array(&bytes[1..9])?)),
    })
}

/// Encodes a counter kept in the meta tree.
pub(crate) fn encode_counter(n: i64) -> [u8; 8] {
    n.to_be_bytes()
}

/// Decodes a counter kept in the meta tree.
pub(crate) fn decode_counter(bytes: &[u8]) -> Result<i64> {
    Ok(i64::from_be_bytes(array(bytes)?))
}

/// A lease-tree key (a shard id) as text.
pub(crate) fn shard_name(bytes: &[u8]) -> Result<String> {
    text(bytes, "shard id")
}

fn text(bytes: &[u8], what: &str) -> Result<String> {
    String::from_utf8(bytes.to_vec()).map_err(|_| Error::Corrupt(format!("{what} is not UTF-8")))
}

fn array<const N: usize>(bytes: &[u8]) -> Result<[u8; N]> {
    bytes
        .try_into()
        .map_err(|_| Error::Corrupt("stored value has the wrong width".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_round_trip_and_rejects_garbage() {
        let bytes = encode_record(7, Timestamp(1), Timestamp(-2), br#"{"a":1}"#);
        let stored = decode_record(&bytes).unwrap();
        assert_eq!(stored.version, 7);
        assert_eq!(stored.created_at, Timestamp(1));
        assert_eq!(stored.updated_at, Timestamp(-2));
        let record = stored.into_record("k".into()).unwrap();
        assert_eq!(record.value, serde_json::json!({"a": 1}));
        assert!(decode_record(&bytes[..10]).is_err());
        let mut wrong_tag = bytes.clone();
        wrong_tag[0] = 9;
        assert!(decode_record(&wrong_tag).is_err());
        let mut bad_json = encode_record(1, Timestamp(0), Timestamp(0), b"{");
        assert_eq!(
            decode_record(&bad_json)
                .unwrap()
                .into_record("k".into())
                .unwrap_err()
                .kind(),
            berth_core::ErrorKind::Corrupt
        );
        bad_json.truncate(3);
        assert!(decode_record(&bad_json).is_err());
    }

    #[test]
    fn lease_round_trip() {
        for slot in [
            LeaseSlot::default(),
            LeaseSlot {
                owner: Some("h:1".into()),
                session: None,
                token: 9,
                expires_at: Timestamp(5),
            },
            LeaseSlot {
                owner: Some("h:2".into()),
                session: Some(SessionId(Uuid::from_u128(77))),
                token: 10,
                expires_at: Timestamp(6),
            },
        ] {
            assert_eq!(decode_lease(&encode_lease(&slot)).unwrap(), slot);
        }
        assert!(decode_lease(&[1, 2, 3]).is_err());
        // A slot written before sessions still reads.
        let mut v1 = vec![1];
        v1.extend_from_slice(&9u64.to_be_bytes());
        v1.extend_from_slice(&5i64.to_be_bytes());
        v1.push(1);
        v1.extend_from_slice(b"h:1");
        assert_eq!(decode_lease(&v1).unwrap().owner.as_deref(), Some("h:1"));
        let row = SessionRow {
            owner: "h:1".into(),
            ttl_ms: 35_000,
            expires_at: Timestamp(9),
        };
        assert_eq!(decode_session(&encode_session(&row)).unwrap(), row);
        assert!(decode_session(&[1, 2]).is_err());
    }

    #[test]
    fn runner_round_trip() {
        let bytes = encode_runner(MachineId(3), true, "{\"w\":1}");
        let entry = decode_runner(b"h:1", &bytes).unwrap();
        assert_eq!(entry.machine_id, MachineId(3));
        assert!(entry.healthy);
        assert_eq!(entry.runner, "{\"w\":1}");
        assert!(decode_runner(b"h:1", &bytes[..5]).is_err());
    }

    #[test]
    fn record_keys_order_by_collection_then_key() {
        assert!(record_key("a", "z") < record_key("a!", "a"));
        assert!(record_key("a", "b") < record_key("a", "ba"));
        assert_eq!(user_key(&record_key("col", "key"), 4).unwrap(), "key");
    }
}
