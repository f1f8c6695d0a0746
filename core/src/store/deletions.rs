//! `pending_object_deletions`: objects that must go, recorded in the same transaction as the
//! change that made them garbage, and removed by the `object_deletion` job
//! ([`crate::jobs::delete_pending_objects`]) once the object store confirms they are gone. A
//! record is a single object key (a deleted upload, an upload abandoned after its object was
//! stored) or a session's prefix `uploads/<session>/` (a reset, an expiry, a purge). Rust
//! shared, SQL per backend.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::domain::from_millis;
use crate::store::StoreError;

/// Why objects were queued (the `reason` column).
pub mod reason {
    /// `DELETE /api/session/<uuid>` or an administrator's reset.
    pub const SESSION_RESET: &str = "session_reset";
    /// The `session_expiry` job.
    pub const SESSION_EXPIRED: &str = "session_expired";
    /// `sessionctl sessions purge`.
    pub const SESSION_PURGED: &str = "session_purged";
    /// `DELETE /api/session/<uuid>/uploads/<id>`.
    pub const UPLOAD_DELETED: &str = "upload_deleted";
    /// An upload whose row was never committed (or was taken back) after its object was
    /// stored, or whose store write timed out and may still land.
    pub const UPLOAD_ABANDONED: &str = "upload_abandoned";
}

/// One queued deletion.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PendingDeletion {
    /// Row id.
    pub id: i64,
    /// An object key, or a prefix ending in `/`.
    pub target: String,
    /// See [`reason`].
    pub reason: String,
    /// Queued at.
    pub created_at: DateTime<Utc>,
    /// Failed attempts so far.
    pub attempts: i32,
    /// Not retried before.
    pub next_attempt_at: DateTime<Utc>,
    /// The last failure.
    pub last_error: Option<String>,
}

/// The queue at a glance (for the console).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct DeletionBacklog {
    /// Records waiting.
    pub pending: i64,
    /// Of which have failed at least once.
    pub failing: i64,
    /// When the oldest was queued.
    pub oldest: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct PendingRow {
    id: i64,
    target: String,
    reason: String,
    created_at: i64,
    attempts: i32,
    next_attempt_at: i64,
    last_error: Option<String>,
}

impl From<PendingRow> for PendingDeletion {
    fn from(r: PendingRow) -> Self {
        PendingDeletion {
            id: r.id,
            target: r.target,
            reason: r.reason,
            created_at: from_millis(r.created_at),
            attempts: r.attempts,
            next_attempt_at: from_millis(r.next_attempt_at),
            last_error: r.last_error,
        }
    }
}

/// The prefix queued for a session's objects.
pub fn session_target(session: Uuid) -> String {
    crate::storage::session_prefix(session)
}

