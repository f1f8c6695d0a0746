//! `sessionctl audit verify`: walk the audit chain (`crate::audit_chain`) from its start (or
//! retention's checkpoint) to its head, recompute every link from the events as stored, and
//! report the first thing that does not match: an edited field, a deleted, inserted or
//! reordered event, a missing or altered link, or a wrong key. Memory stays bounded: events and
//! links are read in keyset pages, one link's events at a time.

use std::collections::{HashMap, VecDeque};

use serde::Serialize;

use crate::audit::{AuditEvent, AuditQuery};
use crate::audit_chain::{
    ChainKeys, Digest, EventView, GENESIS, LinkBuilder, RedactedField, Redaction, TAG_FIELDS, Tags, decode_tags, mac_eq,
};
use crate::store::chain::StoredLink;
use crate::store::{Store, StoreError};

/// Tag bytes of the fields that enter the MAC as they are (the others are keyed digests).
const PLAIN_TAGS: usize = 6;

/// The verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Every event is covered and matches.
    Intact,
    /// Something was changed (see [`Report::problem`]).
    Broken,
    /// The chain cannot be checked (no key, unknown key id, database unavailable).
    CannotCheck,
}

/// What is wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// A field of an event differs from what was written.
    EditedField,
    /// An event the chain covers is gone.
    DeletedEvent,
    /// An event no link covers.
    InsertedEvent,
    /// An event holds the content another id was written with.
    ReorderedEvents,
    /// The link was signed with another key than the one configured under its key id.
    WrongKey,
    /// A link's MAC or chaining does not match.
    LinkAltered,
    /// Links are missing from the chain.
    LinkMissing,
    /// Retention's checkpoint does not verify.
    CheckpointAltered,
}

/// The first problem found.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    /// What.
    pub kind: ProblemKind,
    /// The event concerned.
    pub event_id: Option<i64>,
    /// The link concerned.
    pub link_seq: Option<i64>,
    /// The fields concerned (edits).
    pub fields: Vec<&'static str>,
    /// One sentence for a person.
    pub detail: String,
}

/// The result of a walk.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Verdict.
    pub status: Status,
    /// Links checked.
    pub links_checked: u64,
    /// Events checked.
    pub events_checked: u64,
    /// Events older than the chain's first link (written before the chain was turned on).
    pub events_before_chain: u64,
    /// Events pseudonymized by IP anonymization or `sessions purge` (checked through their
    /// redaction records).
    pub events_pseudonymized: u64,
    /// The retention checkpoint the walk started from (last purged event id).
    pub checkpoint_through_id: Option<i64>,
    /// The last link checked.
    pub last_seq: Option<i64>,
    /// For `broken`.
    pub problem: Option<Problem>,
    /// For `cannot_check`.
    pub reason: Option<String>,
}

impl Report {
    fn new() -> Self {
        Self {
            status: Status::Intact,
            links_checked: 0,
            events_checked: 0,
            events_before_chain: 0,
            events_pseudonymized: 0,
            checkpoint_through_id: None,
            last_seq: None,
            problem: None,
            reason: None,
        }
    }

    /// `sessionctl audit verify`'s exit code: 0 intact, 1 broken, 2 cannot check.
    pub fn exit_code(&self) -> i32 {
        match self.status {
            Status::Intact => 0,
            Status::Broken => 1,
            Status::CannotCheck => 2,
        }
    }

    /// One line for a person.
    pub fn summary(&self) -> String {
        match self.status {
            Status::Intact => format!(
                "intact: {} events in {} links verified ({} pseudonymized, {} before the chain began{})",
                self.events_checked,
                self.links_checked,
                self.events_pseudonymized,
                self.events_before_chain,
                self.checkpoint_through_id
                    .map(|id| format!(", retention purged up to event {id}"))
                    .unwrap_or_default()
            ),
            Status::Broken => match &self.problem {
                Some(p) => format!("broken: {}", p.detail),
                None => "broken".into(),
            },
            Status::CannotCheck => format!("cannot check: {}", self.reason.as_deref().unwrap_or("unknown reason")),
        }
    }
}

enum Stop {
    Broken(Problem),
    Cannot(String),
}

impl From<StoreError> for Stop {
    fn from(e: StoreError) -> Self {
        Stop::Cannot(e.to_string())
    }
}

