//! Alerts (SPEC §5) and the email outbox: what the detection, digest and sender jobs read and
//! write. Every change that is audited commits together with its audit event.

use chrono::{DateTime, Utc};

use crate::audit::{NewEvent, Severity};
use crate::domain::from_millis;
use crate::store::StoreError;

/// Where an alert is in its life (SPEC §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertStatus {
    /// Raised and not yet looked at.
    Open,
    /// An operator has seen it; it stays live until it resolves.
    Acknowledged,
    /// No matching events for the rule's window.
    Resolved,
}

impl AlertStatus {
    /// The stored form.
    pub const fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Open => "open",
            AlertStatus::Acknowledged => "acknowledged",
            AlertStatus::Resolved => "resolved",
        }
    }

    /// Parse the stored form.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "open" => Some(AlertStatus::Open),
            "acknowledged" => Some(AlertStatus::Acknowledged),
            "resolved" => Some(AlertStatus::Resolved),
            _ => None,
        }
    }
}

impl std::fmt::Display for AlertStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `pad`, not `write_str`: tables align these with `{:<9}`.
        f.pad(self.as_str())
    }
}

/// A stored alert: the one read model of an alert row, for the jobs and the console alike.
/// Times serialize as Unix milliseconds, as they are stored (`sessionctl` prints its own
/// RFC 3339 shape, tui/src/cli/json.rs).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Alert {
    /// Row id.
    pub id: i64,
    /// Rule name, e.g. `uuid_probing`.
    pub rule: String,
    /// IP key, dependency name, or `*`.
    pub subject: String,
    /// The rule's severity (`warning` or `critical`).
    pub severity: Severity,
    /// Where the alert is in its life.
    pub status: AlertStatus,
    /// Matching events seen while it was live.
    pub count: i64,
    /// First matching event.
    #[serde(with = "chrono::serde::ts_milliseconds")]
    pub first_seen_at: DateTime<Utc>,
    /// Latest matching event.
    #[serde(with = "chrono::serde::ts_milliseconds")]
    pub last_seen_at: DateTime<Utc>,
    /// When an admin acknowledged it.
    #[serde(with = "chrono::serde::ts_milliseconds_option")]
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// Who (`admin:<name>`).
    pub acknowledged_by: Option<String>,
    /// When it was resolved.
    #[serde(with = "chrono::serde::ts_milliseconds_option")]
    pub resolved_at: Option<DateTime<Utc>>,
    /// When an email about it was last queued.
    #[serde(with = "chrono::serde::ts_milliseconds_option")]
    pub last_emailed_at: Option<DateTime<Utc>>,
    /// Ids of some of its audit events (newest first).
    pub sample_event_ids: Vec<i64>,
}

/// The columns of an alert row; every query that reads alerts selects exactly these.
#[derive(sqlx::FromRow)]
pub(crate) struct AlertRow {
    id: i64,
    rule: String,
    subject: String,
    severity: String,
    status: String,
    count: i64,
    first_seen_at: i64,
    last_seen_at: i64,
    acknowledged_at: Option<i64>,
    acknowledged_by: Option<String>,
    resolved_at: Option<i64>,
    last_emailed_at: Option<i64>,
    sample_event_ids: sqlx::types::Json<Vec<i64>>,
}

impl TryFrom<AlertRow> for Alert {
    type Error = StoreError;
    fn try_from(r: AlertRow) -> Result<Self, StoreError> {
        Ok(Alert {
            id: r.id,
            rule: r.rule,
            subject: r.subject,
            severity: Severity::parse(&r.severity)
                .ok_or_else(|| StoreError::Internal(format!("unknown alert severity `{}`", r.severity)))?,
            status: AlertStatus::parse(&r.status)
                .ok_or_else(|| StoreError::Internal(format!("unknown alert status `{}`", r.status)))?,
            count: r.count,
            first_seen_at: from_millis(r.first_seen_at),
            last_seen_at: from_millis(r.last_seen_at),
            acknowledged_at: r.acknowledged_at.map(from_millis),
            acknowledged_by: r.acknowledged_by,
            resolved_at: r.resolved_at.map(from_millis),
            last_emailed_at: r.last_emailed_at.map(from_millis),
            sample_event_ids: r.sample_event_ids.0,
        })
    }
}