/// Reading and working the queue. Records are *added* inside the transactions that make
/// objects garbage (see the `QUEUE_*` statements); [`DeletionStore::queue_object_deletion`] is
/// for an object that became garbage outside any transaction (an abandoned upload).
#[async_trait::async_trait]
pub trait DeletionStore: Send + Sync {
    /// Queue `target` (a key or a prefix) for deletion, due now.
    async fn queue_object_deletion(&self, target: &str, reason: &str, at: DateTime<Utc>) -> Result<(), StoreError>;
    /// Records due at `now`, oldest first.
    async fn due_object_deletions(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<PendingDeletion>, StoreError>;
    /// The objects of record `id` are gone: remove it.
    async fn finish_object_deletion(&self, id: i64) -> Result<(), StoreError>;
    /// An attempt failed: count it and retry at `next_attempt_at`.
    async fn retry_object_deletion(
        &self,
        id: i64,
        next_attempt_at: DateTime<Utc>,
        error: &str,
    ) -> Result<(), StoreError>;
    /// The objects of `target` were deleted outside the job (the request that queued them
    /// deleted them at once): remove its records; returns how many.
    async fn forget_object_deletions(&self, target: &str) -> Result<u64, StoreError>;
    /// How many records wait, and how many have failed.
    async fn object_deletion_backlog(&self) -> Result<DeletionBacklog, StoreError>;
    /// Every record, oldest first (console, tests).
    async fn list_object_deletions(&self, limit: u32) -> Result<Vec<PendingDeletion>, StoreError>;
    /// The records still waiting for `target` (e.g. a session's prefix), oldest first: the
    /// console tells "deletion queued" from "deleted" with it.
    async fn object_deletions_for(&self, target: &str) -> Result<Vec<PendingDeletion>, StoreError>;
}

macro_rules! deletion_impl {
    ($store:ty, $sql:ident) => {
        #[async_trait::async_trait]
        impl DeletionStore for $store {
            async fn queue_object_deletion(
                &self,
                target: &str,
                reason: &str,
                at: DateTime<Utc>,
            ) -> Result<(), StoreError> {
                let _gate = self.write_gate().await;
                sqlx::query($sql::QUEUE)
                    .bind(target)
                    .bind(reason)
                    .bind(at.timestamp_millis())
                    .execute(&self.write_pool)
                    .await?;
                Ok(())
            }

            async fn due_object_deletions(
                &self,
                now: DateTime<Utc>,
                limit: u32,
            ) -> Result<Vec<PendingDeletion>, StoreError> {
                let rows: Vec<PendingRow> = sqlx::query_as($sql::DUE)
                    .bind(now.timestamp_millis())
                    .bind(i64::from(limit.max(1)))
                    .fetch_all(&self.pool)
                    .await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn finish_object_deletion(&self, id: i64) -> Result<(), StoreError> {
                let _gate = self.write_gate().await;
                sqlx::query($sql::FINISH)
                    .bind(id)
                    .execute(&self.write_pool)
                    .await?;
                Ok(())
            }

            async fn retry_object_deletion(
                &self,
                id: i64,
                next_attempt_at: DateTime<Utc>,
                error: &str,
            ) -> Result<(), StoreError> {
                let _gate = self.write_gate().await;
                sqlx::query($sql::RETRY)
                    .bind(next_attempt_at.timestamp_millis())
                    .bind(error)
                    .bind(id)
                    .execute(&self.write_pool)
                    .await?;
                Ok(())
            }

            async fn forget_object_deletions(&self, target: &str) -> Result<u64, StoreError> {
                let _gate = self.write_gate().await;
                Ok(sqlx::query($sql::FORGET)
                    .bind(target)
                    .execute(&self.write_pool)
                    .await?
                    .rows_affected())
            }

            async fn object_deletion_backlog(&self) -> Result<DeletionBacklog, StoreError> {
                let (pending, failing, oldest): (i64, Option<i64>, Option<i64>) =
                    sqlx::query_as($sql::BACKLOG).fetch_one(&self.pool).await?;
                Ok(DeletionBacklog {
                    pending,
                    failing: failing.unwrap_or(0),
                    oldest: oldest.map(from_millis),
                })
            }

            async fn list_object_deletions(&self, limit: u32) -> Result<Vec<PendingDeletion>, StoreError> {
                let rows: Vec<PendingRow> = sqlx::query_as($sql::LIST)
                    .bind(i64::from(limit.max(1)))
                    .fetch_all(&self.pool)
                    .await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn object_deletions_for(&self, target: &str) -> Result<Vec<PendingDeletion>, StoreError> {
                let rows: Vec<PendingRow> = sqlx::query_as($sql::FOR_TARGET)
                    .bind(target)
                    .fetch_all(&self.pool)
                    .await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }
        }
    };
}

deletion_impl!(crate::store::SqliteStore, sqlite_sql);
deletion_impl!(crate::store::PgStore, pg_sql);

/// Queue a session's prefix inside a rusqlite transaction (the SQLite group-commit writer),
/// when the session has upload rows.
pub(crate) fn queue_session_rusqlite(
    tx: &rusqlite::Transaction<'_>,
    session: Uuid,
    reason: &str,
    at: i64,
) -> Result<(), StoreError> {
    tx.prepare_cached(sqlite_sql::QUEUE_SESSION)?
        .execute(rusqlite::params![
            session_target(session),
            reason,
            at,
            session.as_bytes().as_slice()
        ])?;
    Ok(())
}

/// Queue one upload's object inside a rusqlite transaction, when its row exists (run it
/// before the row is deleted).
pub(crate) fn queue_upload_rusqlite(
    tx: &rusqlite::Transaction<'_>,
    session: Uuid,
    upload: Uuid,
    reason: &str,
    at: i64,
) -> Result<(), StoreError> {
    tx.prepare_cached(sqlite_sql::QUEUE_UPLOAD)?.execute(rusqlite::params![
        reason,
        at,
        upload.as_bytes().as_slice(),
        session.as_bytes().as_slice()
    ])?;
    Ok(())
}

/// Queue a session's prefix inside a PostgreSQL transaction, when the session has uploads.
pub(crate) async fn queue_session_pg(
    tx: &mut sqlx::PgConnection,
    session: Uuid,
    reason: &str,
    at: i64,
) -> Result<(), StoreError> {
    sqlx::query(pg_sql::QUEUE_SESSION)
        .bind(session_target(session))
        .bind(reason)
        .bind(at)
        .bind(session)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Queue one upload's object inside a PostgreSQL transaction, when its row exists.
pub(crate) async fn queue_upload_pg(
    tx: &mut sqlx::PgConnection,
    session: Uuid,
    upload: Uuid,
    reason: &str,
    at: i64,
) -> Result<(), StoreError> {
    sqlx::query(pg_sql::QUEUE_UPLOAD)
        .bind(reason)
        .bind(at)
        .bind(upload)
        .bind(session)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

pub(crate) mod sqlite_sql {
    /// (target, reason, at, session)
    pub const QUEUE_SESSION: &str = "INSERT INTO pending_object_deletions \
        (target, reason, created_at, next_attempt_at) SELECT ?1, ?2, ?3, ?3 \
        WHERE EXISTS (SELECT 1 FROM uploads WHERE session_id = ?4)";
    /// (reason, at, upload, session)
    pub const QUEUE_UPLOAD: &str = "INSERT INTO pending_object_deletions \
        (target, reason, created_at, next_attempt_at) SELECT object_key, ?1, ?2, ?2 \
        FROM uploads WHERE id = ?3 AND session_id = ?4";
    pub const QUEUE: &str = "INSERT INTO pending_object_deletions \
        (target, reason, created_at, next_attempt_at) VALUES (?1, ?2, ?3, ?3)";
    pub const DUE: &str = "SELECT id, target, reason, created_at, attempts, next_attempt_at, last_error \
        FROM pending_object_deletions WHERE next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?";
    pub const FINISH: &str = "DELETE FROM pending_object_deletions WHERE id = ?";
    pub const RETRY: &str = "UPDATE pending_object_deletions SET attempts = attempts + 1, \
        next_attempt_at = ?, last_error = ? WHERE id = ?";
    pub const FORGET: &str = "DELETE FROM pending_object_deletions WHERE target = ?";
    pub const BACKLOG: &str = "SELECT count(*), sum(CASE WHEN attempts > 0 THEN 1 ELSE 0 END), \
        min(created_at) FROM pending_object_deletions";
    pub const LIST: &str = "SELECT id, target, reason, created_at, attempts, next_attempt_at, last_error \
        FROM pending_object_deletions ORDER BY id LIMIT ?";
    pub const FOR_TARGET: &str = "SELECT id, target, reason, created_at, attempts, next_attempt_at, last_error \
        FROM pending_object_deletions WHERE target = ? ORDER BY id";
}

pub(crate) mod pg_sql {
    /// (target, reason, at, session)
    pub const QUEUE_SESSION: &str = "INSERT INTO pending_object_deletions \
        (target, reason, created_at, next_attempt_at) SELECT $1, $2, $3, $3 \
        WHERE EXISTS (SELECT 1 FROM uploads WHERE session_id = $4)";
    /// (reason, at, upload, session)
    pub const QUEUE_UPLOAD: &str = "INSERT INTO pending_object_deletions \
        (target, reason, created_at, next_attempt_at) SELECT object_key, $1, $2, $2 \
        FROM uploads WHERE id = $3 AND session_id = $4";
    pub const QUEUE: &str = "INSERT INTO pending_object_deletions \
        (target, reason, created_at, next_attempt_at) VALUES ($1, $2, $3, $3)";
    pub const DUE: &str = "SELECT id, target, reason, created_at, attempts, next_attempt_at, last_error \
        FROM pending_object_deletions WHERE next_attempt_at <= $1 ORDER BY next_attempt_at, id LIMIT $2";
    pub const FINISH: &str = "DELETE FROM pending_object_deletions WHERE id = $1";
    pub const RETRY: &str = "UPDATE pending_object_deletions SET attempts = attempts + 1, \
        next_attempt_at = $1, last_error = $2 WHERE id = $3";
    pub const FORGET: &str = "DELETE FROM pending_object_deletions WHERE target = $1";
    pub const BACKLOG: &str = "SELECT count(*), sum(CASE WHEN attempts > 0 THEN 1 ELSE 0 END)::BIGINT, \
        min(created_at) FROM pending_object_deletions";
    pub const LIST: &str = "SELECT id, target, reason, created_at, attempts, next_attempt_at, last_error \
        FROM pending_object_deletions ORDER BY id LIMIT $1";
    pub const FOR_TARGET: &str = "SELECT id, target, reason, created_at, attempts, next_attempt_at, last_error \
        FROM pending_object_deletions WHERE target = $1 ORDER BY id";
}