fn problem(kind: ProblemKind, event_id: Option<i64>, link_seq: Option<i64>, detail: String) -> Stop {
    Stop::Broken(Problem {
        kind,
        event_id,
        link_seq,
        fields: Vec::new(),
        detail,
    })
}

/// Events in id order, a page at a time.
struct Events<'a> {
    store: &'a dyn Store,
    buf: VecDeque<AuditEvent>,
    after: i64,
}

impl Events<'_> {
    const PAGE: u32 = 2000;

    async fn peek_id(&mut self) -> Result<Option<i64>, StoreError> {
        if self.buf.is_empty() {
            let page = self
                .store
                .list_audit(&AuditQuery {
                    after_id: Some(self.after),
                    ascending: true,
                    limit: Self::PAGE,
                    ..AuditQuery::default()
                })
                .await?;
            if let Some(last) = page.last() {
                self.after = last.id;
            }
            self.buf.extend(page);
        }
        Ok(self.buf.front().map(|e| e.id))
    }

    fn pop(&mut self) -> Option<AuditEvent> {
        self.buf.pop_front()
    }
}

/// Links in chain order, a page at a time.
struct Links<'a> {
    store: &'a dyn Store,
    buf: VecDeque<StoredLink>,
    after: i64,
}

impl Links<'_> {
    async fn next(&mut self) -> Result<Option<StoredLink>, StoreError> {
        if self.buf.is_empty() {
            let page = self.store.chain_links(self.after, 500).await?;
            if let Some(last) = page.last() {
                self.after = last.link.header.seq;
            }
            self.buf.extend(page);
        }
        Ok(self.buf.pop_front())
    }
}

/// Walk the chain of `store` with `keys` (`None`: cannot check).
pub async fn verify(store: &dyn Store, keys: Option<&ChainKeys>) -> Report {
    let mut report = Report::new();
    let Some(keys) = keys else {
        report.status = Status::CannotCheck;
        report.reason = Some("audit.hmac_key is not configured".into());
        return report;
    };
    match walk(store, keys, &mut report).await {
        Ok(()) => {}
        Err(Stop::Broken(p)) => {
            report.status = Status::Broken;
            report.problem = Some(p);
        }
        Err(Stop::Cannot(reason)) => {
            report.status = Status::CannotCheck;
            report.reason = Some(reason);
        }
    }
    report
}

