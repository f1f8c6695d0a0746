//! Tamper evidence for the audit trail (SPEC §4; the design is in `docs/audit.md`). Every
//! transaction that writes audit events also writes one link: an HMAC-SHA256, under the key of
//! `audit.hmac_key`, over the previous link's MAC and the canonical encoding of its events in id
//! order. This module is the pure part (keys, encoding, links, checkpoints, redactions); the
//! database side is `store/chain.rs`, the walk of `sessionctl audit verify` is
//! [`crate::audit_verify`].
//!
//! The fields that legitimate erasure changes (`ip` by IP anonymization; `session_id`, `ip`
//! and `user_agent` by `sessions purge`) enter the MAC only as keyed digests, so that a
//! pseudonymizer can record the digest of the original value ([`Redaction`]) and the link still
//! verifies; the digests are keyed, so they reveal nothing about the erased values without the
//! key.

use std::collections::BTreeMap;
use std::fmt;
use std::hash::Hasher;
use std::sync::Arc;

use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha2_11::Sha256;
use uuid::Uuid;

use crate::audit::NewEvent;
use crate::config::AuditSettings;

type HmacSha256 = Hmac<Sha256>;

/// A MAC or keyed digest.
pub type Digest = [u8; 32];

/// The MAC a chain starts from.
pub const GENESIS: Digest = [0; 32];

/// The chain's keys: the one new links are signed with, and earlier ones for verifying.
/// `Debug` shows the ids only.
#[derive(Clone)]
pub struct ChainKeys {
    current: String,
    keys: BTreeMap<String, HmacSha256>,
}

impl fmt::Debug for ChainKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChainKeys")
            .field("current", &self.current)
            .field("ids", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl ChainKeys {
    /// Keys from `audit.hmac_key`, `audit.hmac_key_id` and `audit.previous_hmac_keys`;
    /// `None` without `audit.hmac_key` (no chain).
    pub fn from_settings(audit: &AuditSettings) -> Option<Arc<ChainKeys>> {
        let key = audit.hmac_key.as_ref()?;
        let mut keys = ChainKeys::new(&audit.hmac_key_id, key.expose().as_bytes());
        for (id, old) in &audit.previous_hmac_keys {
            if id != &audit.hmac_key_id {
                keys.add(id, old.expose().as_bytes());
            }
        }
        Some(Arc::new(keys))
    }

    /// Sign with `key`, named `id`.
    pub fn new(id: &str, key: &[u8]) -> Self {
        let mut keys = Self {
            current: id.to_owned(),
            keys: BTreeMap::new(),
        };
        keys.add(id, key);
        keys
    }

    /// Also accept links signed with `key`, named `id`.
    pub fn add(&mut self, id: &str, key: &[u8]) {
        // HMAC takes keys of any length; this cannot fail.
        if let Ok(mac) = HmacSha256::new_from_slice(key) {
            self.keys.insert(id.to_owned(), mac);
        }
    }

    /// The id new links are signed with.
    pub fn current_id(&self) -> &str {
        &self.current
    }

    /// The key named `id`, if known.
    pub fn key(&self, id: &str) -> Option<Key<'_>> {
        self.keys.get_key_value(id).map(|(id, mac)| Key { id, mac })
    }

    /// The key new links are signed with.
    pub fn current(&self) -> Key<'_> {
        match self.keys.get(&self.current) {
            Some(mac) => Key { id: &self.current, mac },
            // `new` always inserts the current key.
            None => unreachable!("the current key is always present"),
        }
    }
}

/// One key, ready to MAC with.
#[derive(Clone, Copy)]
pub struct Key<'a> {
    /// Its id.
    pub id: &'a str,
    mac: &'a HmacSha256,
}

