//! What a group-commit batch writes, decided once for both backends: which new sessions to
//! insert, how each validation is judged, which `last_seen_at` refreshes and which audit events
//! to write. The SQLite writer applies these row by row with cached statements on its own
//! thread (`store/sqlite/batch.rs`); PostgreSQL sends each list as one JSON array parameter
//! (`jsonb_array_elements`), so a batch costs a handful of round trips whatever its size.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::audit::{EventType, NewEvent, Severity};
use crate::domain::{Session, SessionStatus};
use crate::store::{OpOutcome, Refusal, WriteOp};

fn hex(id: Uuid) -> String {
    id.simple().to_string()
}

/// The new sessions of a batch (op index and row), and the indexes of ops that repeat an id
/// already in the batch (those are collisions without asking the database).
pub(crate) fn new_sessions(ops: &[WriteOp]) -> (Vec<(usize, &Session)>, Vec<usize>) {
    let mut seen = HashSet::new();
    let mut firsts = Vec::new();
    let mut repeats = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        if let WriteOp::CreateSession { session: s, .. } = op {
            if seen.insert(s.id) {
                firsts.push((i, s));
            } else {
                repeats.push(i);
            }
        }
    }
    (firsts, repeats)
}

/// Record the creates that did not insert (`inserted` holds the ids that did) as collisions.
pub(crate) fn mark_collisions(
    outcomes: &mut [OpOutcome],
    firsts: &[(usize, &Session)],
    repeats: &[usize],
    inserted: &HashSet<Uuid>,
) {
    for (i, s) in firsts {
        if !inserted.contains(&s.id) {
            outcomes[*i] = OpOutcome::Collision;
        }
    }
    for i in repeats {
        outcomes[*i] = OpOutcome::Collision;
    }
}

/// The sessions the batch's validations look up, once each, in id order.
pub(crate) fn lookups(ops: &[WriteOp]) -> Vec<Uuid> {
    let ids: std::collections::BTreeSet<Uuid> = ops
        .iter()
        .filter_map(|op| match op {
            WriteOp::Validate { id, .. } => Some(*id),
            _ => None,
        })
        .collect();
    ids.into_iter().collect()
}

/// Decide each validation of the batch from the sessions found, as of the validation's time.
/// A live session is answered as it will be stored: `last_seen_at` and `last_ip` refreshed
/// when the stored ones are `touch_interval` old or the IP changed.
pub(crate) fn judge(ops: &[WriteOp], found: &HashMap<Uuid, Session>, outcomes: &mut [OpOutcome]) {
    for (op, outcome) in ops.iter().zip(outcomes.iter_mut()) {
        let WriteOp::Validate {
            id,
            at,
            ip,
            timeouts,
            touch_interval,
            ..
        } = op
        else {
            continue;
        };
        *outcome = match found.get(id) {
            None => OpOutcome::Refused(Refusal::NotFound),
            Some(s) => match s.effective_status(*at, timeouts) {
                SessionStatus::Revoked => OpOutcome::Refused(Refusal::Revoked),
                SessionStatus::Expired => OpOutcome::Refused(Refusal::Expired),
                SessionStatus::Active => {
                    let mut s = s.clone();
                    let touched = needs_touch(&s, *at, ip.as_deref(), *touch_interval);
                    if touched {
                        s.last_seen_at = s.last_seen_at.max(*at);
                        if ip.is_some() {
                            s.last_ip.clone_from(ip);
                        }
                    }
                    OpOutcome::Validated {
                        session: Box::new(s),
                        touched,
                    }
                }
            },
        };
    }
}

/// Does a validation at `at` from `ip` rewrite the stored `last_seen_at` / `last_ip`?
fn needs_touch(s: &Session, at: DateTime<Utc>, ip: Option<&str>, interval: chrono::Duration) -> bool {
    at - s.last_seen_at >= interval || (ip.is_some() && ip != s.last_ip.as_deref())
}

/// One `last_seen_at` refresh: session, time (Unix ms), IP (kept when `None`).
pub(crate) type Touch<'a> = (Uuid, i64, Option<&'a str>);

