//! Admin email: the SMTP client (lettre over rustls, configured by `email.smtp_url`) and the
//! `notification_sender` job that delivers the outbox. A failed attempt is recorded on the row
//! (attempts, last error) and retried with exponential backoff capped at 24 h; only a
//! permanent SMTP refusal (5xx) or an unusable address gives up. While SMTP is down the rows
//! simply wait, so nothing is lost. The client is in `smtp.rs`, a leaf the job context holds.

pub(crate) mod smtp;

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::audit::{EventType, NewEvent, Origin, Severity};
use crate::jobs::context::{Counts, JobContext, JobError};

pub use smtp::{Mailer, SMTP_TIMEOUT, SendError};

/// Delay before attempt `attempts + 1`: 30 s, doubling, at most 24 h.
pub fn backoff(attempts: i64) -> chrono::Duration {
    let exp = u32::try_from(attempts.clamp(0, 20)).unwrap_or(20);
    let secs = 30i64.saturating_mul(1i64 << exp);
    chrono::Duration::seconds(secs.min(24 * 3600))
}

/// The `notification_sender` job: deliver every pending mail due at `now`.
pub async fn deliver_pending(ctx: &JobContext, run_id: i64, now: DateTime<Utc>) -> Result<Counts, JobError> {
    let mut counts = Counts::new();
    let Some(mailer) = &ctx.mailer else {
        counts.insert("email_disabled".into(), json!(true));
        return Ok(counts);
    };
    let origin = Origin::system(format!("job:notification_sender:{run_id}"));
    let (mut sent, mut failed) = (0u64, 0u64);
    let due = ctx.store.due_notifications(now, 100).await?;
    for n in due {
        let at = crate::domain::now_millis();
        match mailer.send(&n.recipients, &n.subject_line, &n.body).await {
            Ok(()) => {
                let event = NewEvent::new(
                    &origin,
                    at,
                    EventType::NotificationSent,
                    Severity::Info,
                    None,
                    json!({ "notification_id": n.id, "kind": n.kind, "alert_id": n.alert_id,
                            "attempts": n.attempts + 1 }),
                );
                ctx.store.mark_notification_sent(n.id, at, &event).await?;
                sent += 1;
            }
            Err(e) => {
                let next = now + backoff(n.attempts);
                let event = NewEvent::new(
                    &origin,
                    at,
                    EventType::NotificationFailed,
                    Severity::Warning,
                    None,
                    json!({ "notification_id": n.id, "kind": n.kind, "attempts": n.attempts + 1,
                            "error": e.message, "permanent": e.permanent,
                            "next_attempt_at": crate::domain::rfc3339(next) }),
                );
                ctx.store
                    .mark_notification_failed(n.id, next, &e.message, e.permanent, &event)
                    .await?;
                failed += 1;
                tracing::warn!(notification = n.id, error = %e.message, permanent = e.permanent, "mail not delivered");
                // The server is likely down: the other rows wait for the next run.
                if !e.permanent {
                    break;
                }
            }
        }
    }
    counts.insert("sent".into(), json!(sent));
    counts.insert("failed".into(), json!(failed));
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::backoff;

    #[test]
    fn backoff_doubles_up_to_a_day() {
        assert_eq!(backoff(0).num_seconds(), 30);
        assert_eq!(backoff(1).num_seconds(), 60);
        assert_eq!(backoff(5).num_seconds(), 960);
        assert_eq!(backoff(30).num_seconds(), 86_400);
    }
}
