//! Admin email: the SMTP client (lettre over rustls, configured by `email.smtp_url`) and the
//! `notification_sender` job that delivers the outbox. A failed attempt is recorded on the row
//! (attempts, last error) and retried with exponential backoff capped at 24 h; only a
//! permanent SMTP refusal (5xx) or an unusable address gives up. While SMTP is down the rows
//! simply wait, so nothing is lost.

use std::time::Duration;

use chrono::{DateTime, Utc};
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde_json::json;

use crate::audit::{EventType, NewEvent, Origin, Severity};
use crate::config::EmailSettings;
use crate::jobs::context::{Counts, JobContext, JobError};

/// Why a mail was not delivered.
#[derive(Debug, Clone)]
pub struct SendError {
    /// What went wrong (no secrets: lettre's errors do not carry the URL).
    pub message: String,
    /// Retrying cannot help (5xx refusal, bad address).
    pub permanent: bool,
}

/// An SMTP client for `email.smtp_url`: `smtp://` (plain), `smtp://…?tls=required`
/// (STARTTLS), `smtps://` (TLS); `user:password@` in the URL authenticates.
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer").field("from", &self.from.to_string()).finish()
    }
}

/// Longest one mail's SMTP exchange (connect, greeting, commands, data) may take.
pub const SMTP_TIMEOUT: Duration = Duration::from_secs(15);

impl Mailer {
    /// Build the client (no connection is made until the first mail).
    pub fn from_settings(email: &EmailSettings) -> Result<Self, String> {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(email.smtp_url.expose())
            .map_err(|e| format!("email.smtp_url ({}): {e}", email.smtp_url.redacted()))?
            .timeout(Some(SMTP_TIMEOUT))
            .build();
        let from = email
            .from
            .parse()
            .map_err(|e| format!("email.from: `{}` is not an address: {e}", email.from))?;
        Ok(Self { transport, from })
    }

    /// Send one plain-text mail to the comma-separated `recipients`.
    pub async fn send(&self, recipients: &str, subject: &str, body: &str) -> Result<(), SendError> {
        let mut builder = Message::builder().from(self.from.clone()).subject(subject);
        for to in recipients.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let mailbox: Mailbox = to.parse().map_err(|e| SendError {
                message: format!("recipient `{to}`: {e}"),
                permanent: true,
            })?;
            builder = builder.to(mailbox);
        }
        let message = builder
            .header(ContentType::TEXT_PLAIN)
            .body(body.to_owned())
            .map_err(|e| SendError {
                message: format!("cannot build the message: {e}"),
                permanent: true,
            })?;
        // lettre's own timeout bounds only the connect: a server that accepts and never
        // answers would hold the sender (and its job lease) forever. The whole exchange is
        // bounded here; a timeout is a transient failure, retried with backoff.
        match tokio::time::timeout(SMTP_TIMEOUT, self.transport.send(message)).await {
            Ok(sent) => sent.map(|_| ()).map_err(|e| SendError {
                message: e.to_string(),
                permanent: e.is_permanent(),
            }),
            Err(_) => Err(SendError {
                message: format!("the SMTP server did not complete the exchange within {SMTP_TIMEOUT:?}"),
                permanent: false,
            }),
        }
    }
}

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