impl Key<'_> {
    fn start(&self, domain: &[u8]) -> HmacSha256 {
        let mut mac = self.mac.clone();
        mac.update(domain);
        mac
    }

    /// Keyed digest of an event's `ip` (all zeros when there is none).
    pub fn ip_digest(&self, id: i64, ip: Option<&str>) -> Digest {
        let Some(ip) = ip else { return GENESIS };
        let mut mac = self.start(b"sessiond.audit.ip.v1\0");
        mac.update(&id.to_be_bytes());
        mac.update(ip.as_bytes());
        finish(mac)
    }

    /// Keyed digest of an event's `session_id` and `user_agent` (zeros when both are absent).
    pub fn su_digest(&self, id: i64, session_id: Option<Uuid>, user_agent: Option<&str>) -> Digest {
        if session_id.is_none() && user_agent.is_none() {
            return GENESIS;
        }
        let mut mac = self.start(b"sessiond.audit.su.v1\0");
        mac.update(&id.to_be_bytes());
        match session_id {
            Some(s) => {
                mac.update(&[1]);
                mac.update(s.as_bytes());
            }
            None => mac.update(&[0]),
        }
        put_opt(&mut mac, user_agent.map(str::as_bytes));
        finish(mac)
    }

    /// A short value that tells whether a link was signed with this key (stored per link, so
    /// that verify can say "wrong key" rather than "edited").
    pub fn check(&self) -> [u8; 8] {
        let d = finish(self.start(b"sessiond.audit.key-check.v1\0"));
        let mut out = [0; 8];
        out.copy_from_slice(&d[..8]);
        out
    }

    /// MAC of a retention checkpoint.
    pub fn checkpoint_mac(&self, seq: i64, through_id: i64, resume_mac: &[u8]) -> Digest {
        let mut mac = self.start(b"sessiond.audit.checkpoint.v1\0");
        mac.update(&seq.to_be_bytes());
        mac.update(&through_id.to_be_bytes());
        put(&mut mac, resume_mac);
        put(&mut mac, self.id.as_bytes());
        finish(mac)
    }

    /// MAC of a redaction: `digest` of the original value of `field` of event `event_id`,
    /// bound to `now`, the digest of the value the row holds after the redaction.
    pub fn redaction_mac(&self, event_id: i64, field: RedactedField, digest: &[u8], now: &Digest) -> Digest {
        let mut mac = self.start(b"sessiond.audit.redaction.v1\0");
        mac.update(&event_id.to_be_bytes());
        put(&mut mac, field.as_str().as_bytes());
        put(&mut mac, digest);
        mac.update(now);
        put(&mut mac, self.id.as_bytes());
        finish(mac)
    }
}

fn finish(mac: HmacSha256) -> Digest {
    mac.finalize().into_bytes().into()
}

fn put(mac: &mut HmacSha256, bytes: &[u8]) {
    // Lengths of audit fields fit in u32; a longer one would be cut by the database anyway.
    mac.update(&u32::try_from(bytes.len()).unwrap_or(u32::MAX).to_be_bytes());
    mac.update(bytes);
}

fn put_opt(mac: &mut HmacSha256, bytes: Option<&[u8]>) {
    match bytes {
        Some(b) => {
            mac.update(&[1]);
            put(mac, b);
        }
        None => mac.update(&[0]),
    }
}

/// Which group of pseudonymizable fields a redaction covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedactedField {
    /// `ip` (IP anonymization, purge).
    Ip,
    /// `session_id` and `user_agent` (purge).
    SessionAndAgent,
}

impl RedactedField {
    /// Stored form.
    pub const fn as_str(self) -> &'static str {
        match self {
            RedactedField::Ip => "ip",
            RedactedField::SessionAndAgent => "su",
        }
    }
    /// Parse the stored form.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ip" => Some(RedactedField::Ip),
            "su" => Some(RedactedField::SessionAndAgent),
            _ => None,
        }
    }
}

/// An audit event as the chain sees it: the stored values, whether from a row being written or
/// one read back.
#[derive(Debug, Clone, Copy)]
pub struct EventView<'a> {
    /// Id.
    pub id: i64,
    /// Unix milliseconds.
    pub occurred_at: i64,
    /// Dotted type.
    pub event_type: &'a str,
    /// Severity.
    pub severity: &'a str,
    /// Session.
    pub session_id: Option<Uuid>,
    /// IP.
    pub ip: Option<&'a str>,
    /// User agent.
    pub user_agent: Option<&'a str>,
    /// Request id.
    pub request_id: Option<&'a str>,
    /// Actor.
    pub actor: &'a str,
    /// Metadata.
    pub metadata: &'a Value,
}