/// Decode alert rows.
pub(crate) fn alerts(rows: Vec<AlertRow>) -> Result<Vec<Alert>, StoreError> {
    rows.into_iter().map(TryInto::try_into).collect()
}

/// An alert to insert.
#[derive(Debug, Clone)]
pub struct NewAlert {
    /// Rule name.
    pub rule: String,
    /// IP key, dependency name, or `*`.
    pub subject: String,
    /// The rule's severity.
    pub severity: Severity,
    /// Matching events so far.
    pub count: i64,
    /// First matching event.
    pub first_seen_at: DateTime<Utc>,
    /// Latest matching event.
    pub last_seen_at: DateTime<Utc>,
    /// Sample audit event ids.
    pub sample_event_ids: Vec<i64>,
}

/// An email to queue in the outbox.
#[derive(Debug, Clone)]
pub struct NewNotification {
    /// What it is about.
    pub kind: NotificationKind,
    /// Comma-separated addresses.
    pub recipients: String,
    /// Subject line.
    pub subject_line: String,
    /// Plain-text body.
    pub body: String,
    /// Queued at (also the first attempt time).
    pub created_at: DateTime<Utc>,
}

/// What an outbox email is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NotificationKind {
    /// One critical alert, mailed when raised.
    Alert,
    /// The warnings of the last period, mailed together.
    Digest,
}

impl NotificationKind {
    /// The stored form.
    pub const fn as_str(self) -> &'static str {
        match self {
            NotificationKind::Alert => "alert",
            NotificationKind::Digest => "digest",
        }
    }

    /// Parse the stored form.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "alert" => Some(NotificationKind::Alert),
            "digest" => Some(NotificationKind::Digest),
            _ => None,
        }
    }
}

/// Where an outbox email is in its delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NotificationStatus {
    /// Waiting for its next attempt.
    Pending,
    /// Delivered.
    Sent,
    /// Given up after the last attempt.
    Failed,
}

impl NotificationStatus {
    /// The stored form.
    pub const fn as_str(self) -> &'static str {
        match self {
            NotificationStatus::Pending => "pending",
            NotificationStatus::Sent => "sent",
            NotificationStatus::Failed => "failed",
        }
    }

    /// Parse the stored form.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(NotificationStatus::Pending),
            "sent" => Some(NotificationStatus::Sent),
            "failed" => Some(NotificationStatus::Failed),
            _ => None,
        }
    }
}

/// An outbox row.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Notification {
    /// Row id.
    pub id: i64,
    /// What it is about.
    pub kind: NotificationKind,
    /// The alert, for `alert` mails.
    pub alert_id: Option<i64>,
    /// Comma-separated addresses.
    pub recipients: String,
    /// Subject line.
    pub subject_line: String,
    /// Plain-text body.
    pub body: String,
    /// Where its delivery is.
    pub status: NotificationStatus,
    /// Delivery attempts so far.
    pub attempts: i64,
    /// Next attempt (Unix ms).
    pub next_attempt_at: i64,
    /// Last failure.
    pub last_error: Option<String>,
    /// Queued (Unix ms).
    pub created_at: i64,
    /// Delivered (Unix ms).
    pub sent_at: Option<i64>,
}

/// The columns of an outbox row, as every query that reads the outbox selects them.
#[derive(sqlx::FromRow)]
pub(crate) struct NotificationRow {
    id: i64,
    kind: String,
    alert_id: Option<i64>,
    recipients: String,
    subject_line: String,
    body: String,
    status: String,
    attempts: i64,
    next_attempt_at: i64,
    last_error: Option<String>,
    created_at: i64,
    sent_at: Option<i64>,
}

