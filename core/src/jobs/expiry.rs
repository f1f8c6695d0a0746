//! `session_expiry`: marks active sessions past their idle or absolute timeout `expired` (one
//! `session.expired` event each, committed with the status change and their objects queued in
//! `pending_object_deletions`) and deletes their objects (or leaves them to `object_deletion`).
//! Works in batches so one run never holds the write lock long.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::context::{Counts, JobContext, JobError, count};
use crate::audit::{EventType, NewEvent, Origin, Severity};
use crate::domain::{Timeouts, now_millis};

const BATCH: u32 = 500;

/// Expire what is due now; see the module doc.
pub async fn expire_sessions(ctx: &JobContext, run_id: i64) -> Result<Counts, JobError> {
    let t = Timeouts::new(
        ctx.settings.session.idle_timeout.get(),
        ctx.settings.session.absolute_timeout.get(),
    );
    let origin = Origin::system(format!("job:session_expiry:{run_id}"));
    let mut counts = Counts::new();
    count(&mut counts, "expired", 0);
    loop {
        let now = now_millis();
        // Absurd timeouts saturate instead of overflowing: nothing is due.
        let idle_before = now.checked_sub_signed(t.idle).unwrap_or(DateTime::<Utc>::MIN_UTC);
        let created_before = now.checked_sub_signed(t.absolute).unwrap_or(DateTime::<Utc>::MIN_UTC);
        let ids = ctx.store.expirable_sessions(idle_before, created_before, BATCH).await?;
        if ids.is_empty() {
            break;
        }
        let event = |id| {
            NewEvent::new(
                &origin,
                now,
                EventType::SessionExpired,
                Severity::Info,
                Some(id),
                json!({ "idle_timeout_s": t.idle.num_seconds(), "absolute_timeout_s": t.absolute.num_seconds() }),
            )
        };
        let expired = ctx
            .store
            .expire_sessions(&ids, now, idle_before, created_before, &event)
            .await?;
        count(&mut counts, "expired", expired.len() as u64);
        // Their objects were queued for deletion with the status change; delete them now
        // and drop the record, or leave it to the `object_deletion` job.
        for id in &expired {
            match ctx.objects.delete_session_objects(*id).await {
                Ok(n) => {
                    count(&mut counts, "objects_deleted", n);
                    let target = crate::store::deletions::session_target(*id);
                    if let Err(e) = ctx.store.forget_object_deletions(&target).await {
                        tracing::warn!(error = %e, session = %id, "objects deleted; the object_deletion job drops their record");
                    }
                }
                Err(e) => {
                    count(&mut counts, "objects_queued", 1);
                    tracing::warn!(error = %e, session = %id, "objects not deleted now; the object_deletion job retries");
                }
            }
        }
        // Every candidate was either expired now or touched meanwhile (no longer due); a batch
        // smaller than asked means nothing more is due.
        if ids.len() < BATCH as usize {
            break;
        }
    }
    Ok(counts)
}