impl<'a> EventView<'a> {
    /// The view of `e` stored with `id` and `metadata` (the metadata actually bound).
    pub fn of_new(id: i64, e: &'a NewEvent, metadata: &'a Value) -> Self {
        Self {
            id,
            occurred_at: e.occurred_at.timestamp_millis(),
            event_type: e.event_type.as_str(),
            severity: e.severity.as_str(),
            session_id: e.session_id,
            ip: e.ip.as_deref(),
            user_agent: e.user_agent.as_deref(),
            request_id: e.request_id.as_deref(),
            actor: &e.actor,
            metadata,
        }
    }

    /// The view of a stored event.
    pub fn of_stored(e: &'a crate::audit::AuditEvent) -> Self {
        Self {
            id: e.id,
            occurred_at: e.occurred_at.timestamp_millis(),
            event_type: &e.event_type,
            severity: &e.severity,
            session_id: e.session_id,
            ip: e.ip.as_deref(),
            user_agent: e.user_agent.as_deref(),
            request_id: e.request_id.as_deref(),
            actor: &e.actor,
            metadata: &e.metadata,
        }
    }
}

/// Names of the per-event tag bytes, in order (see [`LinkBuilder::push`]).
pub const TAG_FIELDS: [&str; TAGS] = [
    "occurred_at",
    "event_type",
    "severity",
    "request_id",
    "actor",
    "metadata",
    "ip",
    "session_id/user_agent",
];
/// Tag bytes per event.
pub const TAGS: usize = 8;

/// Per-event tags: one byte per field, for naming what changed. Not a security measure: the
/// link's MAC is.
pub type Tags = [u8; TAGS];

fn fnv(bytes: &[u8]) -> u8 {
    let mut h = fnv::FnvHasher::default();
    h.write(bytes);
    h.finish().to_le_bytes()[0]
}

/// The tags of an event whose pseudonymizable digests are `ip` and `su`.
pub fn tags(e: &EventView<'_>, canonical_metadata: &[u8], ip: &Digest, su: &Digest) -> Tags {
    [
        fnv(&e.occurred_at.to_be_bytes()),
        fnv(e.event_type.as_bytes()),
        fnv(e.severity.as_bytes()),
        e.request_id.map_or(0, |r| fnv(r.as_bytes()).max(1)),
        fnv(e.actor.as_bytes()),
        fnv(canonical_metadata),
        ip[0],
        su[0],
    ]
}

/// `metadata` as canonical JSON: compact, object keys sorted (PostgreSQL's `jsonb` reorders
/// them), so a row read back encodes as it was written.
pub fn canonical_json(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Object(map) => {
            out.push(b'{');
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                // Writing a string to a Vec cannot fail.
                let _ = serde_json::to_writer(&mut *out, k);
                out.push(b':');
                if let Some(v) = map.get(k) {
                    canonical_json(v, out);
                }
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                canonical_json(item, out);
            }
            out.push(b']');
        }
        scalar => {
            let _ = serde_json::to_writer(&mut *out, scalar);
        }
    }
}

/// What a link says about its events, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkHeader {
    /// Position in the chain (1, 2, …).
    pub seq: i64,
    /// Smallest event id covered.
    pub first_id: i64,
    /// Largest event id covered.
    pub last_id: i64,
    /// Events covered.
    pub event_count: i64,
    /// Latest `occurred_at` among them (retention cuts whole links).
    pub max_occurred_at: i64,
    /// Key the MAC was made with.
    pub key_id: String,
    /// The previous link's MAC.
    pub prev_mac: Vec<u8>,
    /// Per event: id delta (LEB128) then [`TAGS`] bytes.
    pub tags: Vec<u8>,
}

/// A link as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// Everything but the MAC.
    pub header: LinkHeader,
    /// HMAC over the events and the header.
    pub mac: Vec<u8>,
}

/// Accumulates the events of one transaction, in id order, into a link.
pub struct LinkBuilder {
    mac: HmacSha256,
    first_id: Option<i64>,
    last_id: i64,
    count: i64,
    max_at: i64,
    tags: Vec<u8>,
    scratch: Vec<u8>,
}