impl TryFrom<NotificationRow> for Notification {
    type Error = StoreError;
    fn try_from(r: NotificationRow) -> Result<Self, StoreError> {
        Ok(Notification {
            id: r.id,
            kind: NotificationKind::parse(&r.kind)
                .ok_or_else(|| StoreError::Internal(format!("unknown notification kind `{}`", r.kind)))?,
            alert_id: r.alert_id,
            recipients: r.recipients,
            subject_line: r.subject_line,
            body: r.body,
            status: NotificationStatus::parse(&r.status)
                .ok_or_else(|| StoreError::Internal(format!("unknown notification status `{}`", r.status)))?,
            attempts: r.attempts,
            next_attempt_at: r.next_attempt_at,
            last_error: r.last_error,
            created_at: r.created_at,
            sent_at: r.sent_at,
        })
    }
}

/// Decode outbox rows.
pub(crate) fn notifications(rows: Vec<NotificationRow>) -> Result<Vec<Notification>, StoreError> {
    rows.into_iter().map(TryInto::try_into).collect()
}

/// An audit event as the detection rules see it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RecentEvent {
    /// Audit event id (kept as a sample on the alert).
    pub id: i64,
    /// When it happened (Unix ms).
    pub occurred_at: i64,
    /// Client IP (the subject of per-IP rules).
    pub ip: Option<String>,
    /// Event-specific facts (e.g. the refused route).
    pub metadata: sqlx::types::Json<serde_json::Value>,
}

