//! The JSON the subcommands print: one shape per kind of row, with the HTTP API's field names
//! (`uuid`, `upload_count`, `session_uuid`; SPEC §2) and every time as RFC 3339 UTC with
//! milliseconds (`2026-01-08T10:15:30.123Z`), whatever the store keeps (Unix ms for sort keys).
//! docs/console.md lists the shapes.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sessiond_core::audit::AuditEvent;
use sessiond_core::domain::{Session, Timeouts, from_millis, rfc3339};
use sessiond_core::store::alerts::Alert;
use sessiond_core::store::console::{SessionSummary, UploadSummary};
use sessiond_core::store::jobs::JobRun;
use sessiond_core::store::uploads::UploadTotals;
use uuid::Uuid;

use crate::ops::{JobOverview, ResetOutcome};

fn ms(t: i64) -> String {
    rfc3339(from_millis(t))
}

fn opt(t: Option<DateTime<Utc>>) -> Option<String> {
    t.map(rfc3339)
}

/// A list row as the session it summarizes (for its expiry time).
pub fn summary_session(s: &SessionSummary) -> Session {
    Session {
        id: s.id,
        status: s.status,
        created_at: from_millis(s.created_at),
        last_seen_at: from_millis(s.last_seen_at),
        ended_at: None,
        ended_by: None,
        user_info: None,
        created_ip: None,
        last_ip: s.last_ip.clone(),
    }
}

/// A row of `sessions list`: the API's session fields (status as stored) plus the upload count
/// and the last IP.
pub fn session_row(s: &SessionSummary, t: &Timeouts) -> Value {
    json!({
        "uuid": s.id,
        "status": s.status,
        "created_at": ms(s.created_at),
        "last_seen_at": ms(s.last_seen_at),
        "expires_at": rfc3339(summary_session(s).expires_at(t)),
        "upload_count": s.uploads,
        "last_ip": s.last_ip,
    })
}

/// `sessions show`: the session, its upload totals, its uploads and its newest events.
pub fn session_detail(
    s: &Session,
    t: &Timeouts,
    totals: &UploadTotals,
    uploads: &[UploadSummary],
    events: &[AuditEvent],
) -> Value {
    json!({
        "uuid": s.id,
        "status": s.status,
        "created_at": rfc3339(s.created_at),
        "last_seen_at": rfc3339(s.last_seen_at),
        "expires_at": rfc3339(s.expires_at(t)),
        "ended_at": opt(s.ended_at),
        "ended_by": s.ended_by,
        "user_info": s.user_info,
        "created_ip": s.created_ip,
        "last_ip": s.last_ip,
        "upload_count": totals.count,
        "upload_bytes": totals.bytes,
        "uploads": uploads.iter().map(|u| upload(s.id, u)).collect::<Vec<_>>(),
        "events": events.iter().map(event).collect::<Vec<_>>(),
    })
}

/// An upload, as `GET /api/session/{uuid}/uploads` lists it (without `content_type`, which
/// is always `application/pdf`).
pub fn upload(session: Uuid, u: &UploadSummary) -> Value {
    json!({
        "id": u.id,
        "session_uuid": session,
        "filename": u.filename,
        "size": u.size,
        "sha256": u.sha256,
        "created_at": ms(u.created_at),
    })
}

/// An audit event, with the field names of a webhook's `data`.
pub fn event(e: &AuditEvent) -> Value {
    json!({
        "id": e.id,
        "occurred_at": rfc3339(e.occurred_at),
        "event_type": e.event_type,
        "severity": e.severity,
        "session_id": e.session_id,
        "ip": e.ip,
        "user_agent": e.user_agent,
        "request_id": e.request_id,
        "actor": e.actor,
        "metadata": e.metadata,
    })
}

/// An alert.
pub fn alert(a: &Alert) -> Value {
    json!({
        "id": a.id,
        "rule": a.rule,
        "subject": a.subject,
        "severity": a.severity,
        "status": a.status,
        "count": a.count,
        "first_seen_at": rfc3339(a.first_seen_at),
        "last_seen_at": rfc3339(a.last_seen_at),
        "acknowledged_at": opt(a.acknowledged_at),
        "acknowledged_by": a.acknowledged_by,
        "resolved_at": opt(a.resolved_at),
        "last_emailed_at": opt(a.last_emailed_at),
        "sample_event_ids": a.sample_event_ids,
    })
}

/// A job with its lease and recent runs.
pub fn job(j: &JobOverview) -> Value {
    json!({
        "name": j.name,
        "schedule": j.schedule,
        "schedule_source": j.schedule_source,
        "next_run_at": j.next_run.map(ms),
        "enabled": j.enabled,
        "lease": j.lease.as_ref().map(|l| json!({ "holder": l.holder, "expires_at": ms(l.expires_at) })),
        "runs": j.runs.iter().map(run).collect::<Vec<_>>(),
    })
}

/// A job run.
pub fn run(r: &JobRun) -> Value {
    json!({
        "id": r.id,
        "job": r.job,
        "holder": r.holder,
        "started_at": rfc3339(r.started_at),
        "finished_at": opt(r.finished_at),
        "status": r.status,
        "counts": r.counts,
        "error": r.error,
        "scheduled_for": opt(r.scheduled_for),
    })
}

/// What `sessions reset` did.
pub fn reset(o: &ResetOutcome) -> Value {
    json!({
        "uuid": o.id,
        "previous_status": o.previous_status,
        "uploads_queued_for_deletion": o.uploads_queued_for_deletion,
        "already_revoked": o.already_revoked,
    })
}