impl LinkBuilder {
    /// A link to be signed with `key`.
    pub fn new(key: Key<'_>) -> Self {
        Self {
            mac: key.start(b"sessiond.audit.link.v1\0"),
            first_id: None,
            last_id: 0,
            count: 0,
            max_at: i64::MIN,
            tags: Vec::new(),
            scratch: Vec::new(),
        }
    }

    /// Nothing pushed yet.
    pub fn is_empty(&self) -> bool {
        self.first_id.is_none()
    }

    /// Id of the last event pushed.
    pub fn last_id(&self) -> Option<i64> {
        self.first_id.map(|_| self.last_id)
    }

    /// Add the next event (ids must increase), with the digests of its pseudonymizable fields
    /// computed by `key` ([`Key::ip_digest`], [`Key::su_digest`]) from the values written.
    pub fn push_new(&mut self, key: Key<'_>, e: &EventView<'_>) {
        let ip = key.ip_digest(e.id, e.ip);
        let su = key.su_digest(e.id, e.session_id, e.user_agent);
        self.push(e, &ip, &su);
    }

    /// Add the next event with the given digests. Returns its tags.
    pub fn push(&mut self, e: &EventView<'_>, ip: &Digest, su: &Digest) -> Tags {
        let delta = match self.first_id {
            None => {
                self.first_id = Some(e.id);
                0
            }
            Some(_) => e.id.saturating_sub(self.last_id),
        };
        self.last_id = e.id;
        self.count += 1;
        self.max_at = self.max_at.max(e.occurred_at);
        self.scratch.clear();
        canonical_json(e.metadata, &mut self.scratch);
        let m = &mut self.mac;
        m.update(&e.id.to_be_bytes());
        m.update(&e.occurred_at.to_be_bytes());
        put(m, e.event_type.as_bytes());
        put(m, e.severity.as_bytes());
        put_opt(m, e.request_id.map(str::as_bytes));
        put(m, e.actor.as_bytes());
        put(m, &self.scratch);
        m.update(ip);
        m.update(su);
        let tags = tags(e, &self.scratch, ip, su);
        write_varint(&mut self.tags, u64::try_from(delta).unwrap_or(0));
        self.tags.extend_from_slice(&tags);
        tags
    }

    /// The link after the one at `prev_seq` whose MAC is `prev_mac`; `None` when no event
    /// was pushed.
    pub fn finish(self, key: Key<'_>, prev_seq: i64, prev_mac: &[u8]) -> Option<Link> {
        let first_id = self.first_id?;
        let header = LinkHeader {
            seq: prev_seq + 1,
            first_id,
            last_id: self.last_id,
            event_count: self.count,
            max_occurred_at: self.max_at,
            key_id: key.id.to_owned(),
            prev_mac: prev_mac.to_vec(),
            tags: self.tags,
        };
        let mac = seal(self.mac, &header);
        Some(Link {
            header,
            mac: mac.to_vec(),
        })
    }

    /// The MAC these events give under `header` (for verifying a stored link).
    pub fn mac_for(self, header: &LinkHeader) -> Digest {
        seal(self.mac, header)
    }
}

fn seal(mut mac: HmacSha256, h: &LinkHeader) -> Digest {
    mac.update(b"|header");
    mac.update(&h.seq.to_be_bytes());
    mac.update(&h.first_id.to_be_bytes());
    mac.update(&h.last_id.to_be_bytes());
    mac.update(&h.event_count.to_be_bytes());
    mac.update(&h.max_occurred_at.to_be_bytes());
    put(&mut mac, h.key_id.as_bytes());
    put(&mut mac, &h.prev_mac);
    put(&mut mac, &h.tags);
    finish(mac)
}

