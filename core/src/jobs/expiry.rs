//! `session_expiry`: marks active sessions past their idle or absolute timeout `expired` (one
//! `session.expired` event each, committed with the status change) and deletes their objects.
//! Works in batches so one run never holds the write lock long.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::{Counts, JobContext, JobError, count};
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
    let mut object_errors = Vec::new();
    loop {
        let now = now_millis();
        // Absurd timeouts saturate instead of overflowing: nothing is due.
        let idle_before = now.checked_sub_signed(t.idle).unwrap_or(DateTime::<Utc>::MIN_UTC);
        let created_before = now.checked_sub_signed(t.absolute).unwrap_or(DateTime::<Utc>::MIN_UTC);
        let ids = ctx
            .store
            .expirable_sessions(idle_before, created_before, BATCH)
            .await
            .map_err(|e| e.to_string())?;
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
            .await
            .map_err(|e| e.to_string())?;
        count(&mut counts, "expired", expired.len() as u64);
        for id in &expired {
            match ctx.objects.delete_session_objects(*id).await {
                Ok(n) => count(&mut counts, "objects_deleted", n),
                Err(e) => {
                    count(&mut counts, "object_errors", 1);
                    object_errors.push(format!("{id}: {e}"));
                }
            }
        }
        // Every candidate was either expired now or touched meanwhile (no longer due); a batch
        // smaller than asked means nothing more is due.
        if ids.len() < BATCH as usize {
            break;
        }
    }
    if object_errors.is_empty() {
        Ok(counts)
    } else {
        Err(format!(
            "sessions expired but objects not deleted ({}): {}",
            object_errors.len(),
            object_errors.iter().take(5).cloned().collect::<Vec<_>>().join("; ")
        ))
    }
}