async fn walk(store: &dyn Store, keys: &ChainKeys, report: &mut Report) -> Result<(), Stop> {
    let checkpoint = store.chain_checkpoint().await?;
    let (mut next_seq, mut prev_mac) = match &checkpoint {
        Some(cp) => {
            let key = keys
                .key(&cp.key_id)
                .ok_or_else(|| Stop::Cannot(format!("no key for key id `{}` (audit.previous_hmac_keys)", cp.key_id)))?;
            if !mac_eq(&key.checkpoint_mac(cp.seq, cp.through_id, &cp.resume_mac), &cp.mac) {
                return Err(problem(
                    ProblemKind::CheckpointAltered,
                    None,
                    Some(cp.seq),
                    format!(
                        "the retention checkpoint (links up to {}, events up to {}) does not verify",
                        cp.seq, cp.through_id
                    ),
                ));
            }
            report.checkpoint_through_id = Some(cp.through_id);
            (cp.seq + 1, cp.resume_mac.clone())
        }
        None => (1, GENESIS.to_vec()),
    };
    let mut events = Events {
        store,
        buf: VecDeque::new(),
        after: i64::MIN,
    };
    let mut links = Links {
        store,
        buf: VecDeque::new(),
        after: next_seq - 1,
    };
    let mut rechecked = false;
    loop {
        let Some(stored) = links.next().await? else {
            let Some(id) = events.peek_id().await? else {
                return Ok(());
            };
            // Its link may have committed after the last page of links was read.
            if !rechecked {
                rechecked = true;
                continue;
            }
            if report.links_checked == 0 && checkpoint.is_none() {
                // No link yet: everything predates the chain.
                while events.pop().is_some() {
                    report.events_before_chain += 1;
                    if events.buf.is_empty() && events.peek_id().await?.is_none() {
                        break;
                    }
                }
                return Ok(());
            }
            return Err(problem(
                ProblemKind::InsertedEvent,
                Some(id),
                None,
                format!("event {id} is not covered by any link (inserted after the chain's last link)"),
            ));
        };
        rechecked = false;
        let link = &stored.link;
        let h = &link.header;
        if h.seq != next_seq {
            return Err(problem(
                ProblemKind::LinkMissing,
                Some(h.first_id),
                Some(next_seq),
                format!(
                    "links {next_seq}..{} are missing before the link of events {}..{} (links deleted)",
                    h.seq - 1,
                    h.first_id,
                    h.last_id
                ),
            ));
        }
        if h.prev_mac != prev_mac {
            return Err(problem(
                ProblemKind::LinkAltered,
                Some(h.first_id),
                Some(h.seq),
                format!(
                    "link {} does not follow link {} (replaced or reordered links)",
                    h.seq,
                    h.seq - 1
                ),
            ));
        }
        let key = keys
            .key(&h.key_id)
            .ok_or_else(|| Stop::Cannot(format!("no key for key id `{}` (audit.previous_hmac_keys)", h.key_id)))?;
        if stored.key_check.as_slice() != key.check().as_slice() {
            return Err(problem(
                ProblemKind::WrongKey,
                Some(h.first_id),
                Some(h.seq),
                format!(
                    "wrong key: link {} (events {}..{}) was not signed with the key configured as `{}`",
                    h.seq, h.first_id, h.last_id, h.key_id
                ),
            ));
        }
        // Events below this link are covered by no link.
        while let Some(id) = events.peek_id().await? {
            if id >= h.first_id {
                break;
            }
            if report.links_checked == 0 && checkpoint.is_none() {
                report.events_before_chain += 1;
                events.pop();
                continue;
            }
            return Err(problem(
                ProblemKind::InsertedEvent,
                Some(id),
                None,
                format!("event {id} is not covered by any link (inserted)"),
            ));
        }
        let mut rows = Vec::new();
        while let Some(id) = events.peek_id().await? {
            if id > h.last_id {
                break;
            }
            rows.extend(events.pop());
        }
        check_link(store, keys, &stored, &rows, report).await?;
        prev_mac = link.mac.clone();
        next_seq += 1;
        report.links_checked += 1;
        report.events_checked += rows.len() as u64;
        report.last_seq = Some(h.seq);
    }
}