/// Constant-time comparison of a computed MAC with a stored one.
pub fn mac_eq(computed: &Digest, stored: &[u8]) -> bool {
    if stored.len() != computed.len() {
        return false;
    }
    computed.iter().zip(stored).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

fn write_varint(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// The (id, tags) of each event a link covers, decoded from its `tags`; `None` when the
/// blob is malformed.
pub fn decode_tags(first_id: i64, blob: &[u8]) -> Option<Vec<(i64, Tags)>> {
    let mut out = Vec::new();
    let mut i = 0;
    let mut id = first_id;
    while i < blob.len() {
        let mut delta: u64 = 0;
        let mut shift = 0;
        loop {
            let b = *blob.get(i)?;
            i += 1;
            delta |= u64::from(b & 0x7f).checked_shl(shift)?;
            if b & 0x80 == 0 {
                break;
            }
            shift += 7;
            if shift > 63 {
                return None;
            }
        }
        id = id.checked_add(i64::try_from(delta).ok()?)?;
        let tags: Tags = blob.get(i..i + TAGS)?.try_into().ok()?;
        i += TAGS;
        out.push((id, tags));
    }
    Some(out)
}

/// A stored redaction.
#[derive(Debug, Clone)]
pub struct Redaction {
    /// The event.
    pub event_id: i64,
    /// Which fields.
    pub field: RedactedField,
    /// Keyed digest of the original value(s).
    pub digest: Vec<u8>,
    /// Key of `mac`.
    pub key_id: String,
    /// Binds `digest` to the value now stored.
    pub mac: Vec<u8>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view<'a>(id: i64, meta: &'a Value) -> EventView<'a> {
        EventView {
            id,
            occurred_at: 1_700_000_000_000 + id,
            event_type: "session.validated",
            severity: "info",
            session_id: Some(Uuid::from_u128(7)),
            ip: Some("192.0.2.1"),
            user_agent: Some("curl"),
            request_id: Some("r1"),
            actor: "client",
            metadata: meta,
        }
    }

    #[test]
    fn a_link_verifies_and_any_change_does_not() {
        let keys = ChainKeys::new("k1", b"0123456789abcdef0123");
        let key = keys.current();
        let meta = serde_json::json!({"b": 1, "a": [1, {"y": 2, "x": null}]});
        let mut b = LinkBuilder::new(key);
        for id in [5, 6, 9] {
            b.push_new(key, &view(id, &meta));
        }
        let link = b.finish(key, 3, &GENESIS).expect("events");
        assert_eq!(link.header.seq, 4);
        assert_eq!(
            (link.header.first_id, link.header.last_id, link.header.event_count),
            (5, 9, 3)
        );
        let ids: Vec<i64> = decode_tags(5, &link.header.tags)
            .expect("tags")
            .iter()
            .map(|t| t.0)
            .collect();
        assert_eq!(ids, vec![5, 6, 9]);

        let again = |meta: &Value, key: Key<'_>| {
            let mut b = LinkBuilder::new(key);
            for id in [5, 6, 9] {
                b.push_new(key, &view(id, meta));
            }
            b.mac_for(&link.header)
        };
        assert!(mac_eq(&again(&meta, key), &link.mac));
        // Keys reordered by the database: same encoding.
        let reordered: Value = serde_json::from_str(r#"{"a": [1, {"x": null, "y": 2}], "b": 1}"#).expect("json");
        assert!(mac_eq(&again(&reordered, key), &link.mac));
        assert!(!mac_eq(&again(&serde_json::json!({"b": 2}), key), &link.mac));
        let other = ChainKeys::new("k1", b"another key, not the one");
        assert!(!mac_eq(&again(&meta, other.current()), &link.mac));
    }

    #[test]
    fn digests_are_keyed_and_bound_to_the_event() {
        let keys = ChainKeys::new("k1", b"0123456789abcdef0123");
        let k = keys.current();
        assert_ne!(k.ip_digest(1, Some("192.0.2.1")), k.ip_digest(2, Some("192.0.2.1")));
        assert_eq!(k.ip_digest(1, None), GENESIS);
        let other = ChainKeys::new("k1", b"another key, not the one");
        assert_ne!(
            k.ip_digest(1, Some("192.0.2.1")),
            other.current().ip_digest(1, Some("192.0.2.1"))
        );
        assert!(format!("{keys:?}").contains("k1"));
        assert!(!format!("{keys:?}").contains("0123456789"));
    }
}
