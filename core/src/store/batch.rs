//! Turning a group-commit batch into a handful of statements. However many requests share a
//! batch, it costs: one bulk insert of new sessions, one revocation per reset (rare), one bulk
//! update of `last_seen_at`, and one bulk insert of audit events. Rows travel as one JSON array
//! parameter (`json_each` in SQLite, `jsonb_array_elements` in PostgreSQL), so every statement
//! stays a static, prepared, cached string.

use std::collections::{BTreeMap, HashSet};

use serde_json::{Value, json};
use uuid::Uuid;

use crate::audit::NewEvent;
use crate::domain::{Session, SessionStatus};
use crate::store::{OpOutcome, WriteOp};

fn hex(id: Uuid) -> String {
    id.simple().to_string()
}

/// The new sessions of a batch, as `[[id, status, created, last_seen, user_info, created_ip,
/// last_ip], ...]`, and the indexes of ops that repeat an id already in the batch (those are
/// collisions without asking the database).
pub(crate) fn sessions(ops: &[WriteOp]) -> (Vec<(usize, Uuid)>, Vec<usize>, Value) {
    let mut seen = HashSet::new();
    let mut firsts = Vec::new();
    let mut repeats = Vec::new();
    let mut rows = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        if let WriteOp::CreateSession { session: s, .. } = op {
            if !seen.insert(s.id) {
                repeats.push(i);
                continue;
            }
            firsts.push((i, s.id));
            rows.push(session_row(s));
        }
    }
    (firsts, repeats, Value::Array(rows))
}

fn session_row(s: &Session) -> Value {
    json!([
        hex(s.id),
        s.status.as_str(),
        s.created_at.timestamp_millis(),
        s.last_seen_at.timestamp_millis(),
        s.user_info,
        s.created_ip,
        s.last_ip
    ])
}

/// The `last_seen_at` refreshes of a batch, merged per session (latest time, last known IP)
/// and sorted by id so concurrent batches lock rows in one order: `[[id, at, ip], ...]`.
pub(crate) fn touches(ops: &[WriteOp]) -> Option<Value> {
    let mut merged: BTreeMap<Uuid, (i64, Option<&str>)> = BTreeMap::new();
    for op in ops {
        if let WriteOp::Touch { id, at, ip } = op {
            let entry = merged.entry(*id).or_insert((i64::MIN, None));
            entry.0 = entry.0.max(at.timestamp_millis());
            if ip.is_some() {
                entry.1 = ip.as_deref();
            }
        }
    }
    if merged.is_empty() {
        return None;
    }
    Some(Value::Array(
        merged
            .into_iter()
            .map(|(id, (at, ip))| json!([hex(id), at, ip]))
            .collect(),
    ))
}

/// The audit events to write, in op order: those of plain events, of sessions actually
/// created, and of revocations of sessions that exist (with `previous_status` added).
pub(crate) fn events(ops: &[WriteOp], outcomes: &[OpOutcome]) -> Option<Value> {
    let mut rows = Vec::new();
    for (op, outcome) in ops.iter().zip(outcomes) {
        match (op, outcome) {
            (WriteOp::Event(e), _) | (WriteOp::CreateSession { event: e, .. }, OpOutcome::Done) => {
                rows.push(event_row(e, &e.metadata));
            }
            (WriteOp::Revoke { event, .. }, OpOutcome::Revoked { previous }) => {
                rows.push(event_row(event, &with_previous_status(event, *previous)));
            }
            _ => {}
        }
    }
    (!rows.is_empty()).then_some(Value::Array(rows))
}

fn event_row(e: &NewEvent, metadata: &Value) -> Value {
    json!([
        e.occurred_at.timestamp_millis(),
        e.event_type.as_str(),
        e.severity.as_str(),
        e.session_id.map(hex),
        e.ip,
        e.user_agent,
        e.request_id,
        e.actor,
        metadata
    ])
}

fn with_previous_status(event: &NewEvent, previous: SessionStatus) -> Value {
    let mut meta = match &event.metadata {
        Value::Object(m) => m.clone(),
        _ => serde_json::Map::new(),
    };
    meta.insert("previous_status".into(), previous.as_str().into());
    Value::Object(meta)
}
