//! The webhook outbox (SPEC §5, `crate::webhooks`): per endpoint, a cursor into the audit
//! trail and one delivery row per matching event, `UNIQUE (endpoint, event_id)` so an event is
//! queued once per endpoint whatever happens to the job.

use crate::store::StoreError;

/// A delivery waiting to be sent.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Delivery {
    /// Row id (also the `webhook-id`).
    pub id: i64,
    /// Endpoint name.
    pub endpoint: String,
    /// The audit event delivered.
    pub event_id: i64,
    /// The JSON body.
    pub payload: String,
    /// Failed attempts so far.
    pub attempts: i64,
}

/// Deliveries per status, for the console and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct WebhookCounts {
    /// Waiting (first attempt or retry).
    pub pending: i64,
    /// Delivered.
    pub sent: i64,
    /// Given up after `max_attempts`.
    pub dead: i64,
}

/// What the webhook sender asks of the database.
#[async_trait::async_trait]
pub trait WebhookStore: Send + Sync {
    /// The last audit event id fed to `endpoint`, if it was ever fed.
    async fn webhook_cursor(&self, endpoint: &str) -> Result<Option<i64>, StoreError>;
    /// In one transaction: queue `rows` (event id, body) for `endpoint` and move its cursor to
    /// `cursor`. Returns the rows queued (an event already queued is skipped).
    async fn enqueue_webhooks(
        &self,
        endpoint: &str,
        rows: &[(i64, String)],
        cursor: i64,
        now_ms: i64,
    ) -> Result<u64, StoreError>;
    /// Up to `limit` pending deliveries due at `now_ms`, oldest first.
    async fn due_webhooks(&self, now_ms: i64, limit: u32) -> Result<Vec<Delivery>, StoreError>;
    /// Delivered.
    async fn mark_webhook_sent(&self, id: i64, at_ms: i64) -> Result<(), StoreError>;
    /// A failed attempt: retry at `next_ms`, or dead-letter it.
    async fn mark_webhook_failed(&self, id: i64, next_ms: i64, error: &str, dead: bool) -> Result<(), StoreError>;
    /// Deliveries per status.
    async fn webhook_counts(&self) -> Result<WebhookCounts, StoreError>;
}

