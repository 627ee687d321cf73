//! The audit log's rows and its hash chain.
//!
//! Every record carries the SHA-256 of the one before it (`prev_hash`) and its own (`hash`), computed
//! over an unambiguous encoding of its fields ([`AuditRecord::compute_hash`]), so changing,
//! removing or reordering any record breaks the chain at that record. Backends append through
//! [`AuditRecord::chain`] while holding the chain's head (SQLite's write lock, a PostgreSQL
//! transaction-scoped advisory lock), so two writers never fork it; [`check_link`] is the
//! verifier's one rule, applied to each record in turn. `docs/audit.md` describes the encoding for
//! anyone who wants to check an export independently.

use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::ShortHash;

/// The `prev_hash` of the first record.
pub const GENESIS_HASH: [u8; 32] = [0; 32];

/// What opens the hashed encoding of every record; the version names the encoding.
const HASH_DOMAIN: &[u8] = b"portcullis-audit-v1\n";

/// One thing that happened, as the caller describes it; the store gives it a place in the chain.
///
/// Never holds a secret: no token, code, password, client secret or one-time code, nor a hash of
/// one. Identifiers (user ids, client ids, grant ids, key ids, token `jti`s) are fine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// When it happened; stored to the microsecond, in UTC.
    pub time: OffsetDateTime,
    /// Who did it: a user's subject, `cli:<unix user>` for the operator's CLI, a client id for a
    /// client acting as itself, or none when nobody was identified.
    pub actor: Option<String>,
    pub tenant: Option<String>,
    /// The OAuth client the request came through, if any.
    pub client: Option<String>,
    /// What was done, as `area.verb` (`user.create`, `token.refresh`, `mcp.deny`).
    pub action: String,
    /// What it was done to (a username, a grant id, `files/tools/call:read_file`).
    pub target: Option<String>,
    /// `success`, `failure`, `allow` or `deny`.
    pub decision: String,
    /// Why, when the decision needs explaining (a refusal's reason).
    pub reason: Option<String>,
    /// The id of the HTTP request that caused it.
    pub request_id: Option<String>,
    /// The client address of that request.
    pub source: Option<String>,
}

/// An event in its place in the chain.
#[derive(Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// 1 for the first record, then one more each time, without gaps.
    pub seq: i64,
    pub event: AuditEvent,
    /// The `hash` of the record before ([`GENESIS_HASH`] for the first).
    pub prev_hash: [u8; 32],
    /// [`AuditRecord::compute_hash`] as it was when the record was written.
    pub hash: [u8; 32],
}

impl std::fmt::Debug for AuditRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditRecord")
            .field("seq", &self.seq)
            .field("event", &self.event)
            .field("prev_hash", &ShortHash(&self.prev_hash))
            .field("hash", &ShortHash(&self.hash))
            .finish()
    }
}

/// Which records [`Store::audit_list`](crate::Store::audit_list) returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditQuery {
    /// Only records with a greater `seq` (0: from the first).
    pub after_seq: i64,
    /// Only records whose `time` is at or after this.
    pub since: Option<OffsetDateTime>,
    /// At most this many.
    pub limit: u32,
    /// The newest records (highest `seq`) rather than the oldest; either way they come back in
    /// ascending `seq`.
    pub newest: bool,
}

impl Default for AuditQuery {
    fn default() -> Self {
        Self {
            after_seq: 0,
            since: None,
            limit: 1000,
            newest: false,
        }
    }
}

/// Where a chain stops being a chain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainBreak {
    /// The record's `seq` is not the one after its predecessor's (a record removed or inserted).
    #[error("record {seq} follows record {previous}: records are missing or out of order")]
    Gap { seq: i64, previous: i64 },
    /// The record's `prev_hash` is not its predecessor's `hash`.
    #[error("record {seq}: prev_hash does not match the hash of the record before it")]
    PrevHash { seq: i64 },
    /// The record's fields no longer hash to its `hash` (a field was changed).
    #[error("record {seq}: its fields do not match its hash (the record was altered)")]
    Hash { seq: i64 },
}

impl ChainBreak {
    /// The record where the chain breaks.
    pub fn seq(&self) -> i64 {
        match self {
            Self::Gap { seq, .. } | Self::PrevHash { seq } | Self::Hash { seq } => *seq,
        }
    }
}

/// `at` in UTC, truncated to the microsecond: the instant every backend stores, and so the one
/// that is hashed.
pub fn audit_time(at: OffsetDateTime) -> OffsetDateTime {
    let at = at.to_offset(time::UtcOffset::UTC);
    let sub_micros = at.nanosecond() % 1_000;
    at.checked_sub(time::Duration::nanoseconds(i64::from(sub_micros)))
        .unwrap_or(at)
}

impl AuditRecord {
    /// The record that appends `event` to a chain whose last record has `last` (`seq`, `hash`), or
    /// starts a chain when `last` is `None`. The time is truncated as [`audit_time`] does.
    pub fn chain(last: Option<(i64, [u8; 32])>, event: &AuditEvent) -> Self {
        let (seq, prev_hash) = match last {
            Some((seq, hash)) => (seq + 1, hash),
            None => (1, GENESIS_HASH),
        };
        let mut record = Self {
            seq,
            event: AuditEvent {
                time: audit_time(event.time),
                ..event.clone()
            },
            prev_hash,
            hash: [0; 32],
        };
        record.hash = record.compute_hash();
        record
    }

