//! Signed webhooks (SPEC §5, `docs/audit.md`): `[[webhooks]]` endpoints receive the audit
//! events that match their filters, through a durable outbox (`store/webhooks.rs`) fed and
//! drained by the `notification_sender` job. Each endpoint has a cursor into the audit trail;
//! matching events are queued once per endpoint (`UNIQUE (endpoint, event_id)`), delivered with
//! exponential backoff, and dead-lettered after `max_attempts` failures. Requests follow the
//! Standard Webhooks spec: `webhook-id`, `webhook-timestamp` and
//! `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">` with the `whsec_` secret.

use std::collections::HashSet;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::json;
use sha2_11::Sha256;

use crate::audit::{AuditEvent, AuditQuery};
use crate::config::WebhookSettings;
use crate::jobs::context::{Counts, JobContext, JobError};

/// Events read from the audit trail at once per endpoint.
const PAGE: u32 = 500;
/// Deliveries attempted per job run.
const DUE: u32 = 200;
/// Deadline of one delivery.
const TIMEOUT: Duration = Duration::from_secs(10);

pub use crate::config::webhook_secret_bytes as secret_bytes;

/// The `webhook-signature` header value for message `id` sent at `timestamp` (Unix seconds).
pub fn sign(key: &[u8], id: &str, timestamp: i64, body: &str) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mac) => mac,
        // HMAC takes keys of any length.
        Err(_) => return String::new(),
    };
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// Does `endpoint` want `e`?
pub fn wants(endpoint: &WebhookSettings, e: &AuditEvent) -> bool {
    let type_ok = endpoint.event_types.is_empty() || endpoint.event_types.contains(&e.event_type);
    let severity_ok = endpoint.severities.is_empty() || endpoint.severities.contains(&e.severity);
    let rule_ok = endpoint.alert_rules.is_empty()
        || (e.event_type.starts_with("alert.")
            && e.metadata
                .get("rule")
                .and_then(|r| r.as_str())
                .is_some_and(|r| endpoint.alert_rules.iter().any(|x| x == r)));
    type_ok && severity_ok && rule_ok
}

/// The body sent for `e`: `{"type", "timestamp", "data": <the event as the API shows it>}`.
pub fn payload(e: &AuditEvent) -> String {
    json!({
        "type": e.event_type,
        "timestamp": crate::domain::rfc3339(e.occurred_at),
        "data": e,
    })
    .to_string()
}

/// Queue what is new for every endpoint, then deliver what is due at `now`.
pub async fn run(ctx: &JobContext, now: DateTime<Utc>) -> Result<Counts, JobError> {
    let mut counts = Counts::new();
    let endpoints = &ctx.settings.webhooks;
    if endpoints.is_empty() {
        return Ok(counts);
    }
    let mut queued = 0;
    for endpoint in endpoints {
        queued += enqueue(ctx, endpoint, now).await?;
    }
    let (sent, failed, dead) = deliver(ctx, now).await?;
    counts.insert("webhooks_queued".into(), json!(queued));
    counts.insert("webhooks_sent".into(), json!(sent));
    counts.insert("webhooks_failed".into(), json!(failed));
    counts.insert("webhooks_dead".into(), json!(dead));
    Ok(counts)
}

/// Move `endpoint`'s cursor over the events written since, queueing the matching ones. A new
/// endpoint starts at the current end of the trail (no replay of history).
async fn enqueue(
    ctx: &JobContext,
    endpoint: &WebhookSettings,
    now: DateTime<Utc>,
) -> Result<u64, crate::store::StoreError> {
    let store = &ctx.store;
    let now_ms = now.timestamp_millis();
    let Some(mut cursor) = store.webhook_cursor(&endpoint.name).await? else {
        let end = store.max_audit_id().await?;
        store.enqueue_webhooks(&endpoint.name, &[], end, now_ms).await?;
        return Ok(0);
    };
    let mut queued = 0;
    loop {
        let page = store
            .list_audit(&AuditQuery {
                after_id: Some(cursor),
                ascending: true,
                limit: PAGE,
                ..AuditQuery::default()
            })
            .await?;
        let Some(last) = page.last() else { break };
        let rows: Vec<(i64, String)> = page
            .iter()
            .filter(|e| wants(endpoint, e))
            .map(|e| (e.id, payload(e)))
            .collect();
        cursor = last.id;
        queued += store.enqueue_webhooks(&endpoint.name, &rows, cursor, now_ms).await?;
        if page.len() < PAGE as usize {
            break;
        }
    }
    Ok(queued)
}