/// Alerts and the outbox.
#[async_trait::async_trait]
pub trait AlertStore: Send + Sync {
    /// Up to `limit` events of `event_type` at or after `since`, newest first.
    async fn recent_events(
        &self,
        event_type: &str,
        since: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<RecentEvent>, StoreError>;
    /// Alerts not resolved.
    async fn live_alerts(&self) -> Result<Vec<Alert>, StoreError>;
    /// When an email was last queued for any alert of (rule, subject).
    async fn last_emailed_at(&self, rule: &str, subject: &str) -> Result<Option<DateTime<Utc>>, StoreError>;
    /// Insert an alert, its `alert.raised` event (its metadata gets `alert_id`) and, when
    /// given, its email (then `last_emailed_at` = the email's time), in one transaction.
    async fn raise_alert(
        &self,
        alert: &NewAlert,
        event: &NewEvent,
        email: Option<&NewNotification>,
    ) -> Result<i64, StoreError>;
    /// Record repeats of a live alert and, when given, queue its email.
    async fn update_alert(
        &self,
        id: i64,
        count: i64,
        last_seen_at: DateTime<Utc>,
        sample_event_ids: &[i64],
        email: Option<&NewNotification>,
    ) -> Result<(), StoreError>;
    /// Mark an alert resolved.
    async fn resolve_alert(&self, id: i64, at: DateTime<Utc>) -> Result<(), StoreError>;
    /// Warning alerts seen after `since` whose (rule, subject) was not emailed after
    /// `emailed_before` (the cooldown spans resolved and re-raised alerts too).
    async fn digest_candidates(
        &self,
        since: DateTime<Utc>,
        emailed_before: DateTime<Utc>,
    ) -> Result<Vec<Alert>, StoreError>;
    /// Queue a digest and mark its alerts emailed, in one transaction.
    async fn queue_digest(&self, email: &NewNotification, alert_ids: &[i64]) -> Result<i64, StoreError>;
    /// When the last digest was queued.
    async fn last_digest_at(&self) -> Result<Option<DateTime<Utc>>, StoreError>;
    /// Pending emails due at `now`, oldest first.
    async fn due_notifications(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<Notification>, StoreError>;
    /// Record a delivery and its `notification.sent` event.
    async fn mark_notification_sent(&self, id: i64, at: DateTime<Utc>, event: &NewEvent) -> Result<(), StoreError>;
    /// Record a failed attempt and its `notification.failed` event; `give_up` makes it `failed`.
    async fn mark_notification_failed(
        &self,
        id: i64,
        next_attempt_at: DateTime<Utc>,
        error: &str,
        give_up: bool,
        event: &NewEvent,
    ) -> Result<(), StoreError>;
    /// Newest outbox rows first.
    async fn list_notifications(&self, limit: u32) -> Result<Vec<Notification>, StoreError>;
}

macro_rules! insert_notification {
    ($q:ident, $tx:expr, $n:expr, $alert_id:expr) => {{
        let id: i64 = sqlx::query_scalar($q::INSERT_NOTIFICATION)
            .bind($n.kind.as_str())
            .bind($alert_id)
            .bind($n.recipients.as_str())
            .bind($n.subject_line.as_str())
            .bind($n.body.as_str())
            .bind($n.created_at.timestamp_millis())
            .fetch_one(&mut *$tx)
            .await?;
        id
    }};
}

macro_rules! alert_store_impl {
    ($store:ty, $sql:path) => {
        #[async_trait::async_trait]
        impl crate::store::alerts::AlertStore for $store {
            async fn recent_events(
                &self,
                event_type: &str,
                since: chrono::DateTime<chrono::Utc>,
                limit: u32,
            ) -> Result<Vec<crate::store::alerts::RecentEvent>, crate::store::StoreError> {
                use $sql as q;
                Ok(sqlx::query_as(q::RECENT_EVENTS)
                    .bind(event_type)
                    .bind(since.timestamp_millis())
                    .bind(i64::from(limit.max(1)))
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn live_alerts(&self) -> Result<Vec<crate::store::alerts::Alert>, crate::store::StoreError> {
                use $sql as q;
                let rows: Vec<crate::store::alerts::AlertRow> =
                    sqlx::query_as(q::LIVE_ALERTS).fetch_all(&self.pool).await?;
                crate::store::alerts::alerts(rows)
            }

            async fn last_emailed_at(
                &self,
                rule: &str,
                subject: &str,
            ) -> Result<Option<chrono::DateTime<chrono::Utc>>, crate::store::StoreError> {
                use $sql as q;
                let at: Option<i64> = sqlx::query_scalar(q::LAST_EMAILED)
                    .bind(rule)
                    .bind(subject)
                    .fetch_one(&self.pool)
                    .await?;
                Ok(at.map(crate::domain::from_millis))
            }

            async fn raise_alert(
                &self,
                alert: &crate::store::alerts::NewAlert,
                event: &crate::audit::NewEvent,
                email: Option<&crate::store::alerts::NewNotification>,
            ) -> Result<i64, crate::store::StoreError> {
                use $sql as q;
                let mut tx = self.begin_write().await?;
                let id: i64 = sqlx::query_scalar(q::INSERT_ALERT)
                    .bind(alert.rule.as_str())
                    .bind(alert.subject.as_str())
                    .bind(alert.severity.as_str())
                    .bind(alert.count)
                    .bind(alert.first_seen_at.timestamp_millis())
                    .bind(alert.last_seen_at.timestamp_millis())
                    .bind(email.map(|n| n.created_at.timestamp_millis()))
                    .bind(sqlx::types::Json(&alert.sample_event_ids))
                    .fetch_one(&mut *tx)
                    .await?;
                let mut meta = event.metadata.clone();
                if let serde_json::Value::Object(m) = &mut meta {
                    m.insert("alert_id".into(), id.into());
                }
                Self::insert_event(&mut tx, event, &meta).await?;
                if let Some(n) = email {
                    insert_notification!(q, tx, n, Some(id));
                }
                tx.commit().await?;
                Ok(id)
            }

            async fn update_alert(
                &self,
                id: i64,
                count: i64,
                last_seen_at: chrono::DateTime<chrono::Utc>,
                sample_event_ids: &[i64],
                email: Option<&crate::store::alerts::NewNotification>,
            ) -> Result<(), crate::store::StoreError> {
                use $sql as q;
                let mut tx = self.begin_write().await?;
                sqlx::query(q::UPDATE_ALERT)
                    .bind(count)
                    .bind(last_seen_at.timestamp_millis())
                    .bind(sqlx::types::Json(sample_event_ids))
                    .bind(email.map(|n| n.created_at.timestamp_millis()))
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                if let Some(n) = email {
                    insert_notification!(q, tx, n, Some(id));
                }
                tx.commit().await?;
                Ok(())
            }

            async fn resolve_alert(
                &self,
                id: i64,
                at: chrono::DateTime<chrono::Utc>,
            ) -> Result<(), crate::store::StoreError> {
                use $sql as q;
                let _gate = self.write_gate().await;
                sqlx::query(q::RESOLVE_ALERT)
                    .bind(at.timestamp_millis())
                    .bind(id)
                    .execute(&self.write_pool)
                    .await?;
                Ok(())
            }

            async fn digest_candidates(
                &self,
                since: chrono::DateTime<chrono::Utc>,
                emailed_before: chrono::DateTime<chrono::Utc>,
            ) -> Result<Vec<crate::store::alerts::Alert>, crate::store::StoreError> {
                use $sql as q;
                let rows: Vec<crate::store::alerts::AlertRow> = sqlx::query_as(q::DIGEST_CANDIDATES)
                    .bind(since.timestamp_millis())
                    .bind(emailed_before.timestamp_millis())
                    .fetch_all(&self.pool)
                    .await?;
                crate::store::alerts::alerts(rows)
            }

            async fn queue_digest(
                &self,
                email: &crate::store::alerts::NewNotification,
                alert_ids: &[i64],
            ) -> Result<i64, crate::store::StoreError> {
                use $sql as q;
                let mut tx = self.begin_write().await?;
                let id = insert_notification!(q, tx, email, None::<i64>);
                for alert in alert_ids {
                    sqlx::query(q::MARK_EMAILED)
                        .bind(email.created_at.timestamp_millis())
                        .bind(*alert)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(id)
            }

            async fn last_digest_at(&self) -> Result<Option<chrono::DateTime<chrono::Utc>>, crate::store::StoreError> {
                use $sql as q;
                let at: Option<i64> = sqlx::query_scalar(q::LAST_DIGEST).fetch_one(&self.pool).await?;
                Ok(at.map(crate::domain::from_millis))
            }

            async fn due_notifications(
                &self,
                now: chrono::DateTime<chrono::Utc>,
                limit: u32,
            ) -> Result<Vec<crate::store::alerts::Notification>, crate::store::StoreError> {
                use $sql as q;
                let rows = sqlx::query_as(q::DUE_NOTIFICATIONS)
                    .bind(now.timestamp_millis())
                    .bind(i64::from(limit.max(1)))
                    .fetch_all(&self.pool)
                    .await?;
                crate::store::alerts::notifications(rows)
            }

            async fn mark_notification_sent(
                &self,
                id: i64,
                at: chrono::DateTime<chrono::Utc>,
                event: &crate::audit::NewEvent,
            ) -> Result<(), crate::store::StoreError> {
                use $sql as q;
                let mut tx = self.begin_write().await?;
                sqlx::query(q::MARK_SENT)
                    .bind(at.timestamp_millis())
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                Self::insert_event(&mut tx, event, &event.metadata).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn mark_notification_failed(
                &self,
                id: i64,
                next_attempt_at: chrono::DateTime<chrono::Utc>,
                error: &str,
                give_up: bool,
                event: &crate::audit::NewEvent,
            ) -> Result<(), crate::store::StoreError> {
                use $sql as q;
                let mut tx = self.begin_write().await?;
                sqlx::query(q::MARK_FAILED)
                    .bind(
                        if give_up {
                            NotificationStatus::Failed
                        } else {
                            NotificationStatus::Pending
                        }
                        .as_str(),
                    )
                    .bind(next_attempt_at.timestamp_millis())
                    .bind(error)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                Self::insert_event(&mut tx, event, &event.metadata).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn list_notifications(
                &self,
                limit: u32,
            ) -> Result<Vec<crate::store::alerts::Notification>, crate::store::StoreError> {
                use $sql as q;
                let rows = sqlx::query_as(q::LIST_NOTIFICATIONS)
                    .bind(i64::from(limit.max(1)))
                    .fetch_all(&self.pool)
                    .await?;
                crate::store::alerts::notifications(rows)
            }
        }
    };
}

alert_store_impl!(crate::store::SqliteStore, sqlite_sql);
alert_store_impl!(crate::store::PgStore, pg_sql);

mod sqlite_sql {
    pub const INSERT_NOTIFICATION: &str = "INSERT INTO notifications \
        (kind, alert_id, recipients, subject_line, body, status, attempts, next_attempt_at, created_at) \
        VALUES (?1, ?2, ?3, ?4, ?5, 'pending', 0, ?6, ?6) RETURNING id";
    pub const RECENT_EVENTS: &str = "SELECT id, occurred_at, ip, metadata FROM audit_events \
        WHERE event_type = ?1 AND occurred_at >= ?2 ORDER BY id DESC LIMIT ?3";
    pub const LIVE_ALERTS: &str = "SELECT id, rule, subject, severity, status, count, first_seen_at, last_seen_at, \
        acknowledged_at, acknowledged_by, resolved_at, last_emailed_at, sample_event_ids \
        FROM alerts WHERE status <> 'resolved' ORDER BY id";
    pub const LAST_EMAILED: &str = "SELECT max(last_emailed_at) FROM alerts WHERE rule = ?1 AND subject = ?2";
    pub const INSERT_ALERT: &str = "INSERT INTO alerts (rule, subject, severity, status, count, first_seen_at, \
        last_seen_at, last_emailed_at, sample_event_ids) VALUES (?1, ?2, ?3, 'open', ?4, ?5, ?6, ?7, ?8) RETURNING id";
    pub const UPDATE_ALERT: &str = "UPDATE alerts SET count = ?1, last_seen_at = max(last_seen_at, ?2), \
        sample_event_ids = ?3, last_emailed_at = coalesce(?4, last_emailed_at) WHERE id = ?5";
    pub const RESOLVE_ALERT: &str =
        "UPDATE alerts SET status = 'resolved', resolved_at = ?1 WHERE id = ?2 AND status <> 'resolved'";
    pub const DIGEST_CANDIDATES: &str = "SELECT id, rule, subject, severity, status, count, first_seen_at, \
        last_seen_at, acknowledged_at, acknowledged_by, resolved_at, last_emailed_at, sample_event_ids \
        FROM alerts WHERE severity = 'warning' AND last_seen_at > ?1 \
        AND NOT EXISTS (SELECT 1 FROM alerts b WHERE b.rule = alerts.rule AND b.subject = alerts.subject \
        AND b.last_emailed_at > ?2) ORDER BY id";
    pub const MARK_EMAILED: &str = "UPDATE alerts SET last_emailed_at = ?1 WHERE id = ?2";
    pub const LAST_DIGEST: &str = "SELECT max(created_at) FROM notifications WHERE kind = 'digest'";
    pub const DUE_NOTIFICATIONS: &str = "SELECT id, kind, alert_id, recipients, subject_line, body, status, attempts, \
        next_attempt_at, last_error, created_at, sent_at FROM notifications \
        WHERE status = 'pending' AND next_attempt_at <= ?1 ORDER BY id LIMIT ?2";
    pub const MARK_SENT: &str = "UPDATE notifications SET status = 'sent', sent_at = ?1, attempts = attempts + 1, \
        last_error = NULL WHERE id = ?2";
    pub const MARK_FAILED: &str = "UPDATE notifications SET status = ?1, next_attempt_at = ?2, last_error = ?3, \
        attempts = attempts + 1 WHERE id = ?4";
    pub const LIST_NOTIFICATIONS: &str = "SELECT id, kind, alert_id, recipients, subject_line, body, status, \
        attempts, next_attempt_at, last_error, created_at, sent_at FROM notifications ORDER BY id DESC LIMIT ?1";
}

mod pg_sql {
    pub const INSERT_NOTIFICATION: &str = "INSERT INTO notifications \
        (kind, alert_id, recipients, subject_line, body, status, attempts, next_attempt_at, created_at) \
        VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $6) RETURNING id";
    pub const RECENT_EVENTS: &str = "SELECT id, occurred_at, ip, metadata FROM audit_events \
        WHERE event_type = $1 AND occurred_at >= $2 ORDER BY id DESC LIMIT $3";
    pub const LIVE_ALERTS: &str = "SELECT id, rule, subject, severity, status, count, first_seen_at, last_seen_at, \
        acknowledged_at, acknowledged_by, resolved_at, last_emailed_at, sample_event_ids \
        FROM alerts WHERE status <> 'resolved' ORDER BY id";
    pub const LAST_EMAILED: &str = "SELECT max(last_emailed_at) FROM alerts WHERE rule = $1 AND subject = $2";
    pub const INSERT_ALERT: &str = "INSERT INTO alerts (rule, subject, severity, status, count, first_seen_at, \
        last_seen_at, last_emailed_at, sample_event_ids) VALUES ($1, $2, $3, 'open', $4, $5, $6, $7, $8) RETURNING id";
    pub const UPDATE_ALERT: &str = "UPDATE alerts SET count = $1, last_seen_at = GREATEST(last_seen_at, $2), \
        sample_event_ids = $3, last_emailed_at = coalesce($4, last_emailed_at) WHERE id = $5";
    pub const RESOLVE_ALERT: &str =
        "UPDATE alerts SET status = 'resolved', resolved_at = $1 WHERE id = $2 AND status <> 'resolved'";
    pub const DIGEST_CANDIDATES: &str = "SELECT id, rule, subject, severity, status, count, first_seen_at, \
        last_seen_at, acknowledged_at, acknowledged_by, resolved_at, last_emailed_at, sample_event_ids \
        FROM alerts WHERE severity = 'warning' AND last_seen_at > $1 \
        AND NOT EXISTS (SELECT 1 FROM alerts b WHERE b.rule = alerts.rule AND b.subject = alerts.subject \
        AND b.last_emailed_at > $2) ORDER BY id";
    pub const MARK_EMAILED: &str = "UPDATE alerts SET last_emailed_at = $1 WHERE id = $2";
    pub const LAST_DIGEST: &str = "SELECT max(created_at) FROM notifications WHERE kind = 'digest'";
    pub const DUE_NOTIFICATIONS: &str = "SELECT id, kind, alert_id, recipients, subject_line, body, status, attempts, \
        next_attempt_at, last_error, created_at, sent_at FROM notifications \
        WHERE status = 'pending' AND next_attempt_at <= $1 ORDER BY id LIMIT $2";
    pub const MARK_SENT: &str = "UPDATE notifications SET status = 'sent', sent_at = $1, attempts = attempts + 1, \
        last_error = NULL WHERE id = $2";
    pub const MARK_FAILED: &str = "UPDATE notifications SET status = $1, next_attempt_at = $2, last_error = $3, \
        attempts = attempts + 1 WHERE id = $4";
    pub const LIST_NOTIFICATIONS: &str = "SELECT id, kind, alert_id, recipients, subject_line, body, status, \
        attempts, next_attempt_at, last_error, created_at, sent_at FROM notifications ORDER BY id DESC LIMIT $1";
}