/// The refreshes of a batch (touches, and validations that refresh), merged per session
/// (latest time, last known IP) and sorted by id so concurrent batches lock rows in one order.
pub(crate) fn touches<'a>(ops: &'a [WriteOp], outcomes: &[OpOutcome]) -> Vec<Touch<'a>> {
    let mut merged: BTreeMap<Uuid, (i64, Option<&str>)> = BTreeMap::new();
    for (op, outcome) in ops.iter().zip(outcomes) {
        let (id, at, ip) = match (op, outcome) {
            (WriteOp::Touch { id, at, ip }, _) => (id, at, ip),
            (WriteOp::Validate { id, at, ip, .. }, OpOutcome::Validated { touched: true, .. }) => (id, at, ip),
            _ => continue,
        };
        let entry = merged.entry(*id).or_insert((i64::MIN, None));
        entry.0 = entry.0.max(at.timestamp_millis());
        if ip.is_some() {
            entry.1 = ip.as_deref();
        }
    }
    merged.into_iter().map(|(id, (at, ip))| (id, at, ip)).collect()
}

/// The audit events to write, in op order: plain events, those of sessions actually created,
/// of revocations of sessions that exist (with `previous_status` added), and of validations
/// (`session.validated`, or `session.validation_failed` with the reason).
pub(crate) fn events<'a>(ops: &'a [WriteOp], outcomes: &[OpOutcome]) -> Vec<Cow<'a, NewEvent>> {
    let mut rows = Vec::new();
    for (op, outcome) in ops.iter().zip(outcomes) {
        match (op, outcome) {
            (WriteOp::Event(e), _)
            | (WriteOp::CreateSession { event: e, .. }, OpOutcome::Done)
            | (WriteOp::Validate { event: e, .. }, OpOutcome::Validated { .. }) => rows.push(Cow::Borrowed(e)),
            (WriteOp::Revoke { event, .. }, OpOutcome::Revoked { previous }) => {
                rows.push(Cow::Owned(NewEvent {
                    metadata: with_previous_status(event, *previous),
                    ..event.clone()
                }));
            }
            (WriteOp::Validate { event, .. }, OpOutcome::Refused(why)) => rows.push(Cow::Owned(NewEvent {
                event_type: EventType::SessionValidationFailed,
                severity: Severity::Warning,
                metadata: json!({ "reason": why.reason(), "operation": "validate" }),
                ..event.clone()
            })),
            _ => {}
        }
    }
    rows
}

fn with_previous_status(event: &NewEvent, previous: SessionStatus) -> Value {
    let mut meta = match &event.metadata {
        Value::Object(m) => m.clone(),
        _ => serde_json::Map::new(),
    };
    meta.insert("previous_status".into(), previous.as_str().into());
    Value::Object(meta)
}

/// New sessions as `[[id, status, created, last_seen, user_info, created_ip, last_ip], ...]`.
pub(crate) fn sessions_json(firsts: &[(usize, &Session)]) -> Value {
    Value::Array(
        firsts
            .iter()
            .map(|(_, s)| {
                json!([
                    hex(s.id),
                    s.status.as_str(),
                    s.created_at.timestamp_millis(),
                    s.last_seen_at.timestamp_millis(),
                    s.user_info,
                    s.created_ip,
                    s.last_ip
                ])
            })
            .collect(),
    )
}

/// Ids as `["<hex>", ...]`.
pub(crate) fn ids_json(ids: &[Uuid]) -> Value {
    Value::Array(ids.iter().map(|id| Value::String(hex(*id))).collect())
}

/// Refreshes as `[[id, at, ip], ...]`.
pub(crate) fn touches_json(touches: &[Touch<'_>]) -> Value {
    Value::Array(touches.iter().map(|(id, at, ip)| json!([hex(*id), at, ip])).collect())
}

/// Events as `[[occurred_at, type, severity, session, ip, user_agent, request_id, actor,
/// metadata], ...]`.
pub(crate) fn events_json(events: &[Cow<'_, NewEvent>]) -> Value {
    events_json_from(events, None)
}

/// [`events_json`], each event with its id (`first_id`, `first_id + 1`, …) as a tenth item
/// when given.
pub(crate) fn events_json_from(events: &[Cow<'_, NewEvent>], first_id: Option<i64>) -> Value {
    Value::Array(
        events
            .iter()
            .zip(0..)
            .map(|(e, i)| {
                let mut row = json!([
                    e.occurred_at.timestamp_millis(),
                    e.event_type.as_str(),
                    e.severity.as_str(),
                    e.session_id.map(hex),
                    e.ip,
                    e.user_agent,
                    e.request_id,
                    e.actor,
                    e.metadata
                ]);
                if let (Some(first), Value::Array(items)) = (first_id, &mut row) {
                    items.push(json!(first + i));
                }
                row
            })
            .collect(),
    )
}