/// Check one link against its events as stored.
async fn check_link(
    store: &dyn Store,
    keys: &ChainKeys,
    stored: &StoredLink,
    rows: &[AuditEvent],
    report: &mut Report,
) -> Result<(), Stop> {
    let h = &stored.link.header;
    let altered = |what: &str| {
        problem(
            ProblemKind::LinkAltered,
            Some(h.first_id),
            Some(h.seq),
            format!("link {} (events {}..{}): {what}", h.seq, h.first_id, h.last_id),
        )
    };
    let Some(expected) = decode_tags(h.first_id, &h.tags) else {
        return Err(altered("its event list does not decode"));
    };
    let key = keys
        .key(&h.key_id)
        .ok_or_else(|| Stop::Cannot(format!("no key for key id `{}`", h.key_id)))?;
    let mut redactions: HashMap<(i64, &'static str), Redaction> = HashMap::new();
    for r in store.redactions(h.first_id, h.last_id).await? {
        redactions.insert((r.event_id, r.field.as_str()), r);
    }
    let by_id: HashMap<i64, Tags> = expected.iter().copied().collect();
    let mut builder = LinkBuilder::new(key);
    let (mut i, mut j) = (0, 0);
    while i < expected.len() || j < rows.len() {
        let want = expected.get(i).map(|e| e.0);
        let have = rows.get(j).map(|r| r.id);
        match (want, have) {
            (Some(w), Some(hv)) if w == hv => {
                let row = &rows[j];
                let (ip, su, redacted) = digests(keys, key, row, &redactions)?;
                if redacted {
                    report.events_pseudonymized += 1;
                }
                let view = EventView::of_stored(row);
                let tags = builder.push(&view, &ip, &su);
                let want_tags = expected[i].1;
                if tags != want_tags {
                    // The keyed digests include the id, so a moved row matches another id's
                    // tags on the plain fields only.
                    let plain = |t: &Tags| t[..PLAIN_TAGS].to_vec();
                    let moved = tags[..PLAIN_TAGS] != want_tags[..PLAIN_TAGS];
                    if let Some((other, _)) = expected
                        .iter()
                        .find(|(id, t)| moved && *id != row.id && plain(t) == plain(&tags))
                    {
                        return Err(Stop::Broken(Problem {
                            kind: ProblemKind::ReorderedEvents,
                            event_id: Some(row.id),
                            link_seq: Some(h.seq),
                            fields: Vec::new(),
                            detail: format!(
                                "event {} holds the content written as event {other} (ids reordered)",
                                row.id
                            ),
                        }));
                    }
                    let fields: Vec<&'static str> = (0..TAG_FIELDS.len())
                        .filter(|&f| tags[f] != want_tags[f])
                        .map(|f| TAG_FIELDS[f])
                        .collect();
                    return Err(Stop::Broken(Problem {
                        kind: ProblemKind::EditedField,
                        event_id: Some(row.id),
                        link_seq: Some(h.seq),
                        detail: format!("event {} was edited: {} changed", row.id, fields.join(", ")),
                        fields,
                    }));
                }
                i += 1;
                j += 1;
            }
            (Some(w), hv) if hv.is_none_or(|hv| w < hv) => {
                return Err(problem(
                    ProblemKind::DeletedEvent,
                    Some(w),
                    Some(h.seq),
                    format!("event {w} was deleted (link {} covers it)", h.seq),
                ));
            }
            (_, Some(hv)) => {
                let detail = match by_id.get(&hv) {
                    Some(_) => format!("event {hv} appears twice"),
                    None => format!("event {hv} was inserted (link {} does not cover it)", h.seq),
                };
                return Err(problem(ProblemKind::InsertedEvent, Some(hv), Some(h.seq), detail));
            }
            (Some(_), None) | (None, None) => break,
        }
    }
    if rows.len() as i64 != h.event_count || expected.len() as i64 != h.event_count {
        return Err(altered("its event count does not match its event list"));
    }
    if !mac_eq(&builder.mac_for(h), &stored.link.mac) {
        return Err(altered(
            "its MAC does not match its events (the link row, or a field the tags cannot tell, was changed)",
        ));
    }
    Ok(())
}

/// The digests the link was computed with for `row`'s pseudonymizable fields: from its
/// redaction record when it has one (after checking that the record matches the row), else
/// from the row. The bool says whether the row was pseudonymized.
fn digests(
    keys: &ChainKeys,
    key: crate::audit_chain::Key<'_>,
    row: &AuditEvent,
    redactions: &HashMap<(i64, &'static str), Redaction>,
) -> Result<(Digest, Digest, bool), Stop> {
    let mut redacted = false;
    let mut pick =
        |field: RedactedField, now: &dyn Fn(crate::audit_chain::Key<'_>) -> Digest| -> Result<Digest, Stop> {
            let Some(r) = redactions.get(&(row.id, field.as_str())) else {
                return Ok(now(key));
            };
            let rkey = keys
                .key(&r.key_id)
                .ok_or_else(|| Stop::Cannot(format!("no key for key id `{}`", r.key_id)))?;
            let name = match field {
                RedactedField::Ip => "ip",
                RedactedField::SessionAndAgent => "session_id/user_agent",
            };
            let original: Option<Digest> = r.digest.as_slice().try_into().ok();
            match original {
                Some(d) if mac_eq(&rkey.redaction_mac(row.id, field, &d, &now(rkey)), &r.mac) => {
                    redacted = true;
                    Ok(d)
                }
                _ => Err(Stop::Broken(Problem {
                    kind: ProblemKind::EditedField,
                    event_id: Some(row.id),
                    link_seq: None,
                    fields: vec![name],
                    detail: format!(
                        "event {} was edited: {name} changed (does not match its pseudonymization record)",
                        row.id
                    ),
                })),
            }
        };
    let ip = pick(RedactedField::Ip, &|k| k.ip_digest(row.id, row.ip.as_deref()))?;
    let su = pick(RedactedField::SessionAndAgent, &|k| {
        k.su_digest(row.id, row.session_id, row.user_agent.as_deref())
    })?;
    Ok((ip, su, redacted))
}