/// Deliver the due rows; an endpoint that fails is not tried again in this run.
async fn deliver(ctx: &JobContext, now: DateTime<Utc>) -> Result<(u64, u64, u64), JobError> {
    let store = &ctx.store;
    let client = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| JobError::WebhookClient(e.to_string()))?;
    let due = store.due_webhooks(now.timestamp_millis(), DUE).await?;
    let (mut sent, mut failed, mut dead) = (0, 0, 0);
    let mut down: HashSet<String> = HashSet::new();
    for d in due {
        if down.contains(&d.endpoint) {
            continue;
        }
        let at = crate::domain::now_millis();
        let endpoint = ctx.settings.webhooks.iter().find(|w| w.name == d.endpoint);
        let result = match endpoint {
            None => Err((format!("endpoint `{}` is no longer configured", d.endpoint), true)),
            Some(w) => send(&client, w, &format!("msg_{}", d.id), at.timestamp(), &d.payload).await,
        };
        match result {
            Ok(()) => {
                store.mark_webhook_sent(d.id, at.timestamp_millis()).await?;
                sent += 1;
            }
            Err((error, permanent)) => {
                let max = endpoint.map_or(1, |w| i64::from(w.max_attempts));
                let give_up = permanent || d.attempts + 1 >= max;
                let next = now + crate::mailer::backoff(d.attempts);
                store
                    .mark_webhook_failed(d.id, next.timestamp_millis(), &error, give_up)
                    .await?;
                tracing::warn!(endpoint = %d.endpoint, delivery = d.id, error = %error, dead = give_up, "webhook not delivered");
                if give_up {
                    dead += 1;
                } else {
                    failed += 1;
                }
                down.insert(d.endpoint.clone());
            }
        }
    }
    Ok((sent, failed, dead))
}

/// POST one message; `Err((why, permanent))` on failure.
async fn send(
    client: &reqwest::Client,
    endpoint: &WebhookSettings,
    id: &str,
    timestamp: i64,
    body: &str,
) -> Result<(), (String, bool)> {
    let Some(key) = secret_bytes(endpoint.secret.expose()) else {
        return Err(("the secret is not `whsec_<base64>`".into(), true));
    };
    let response = client
        .post(&endpoint.url)
        .header("content-type", "application/json")
        .header("webhook-id", id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", sign(&key, id, timestamp, body))
        .body(body.to_owned())
        .send()
        .await
        .map_err(|e| (format!("request failed: {}", describe(e)), false))?;
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else {
        Err((format!("HTTP {status}"), false))
    }
}

/// A failed request in words an operator can act on: the error and its causes (a TLS failure
/// is only in the causes: "invalid peer certificate: UnknownIssuer"), without the URL, whose
/// query may carry a token and which the endpoint's name already identifies.
fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut out = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !out.contains(&cause_text) {
            out.push_str(": ");
            out.push_str(&cause_text);
        }
        source = cause.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_the_standard_webhooks_example() {
        // The example of the Standard Webhooks specification (spec/standard-webhooks.md).
        let key = secret_bytes("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("secret");
        let body = r#"{"test": 2432232314}"#;
        assert_eq!(
            sign(&key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        assert!(secret_bytes("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_none());
        assert!(secret_bytes("whsec_not base64!").is_none());
    }
}
