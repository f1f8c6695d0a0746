//! What the `session_expiry` and `retention` jobs ask of the database: small verbs, each one
//! short transaction over at most `limit` rows, so API writes never wait long behind them.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::audit::NewEvent;
use crate::store::StoreError;

/// A session whose stored IPs may need anonymizing.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionIps {
    /// Session.
    pub id: Uuid,
    /// Creation time (ms).
    pub created_at: i64,
    /// Last validation (ms).
    pub last_seen_at: i64,
    /// Creating address.
    pub created_ip: Option<String>,
    /// Last address.
    pub last_ip: Option<String>,
}

/// One IP column change, applied only if the column still holds `old`.
#[derive(Debug, Clone)]
pub struct IpChange<K> {
    /// Row key.
    pub id: K,
    /// Value read.
    pub old: String,
    /// Value to write (`None` for an address that does not parse).
    pub new: Option<String>,
}

/// Rows retention deletes once older than the audit cut-off, besides the audit events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OldRows {
    /// `sent` notifications, by when they were sent.
    SentNotifications,
    /// The console's run requests (`job_requests`: they name the operator who asked), by when
    /// they finished; a waiting one stays.
    RunRequests,
    /// Job runs, by when they finished; a run that never finished stays.
    JobRuns,
}

impl OldRows {
    /// Each kind, in the order retention deletes them.
    pub const ALL: [Self; 3] = [Self::SentNotifications, Self::RunRequests, Self::JobRuns];

    /// Its key in the retention run's counts.
    pub const fn count_key(self) -> &'static str {
        match self {
            Self::SentNotifications => "notifications_deleted",
            Self::RunRequests => "job_requests_deleted",
            Self::JobRuns => "job_runs_deleted",
        }
    }
}