    /// SHA-256 of `portcullis-audit-v1\n` followed by each field in a fixed order, each written as
    /// one byte `0` when absent, or one byte `1`, its length in bytes as a 4-byte big-endian
    /// integer and its UTF-8 bytes: `seq` (decimal), `time` (decimal microseconds since the Unix
    /// epoch), `actor`, `tenant`, `client`, `action`, `target`, `decision`, `reason`,
    /// `request_id`, `source`, and then the 32 bytes of `prev_hash`.
    pub fn compute_hash(&self) -> [u8; 32] {
        fn field(hasher: &mut Sha256, value: Option<&str>) {
            match value {
                None => hasher.update([0u8]),
                Some(value) => {
                    hasher.update([1u8]);
                    // A field longer than 4 GiB cannot be stored; saturating keeps this total.
                    let len = u32::try_from(value.len()).unwrap_or(u32::MAX);
                    hasher.update(len.to_be_bytes());
                    hasher.update(value.as_bytes());
                }
            }
        }
        let event = &self.event;
        let micros = event.time.unix_timestamp_nanos() / 1_000;
        let mut hasher = Sha256::new();
        hasher.update(HASH_DOMAIN);
        field(&mut hasher, Some(&self.seq.to_string()));
        field(&mut hasher, Some(&micros.to_string()));
        field(&mut hasher, event.actor.as_deref());
        field(&mut hasher, event.tenant.as_deref());
        field(&mut hasher, event.client.as_deref());
        field(&mut hasher, Some(&event.action));
        field(&mut hasher, event.target.as_deref());
        field(&mut hasher, Some(&event.decision));
        field(&mut hasher, event.reason.as_deref());
        field(&mut hasher, event.request_id.as_deref());
        field(&mut hasher, event.source.as_deref());
        hasher.update(self.prev_hash);
        hasher.finalize().into()
    }
}

/// Checks that `record` follows `previous` (`None`: `record` is the first of the log): the next
/// `seq`, the predecessor's hash as `prev_hash`, and fields that still hash to `hash`.
pub fn check_link(previous: Option<&AuditRecord>, record: &AuditRecord) -> Result<(), ChainBreak> {
    let (expected_seq, expected_prev) = match previous {
        Some(previous) => (previous.seq + 1, previous.hash),
        None => (1, GENESIS_HASH),
    };
    if record.seq != expected_seq {
        return Err(ChainBreak::Gap {
            seq: record.seq,
            previous: expected_seq - 1,
        });
    }
    if record.prev_hash != expected_prev {
        return Err(ChainBreak::PrevHash { seq: record.seq });
    }
    if record.compute_hash() != record.hash {
        return Err(ChainBreak::Hash { seq: record.seq });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(action: &str) -> AuditEvent {
        AuditEvent {
            time: OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_123_456_789).unwrap(),
            actor: Some("usr_1".into()),
            tenant: None,
            client: Some("client".into()),
            action: action.into(),
            target: Some("alice".into()),
            decision: "success".into(),
            reason: None,
            request_id: Some("req".into()),
            source: Some("127.0.0.1".into()),
        }
    }

    #[test]
    fn a_chain_links_and_every_field_counts() {
        let first = AuditRecord::chain(None, &event("user.create"));
        assert_eq!((first.seq, first.prev_hash), (1, GENESIS_HASH));
        assert_eq!(first.event.time.nanosecond() % 1_000, 0, "truncated to µs");
        let second = AuditRecord::chain(Some((first.seq, first.hash)), &event("user.disable"));
        assert_eq!(second.seq, 2);
        assert_eq!(check_link(None, &first), Ok(()));
        assert_eq!(check_link(Some(&first), &second), Ok(()));

        // Moving a value from one field to its neighbour changes the hash (no ambiguity).
        let mut moved = first.clone();
        moved.event.tenant = moved.event.actor.take();
        assert_ne!(moved.compute_hash(), first.hash);
        let mut empty = first.clone();
        empty.event.reason = Some(String::new());
        assert_ne!(
            empty.compute_hash(),
            first.hash,
            "absent differs from empty"
        );

        let mut altered = second.clone();
        altered.event.target = Some("bob".into());
        assert_eq!(
            check_link(Some(&first), &altered),
            Err(ChainBreak::Hash { seq: 2 })
        );
        assert_eq!(
            check_link(None, &second),
            Err(ChainBreak::Gap {
                seq: 2,
                previous: 0
            })
        );
        let mut relinked = second.clone();
        relinked.prev_hash = [1; 32];
        assert_eq!(
            check_link(Some(&first), &relinked),
            Err(ChainBreak::PrevHash { seq: 2 })
        );
    }

    /// The encoding is a published format (`docs/audit.md`): this pins it.
    #[test]
    fn the_hash_of_a_known_record() {
        let first = AuditRecord::chain(None, &event("user.create"));
        let hex: String = first.hash.iter().map(|b| format!("{b:02x}")).collect();
        // Computed independently with the Python verifier in docs/audit.md.
        assert_eq!(
            hex,
            "0a9ab06d01a9ee97bf0d12bc20afa4b68b509c7c1b1cbf5690a53100f2fe3a66"
        );
    }
}