macro_rules! webhooks_impl {
    ($store:ty, $sql:path) => {
        #[async_trait::async_trait]
        impl crate::store::webhooks::WebhookStore for $store {
            async fn webhook_cursor(&self, endpoint: &str) -> Result<Option<i64>, crate::store::StoreError> {
                use $sql as q;
                Ok(sqlx::query_scalar(q::CURSOR)
                    .bind(endpoint)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn enqueue_webhooks(
                &self,
                endpoint: &str,
                rows: &[(i64, String)],
                cursor: i64,
                now_ms: i64,
            ) -> Result<u64, crate::store::StoreError> {
                use $sql as q;
                let mut tx = self.begin_write().await?;
                let mut queued = 0;
                for (event_id, payload) in rows {
                    queued += sqlx::query(q::ENQUEUE)
                        .bind(endpoint)
                        .bind(*event_id)
                        .bind(payload.as_str())
                        .bind(now_ms)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                }
                sqlx::query(q::SET_CURSOR)
                    .bind(endpoint)
                    .bind(cursor)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(queued)
            }

            async fn due_webhooks(
                &self,
                now_ms: i64,
                limit: u32,
            ) -> Result<Vec<crate::store::webhooks::Delivery>, crate::store::StoreError> {
                use $sql as q;
                Ok(sqlx::query_as(q::DUE)
                    .bind(now_ms)
                    .bind(i64::from(limit.clamp(1, 1000)))
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn mark_webhook_sent(&self, id: i64, at_ms: i64) -> Result<(), crate::store::StoreError> {
                use $sql as q;
                let _gate = self.write_gate().await;
                sqlx::query(q::MARK_SENT)
                    .bind(at_ms)
                    .bind(id)
                    .execute(&self.write_pool)
                    .await?;
                Ok(())
            }

            async fn mark_webhook_failed(
                &self,
                id: i64,
                next_ms: i64,
                error: &str,
                dead: bool,
            ) -> Result<(), crate::store::StoreError> {
                use $sql as q;
                let _gate = self.write_gate().await;
                sqlx::query(q::MARK_FAILED)
                    .bind(if dead { "dead" } else { "pending" })
                    .bind(next_ms)
                    .bind(error)
                    .bind(id)
                    .execute(&self.write_pool)
                    .await?;
                Ok(())
            }

            async fn webhook_counts(&self) -> Result<crate::store::webhooks::WebhookCounts, crate::store::StoreError> {
                use $sql as q;
                let rows: Vec<(String, i64)> = sqlx::query_as(q::COUNTS).fetch_all(&self.pool).await?;
                let mut c = crate::store::webhooks::WebhookCounts::default();
                for (status, n) in rows {
                    match status.as_str() {
                        "pending" => c.pending = n,
                        "sent" => c.sent = n,
                        "dead" => c.dead = n,
                        _ => {}
                    }
                }
                Ok(c)
            }
        }
    };
}

pub(crate) mod sqlite_sql {
    pub const CURSOR: &str = "SELECT last_event_id FROM webhook_cursors WHERE endpoint = ?1";
    pub const ENQUEUE: &str = "INSERT INTO webhook_deliveries \
        (endpoint, event_id, payload, status, attempts, next_attempt_at, created_at) \
        VALUES (?1, ?2, ?3, 'pending', 0, ?4, ?4) ON CONFLICT (endpoint, event_id) DO NOTHING";
    pub const SET_CURSOR: &str = "INSERT INTO webhook_cursors (endpoint, last_event_id) VALUES (?1, ?2) \
        ON CONFLICT (endpoint) DO UPDATE SET last_event_id = excluded.last_event_id";
    pub const DUE: &str = "SELECT id, endpoint, event_id, payload, attempts FROM webhook_deliveries \
        WHERE status = 'pending' AND next_attempt_at <= ?1 ORDER BY next_attempt_at, id LIMIT ?2";
    pub const MARK_SENT: &str = "UPDATE webhook_deliveries SET status = 'sent', sent_at = ?1, \
        attempts = attempts + 1, last_error = NULL WHERE id = ?2";
    pub const MARK_FAILED: &str = "UPDATE webhook_deliveries SET status = ?1, next_attempt_at = ?2, \
        last_error = ?3, attempts = attempts + 1 WHERE id = ?4";
    pub const COUNTS: &str = "SELECT status, count(*) FROM webhook_deliveries GROUP BY status";
}

pub(crate) mod pg_sql {
    pub const CURSOR: &str = "SELECT last_event_id FROM webhook_cursors WHERE endpoint = $1";
    pub const ENQUEUE: &str = "INSERT INTO webhook_deliveries \
        (endpoint, event_id, payload, status, attempts, next_attempt_at, created_at) \
        VALUES ($1, $2, $3, 'pending', 0, $4, $4) ON CONFLICT (endpoint, event_id) DO NOTHING";
    pub const SET_CURSOR: &str = "INSERT INTO webhook_cursors (endpoint, last_event_id) VALUES ($1, $2) \
        ON CONFLICT (endpoint) DO UPDATE SET last_event_id = excluded.last_event_id";
    pub const DUE: &str = "SELECT id, endpoint, event_id, payload, attempts FROM webhook_deliveries \
        WHERE status = 'pending' AND next_attempt_at <= $1 ORDER BY next_attempt_at, id LIMIT $2";
    pub const MARK_SENT: &str = "UPDATE webhook_deliveries SET status = 'sent', sent_at = $1, \
        attempts = attempts + 1, last_error = NULL WHERE id = $2";
    pub const MARK_FAILED: &str = "UPDATE webhook_deliveries SET status = $1, next_attempt_at = $2, \
        last_error = $3, attempts = attempts + 1 WHERE id = $4";
    pub const COUNTS: &str = "SELECT status, count(*)::bigint FROM webhook_deliveries GROUP BY status";
}

webhooks_impl!(crate::store::SqliteStore, sqlite_sql);
webhooks_impl!(crate::store::PgStore, pg_sql);