/// Expiry and retention.
#[async_trait::async_trait]
pub trait RetentionStore: Send + Sync {
    /// Up to `limit` active sessions idle since before `idle_before` or created before
    /// `created_before`, oldest first.
    async fn expirable_sessions(
        &self,
        idle_before: DateTime<Utc>,
        created_before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Uuid>, StoreError>;
    /// In one transaction: mark each of `ids` expired if it is still active and still past a
    /// timeout, writing `event(id)` for each one marked. Returns the ids marked.
    async fn expire_sessions(
        &self,
        ids: &[Uuid],
        at: DateTime<Utc>,
        idle_before: DateTime<Utc>,
        created_before: DateTime<Utc>,
        event: &(dyn Fn(Uuid) -> NewEvent + Send + Sync),
    ) -> Result<Vec<Uuid>, StoreError>;
    /// Delete up to `limit` audit events older than `before`; returns how many.
    async fn delete_audit_before(&self, before: DateTime<Utc>, limit: u32) -> Result<u64, StoreError>;
    /// Delete up to `limit` of `rows` older than `before`, oldest first; returns how many.
    async fn delete_old(&self, rows: OldRows, before: DateTime<Utc>, limit: u32) -> Result<u64, StoreError>;
    /// Up to `limit` audit events with id > `after_id`, older than `before`, whose IP is
    /// not yet anonymized, by id.
    async fn audit_ips_to_anonymize(
        &self,
        after_id: i64,
        before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<(i64, String)>, StoreError>;
    /// Apply audit IP changes in one transaction (one statement).
    async fn set_audit_ips(&self, changes: &[IpChange<i64>]) -> Result<u64, StoreError>;
    /// Up to `limit` sessions with id > `after` holding an IP older than `before` that is not
    /// yet anonymized, by id.
    async fn session_ips_to_anonymize(
        &self,
        after: Option<Uuid>,
        before: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<SessionIps>, StoreError>;
    /// Apply session IP changes in one transaction.
    async fn set_session_ips(&self, created: &[IpChange<Uuid>], last: &[IpChange<Uuid>]) -> Result<u64, StoreError>;
}

macro_rules! retention_impl {
    ($store:ty, $sql:path) => {
        impl $store {
            /// One retention batch: `sql` deletes at most `limit` rows older than `before`, in
            /// its own short transaction.
            async fn delete_batch_before(
                &self,
                sql: &'static str,
                before: chrono::DateTime<chrono::Utc>,
                limit: u32,
            ) -> Result<u64, crate::store::StoreError> {
                let mut tx = self.begin_write().await?;
                let n = sqlx::query(sql)
                    .bind(before.timestamp_millis())
                    .bind(i64::from(limit.max(1)))
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                tx.commit().await?;
                Ok(n)
            }
        }

        #[async_trait::async_trait]
        impl crate::store::retention::RetentionStore for $store {
            async fn expirable_sessions(
                &self,
                idle_before: chrono::DateTime<chrono::Utc>,
                created_before: chrono::DateTime<chrono::Utc>,
                limit: u32,
            ) -> Result<Vec<uuid::Uuid>, crate::store::StoreError> {
                use $sql as q;
                let limit = i64::from(limit.max(1));
                let mut ids: Vec<uuid::Uuid> = sqlx::query_scalar(q::IDLE_SESSIONS)
                    .bind(idle_before.timestamp_millis())
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?;
                let old: Vec<uuid::Uuid> = sqlx::query_scalar(q::OLD_SESSIONS)
                    .bind(created_before.timestamp_millis())
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?;
                for id in old {
                    if !ids.contains(&id) {
                        ids.push(id);
                    }
                }
                ids.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
                Ok(ids)
            }

            async fn expire_sessions(
                &self,
                ids: &[uuid::Uuid],
                at: chrono::DateTime<chrono::Utc>,
                idle_before: chrono::DateTime<chrono::Utc>,
                created_before: chrono::DateTime<chrono::Utc>,
                event: &(dyn Fn(uuid::Uuid) -> crate::audit::NewEvent + Send + Sync),
            ) -> Result<Vec<uuid::Uuid>, crate::store::StoreError> {
                use $sql as q;
                let mut tx = self.begin_write().await?;
                let mut done = Vec::new();
                for id in ids {
                    let n = sqlx::query(q::EXPIRE_SESSION)
                        .bind(at.timestamp_millis())
                        .bind(*id)
                        .bind(idle_before.timestamp_millis())
                        .bind(created_before.timestamp_millis())
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    if n == 1 {
                        // Its objects are queued for deletion in the same transaction.
                        sqlx::query(q::QUEUE_SESSION_DELETION)
                            .bind(crate::store::deletions::session_target(*id))
                            .bind(crate::store::deletions::reason::SESSION_EXPIRED)
                            .bind(at.timestamp_millis())
                            .bind(*id)
                            .execute(&mut *tx)
                            .await?;
                        let e = event(*id);
                        Self::insert_event(&mut tx, &e, &e.metadata).await?;
                        done.push(*id);
                    }
                }
                tx.commit().await?;
                Ok(done)
            }

            async fn delete_audit_before(
                &self,
                before: chrono::DateTime<chrono::Utc>,
                limit: u32,
            ) -> Result<u64, crate::store::StoreError> {
                use $sql as q;
                self.delete_batch_before(q::DELETE_AUDIT_BEFORE, before, limit).await
            }

            async fn delete_old(
                &self,
                rows: crate::store::retention::OldRows,
                before: chrono::DateTime<chrono::Utc>,
                limit: u32,
            ) -> Result<u64, crate::store::StoreError> {
                use crate::store::retention::OldRows;
                use $sql as q;
                let sql = match rows {
                    OldRows::SentNotifications => q::DELETE_SENT_NOTIFICATIONS_BEFORE,
                    OldRows::RunRequests => q::DELETE_RUN_REQUESTS_BEFORE,
                    OldRows::JobRuns => q::DELETE_JOB_RUNS_BEFORE,
                };
                self.delete_batch_before(sql, before, limit).await
            }

            async fn audit_ips_to_anonymize(
                &self,
                after_id: i64,
                before: chrono::DateTime<chrono::Utc>,
                limit: u32,
            ) -> Result<Vec<(i64, String)>, crate::store::StoreError> {
                use $sql as q;
                Ok(sqlx::query_as(q::AUDIT_IPS_TO_ANONYMIZE)
                    .bind(after_id)
                    .bind(before.timestamp_millis())
                    .bind(i64::from(limit.max(1)))
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn set_audit_ips(
                &self,
                changes: &[crate::store::retention::IpChange<i64>],
            ) -> Result<u64, crate::store::StoreError> {
                use $sql as q;
                if changes.is_empty() {
                    return Ok(0);
                }
                let rows: Vec<serde_json::Value> = changes
                    .iter()
                    .map(|c| serde_json::json!({ "id": c.id, "old": c.old, "ip": c.new }))
                    .collect();
                let mut tx = self.begin_write().await?;
                let n = sqlx::query(q::SET_AUDIT_IPS)
                    .bind(sqlx::types::Json(serde_json::Value::Array(rows)))
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                // Anonymizing is a legitimate change: the chain keeps the original's digest.
                if let Some(keys) = crate::store::chain::ChainStore::chain_keys(self) {
                    for c in changes {
                        Self::chain_redact_ip(&mut tx, keys.current(), c.id, &c.old, c.new.as_deref()).await?;
                    }
                }
                tx.commit().await?;
                Ok(n)
            }

            async fn session_ips_to_anonymize(
                &self,
                after: Option<uuid::Uuid>,
                before: chrono::DateTime<chrono::Utc>,
                limit: u32,
            ) -> Result<Vec<crate::store::retention::SessionIps>, crate::store::StoreError> {
                use $sql as q;
                Ok(sqlx::query_as(q::SESSION_IPS_TO_ANONYMIZE)
                    .bind(after)
                    .bind(before.timestamp_millis())
                    .bind(i64::from(limit.max(1)))
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn set_session_ips(
                &self,
                created: &[crate::store::retention::IpChange<uuid::Uuid>],
                last: &[crate::store::retention::IpChange<uuid::Uuid>],
            ) -> Result<u64, crate::store::StoreError> {
                use $sql as q;
                if created.is_empty() && last.is_empty() {
                    return Ok(0);
                }
                let mut tx = self.begin_write().await?;
                let mut n = 0;
                for (sql, changes) in [(q::SET_CREATED_IP, created), (q::SET_LAST_IP, last)] {
                    for c in changes {
                        n += sqlx::query(sql)
                            .bind(c.new.as_deref())
                            .bind(c.id)
                            .bind(c.old.as_str())
                            .execute(&mut *tx)
                            .await?
                            .rows_affected();
                    }
                }
                tx.commit().await?;
                Ok(n)
            }
        }
    };
}

retention_impl!(crate::store::SqliteStore, sqlite_sql);
retention_impl!(crate::store::PgStore, pg_sql);

// An anonymized IPv4 address ends in `.0.0`; an anonymized IPv6 address has its last 80 bits
// zero, which the canonical (RFC 5952) text form writes as at most three groups and a trailing
// `::`. Rows already in that
// form are skipped, which makes the job idempotent and lets a re-run skip finished work.
mod sqlite_sql {
    pub const IDLE_SESSIONS: &str = "SELECT id FROM user_sessions WHERE status = 'active' AND last_seen_at < ?1 \
        ORDER BY last_seen_at LIMIT ?2";
    pub const OLD_SESSIONS: &str = "SELECT id FROM user_sessions WHERE status = 'active' AND created_at < ?1 \
        ORDER BY created_at LIMIT ?2";
    pub const QUEUE_SESSION_DELETION: &str = crate::store::deletions::sqlite_sql::QUEUE_SESSION;
    pub const EXPIRE_SESSION: &str = "UPDATE user_sessions SET status = 'expired', ended_at = ?1, ended_by = 'system' \
        WHERE id = ?2 AND status = 'active' AND (last_seen_at < ?3 OR created_at < ?4)";
    pub const DELETE_AUDIT_BEFORE: &str = "DELETE FROM audit_events WHERE id IN \
        (SELECT id FROM audit_events WHERE occurred_at < ?1 ORDER BY occurred_at LIMIT ?2)";
    pub const DELETE_SENT_NOTIFICATIONS_BEFORE: &str = "DELETE FROM notifications WHERE id IN \
        (SELECT id FROM notifications WHERE status = 'sent' AND sent_at < ?1 ORDER BY id LIMIT ?2)";
    // By id from the oldest: the finished ones come first, so a batch reads about `limit` rows.
    pub const DELETE_RUN_REQUESTS_BEFORE: &str = "DELETE FROM job_requests WHERE id IN \
        (SELECT id FROM job_requests WHERE finished_at < ?1 ORDER BY id LIMIT ?2)";
    pub const DELETE_JOB_RUNS_BEFORE: &str = "DELETE FROM job_runs WHERE id IN \
        (SELECT id FROM job_runs WHERE finished_at < ?1 ORDER BY id LIMIT ?2)";
    pub const AUDIT_IPS_TO_ANONYMIZE: &str = "SELECT id, ip FROM audit_events \
        WHERE id > ?1 AND occurred_at < ?2 AND ip IS NOT NULL AND ip NOT LIKE '%.0.0' AND (ip NOT LIKE '%::' OR ip LIKE '%:%:%:%::') \
        ORDER BY id LIMIT ?3";
    pub const SET_AUDIT_IPS: &str = "UPDATE audit_events SET ip = v.ip FROM \
        (SELECT json_extract(value, '$.id') AS id, json_extract(value, '$.old') AS old, \
        json_extract(value, '$.ip') AS ip FROM json_each(?1)) AS v \
        WHERE audit_events.id = v.id AND audit_events.ip = v.old";
    pub const SESSION_IPS_TO_ANONYMIZE: &str = "SELECT id, created_at, last_seen_at, created_ip, last_ip \
        FROM user_sessions WHERE (?1 IS NULL OR id > ?1) AND ( \
        (created_at < ?2 AND created_ip IS NOT NULL AND created_ip NOT LIKE '%.0.0' AND (created_ip NOT LIKE '%::' OR created_ip LIKE '%:%:%:%::')) \
        OR (last_seen_at < ?2 AND last_ip IS NOT NULL AND last_ip NOT LIKE '%.0.0' AND (last_ip NOT LIKE '%::' OR last_ip LIKE '%:%:%:%::'))) \
        ORDER BY id LIMIT ?3";
    pub const SET_CREATED_IP: &str = "UPDATE user_sessions SET created_ip = ?1 WHERE id = ?2 AND created_ip = ?3";
    pub const SET_LAST_IP: &str = "UPDATE user_sessions SET last_ip = ?1 WHERE id = ?2 AND last_ip = ?3";
}

mod pg_sql {
    pub const IDLE_SESSIONS: &str = "SELECT id FROM user_sessions WHERE status = 'active' AND last_seen_at < $1 \
        ORDER BY last_seen_at LIMIT $2";
    pub const OLD_SESSIONS: &str = "SELECT id FROM user_sessions WHERE status = 'active' AND created_at < $1 \
        ORDER BY created_at LIMIT $2";
    pub const QUEUE_SESSION_DELETION: &str = crate::store::deletions::pg_sql::QUEUE_SESSION;
    pub const EXPIRE_SESSION: &str = "UPDATE user_sessions SET status = 'expired', ended_at = $1, ended_by = 'system' \
        WHERE id = $2 AND status = 'active' AND (last_seen_at < $3 OR created_at < $4)";
    pub const DELETE_AUDIT_BEFORE: &str = "DELETE FROM audit_events WHERE id IN \
        (SELECT id FROM audit_events WHERE occurred_at < $1 ORDER BY occurred_at LIMIT $2)";
    pub const DELETE_SENT_NOTIFICATIONS_BEFORE: &str = "DELETE FROM notifications WHERE id IN \
        (SELECT id FROM notifications WHERE status = 'sent' AND sent_at < $1 ORDER BY id LIMIT $2)";
    pub const DELETE_RUN_REQUESTS_BEFORE: &str = "DELETE FROM job_requests WHERE id IN \
        (SELECT id FROM job_requests WHERE finished_at < $1 ORDER BY id LIMIT $2)";
    pub const DELETE_JOB_RUNS_BEFORE: &str = "DELETE FROM job_runs WHERE id IN \
        (SELECT id FROM job_runs WHERE finished_at < $1 ORDER BY id LIMIT $2)";
    pub const AUDIT_IPS_TO_ANONYMIZE: &str = "SELECT id, ip FROM audit_events \
        WHERE id > $1 AND occurred_at < $2 AND ip IS NOT NULL AND ip NOT LIKE '%.0.0' AND (ip NOT LIKE '%::' OR ip LIKE '%:%:%:%::') \
        ORDER BY id LIMIT $3";
    pub const SET_AUDIT_IPS: &str = "UPDATE audit_events a SET ip = v.ip \
        FROM jsonb_to_recordset($1::jsonb) AS v(id bigint, old text, ip text) \
        WHERE a.id = v.id AND a.ip = v.old";
    pub const SESSION_IPS_TO_ANONYMIZE: &str = "SELECT id, created_at, last_seen_at, created_ip, last_ip \
        FROM user_sessions WHERE ($1::uuid IS NULL OR id > $1) AND ( \
        (created_at < $2 AND created_ip IS NOT NULL AND created_ip NOT LIKE '%.0.0' AND (created_ip NOT LIKE '%::' OR created_ip LIKE '%:%:%:%::')) \
        OR (last_seen_at < $2 AND last_ip IS NOT NULL AND last_ip NOT LIKE '%.0.0' AND (last_ip NOT LIKE '%::' OR last_ip LIKE '%:%:%:%::'))) \
        ORDER BY id LIMIT $3";
    pub const SET_CREATED_IP: &str = "UPDATE user_sessions SET created_ip = $1 WHERE id = $2 AND created_ip = $3";
    pub const SET_LAST_IP: &str = "UPDATE user_sessions SET last_ip = $1 WHERE id = $2 AND last_ip = $3";
}
