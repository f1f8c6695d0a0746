//! Upload rows: the store side of PDF uploads. Rows are written only through the group-commit
//! writer ([`UploadOp`] inside [`crate::store::WriteOp::Upload`]), each with its audit event in
//! the same transaction; reads go through [`UploadStore`]. Rust shared, SQL per backend.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::audit::NewEvent;
use crate::store::{PgStore, SqliteStore, StoreError};

/// A session's uploads in sum ([`crate::store::Store::upload_totals`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct UploadTotals {
    /// How many uploads it has.
    pub count: i64,
    /// Their total size in bytes.
    pub bytes: i64,
}

/// One stored upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadRecord {
    /// Server-chosen UUID v4.
    pub id: Uuid,
    /// The session it belongs to.
    pub session_id: Uuid,
    /// Where the object lives (`uploads/<session>/<id>.pdf`).
    pub object_key: String,
    /// The client's filename, sanitized.
    pub filename: String,
    /// Size of the object in bytes.
    pub size: i64,
    /// Lower-case hex SHA-256 of the content.
    pub sha256: String,
    /// Always `application/pdf` today.
    pub content_type: String,
    /// When the row was committed.
    pub created_at: DateTime<Utc>,
}

/// Upload writes handed to the group-commit writer.
#[derive(Debug, Clone)]
pub enum UploadOp {
    /// Insert `upload` and `event`, but only while its session is stored as active and has
    /// fewer than `max_per_session` uploads; otherwise nothing is written and the outcome is
    /// [`crate::store::OpOutcome::NotFound`].
    Insert {
        /// The row.
        upload: UploadRecord,
        /// The session's quota.
        max_per_session: i64,
        /// Its `upload.accepted` event.
        event: NewEvent,
    },
    /// Delete the row `id` of `session` and write `event`; an unknown row is
    /// [`crate::store::OpOutcome::NotFound`] and writes nothing.
    Delete {
        /// The session the upload must belong to.
        session: Uuid,
        /// The upload's id.
        id: Uuid,
        /// Its `upload.deleted` event.
        event: NewEvent,
    },
}

/// Reading upload rows.
#[async_trait::async_trait]
pub trait UploadStore: Send + Sync + 'static {
    /// A session's uploads, newest first.
    async fn list_uploads(&self, session: Uuid) -> Result<Vec<UploadRecord>, StoreError>;
    /// One upload of a session.
    async fn get_upload(&self, session: Uuid, id: Uuid) -> Result<Option<UploadRecord>, StoreError>;
    /// Which of `object_keys` have an upload row, in one query (`upload_gc` deletes the
    /// objects that have none, a page at a time).
    async fn upload_keys_with_rows(&self, object_keys: &[&str]) -> Result<HashSet<String>, StoreError>;
}

#[derive(sqlx::FromRow)]
struct UploadRow {
    id: Uuid,
    session_id: Uuid,
    object_key: String,
    filename: String,
    size: i64,
    sha256: String,
    content_type: String,
    created_at: i64,
}

impl From<UploadRow> for UploadRecord {
    fn from(r: UploadRow) -> Self {
        UploadRecord {
            id: r.id,
            session_id: r.session_id,
            object_key: r.object_key,
            filename: r.filename,
            size: r.size,
            sha256: r.sha256,
            content_type: r.content_type,
            created_at: crate::domain::from_millis(r.created_at),
        }
    }
}

macro_rules! upload_impl {
    ($store:ty, $sql:ident) => {
        #[async_trait::async_trait]
        impl UploadStore for $store {
            async fn list_uploads(&self, session: Uuid) -> Result<Vec<UploadRecord>, StoreError> {
                let rows: Vec<UploadRow> = sqlx::query_as($sql::LIST_UPLOADS)
                    .bind(session)
                    .fetch_all(&self.pool)
                    .await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn get_upload(&self, session: Uuid, id: Uuid) -> Result<Option<UploadRecord>, StoreError> {
                let row: Option<UploadRow> = sqlx::query_as($sql::GET_UPLOAD)
                    .bind(id)
                    .bind(session)
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(row.map(Into::into))
            }

            async fn upload_keys_with_rows(&self, object_keys: &[&str]) -> Result<HashSet<String>, StoreError> {
                if object_keys.is_empty() {
                    return Ok(HashSet::new());
                }
                // The keys travel as one JSON array (see the SQL), so the statement is constant.
                let keys = serde_json::to_string(object_keys).map_err(|e| StoreError::Internal(e.to_string()))?;
                let found: Vec<String> = sqlx::query_scalar($sql::UPLOAD_KEYS_WITH_ROWS)
                    .bind(keys)
                    .fetch_all(&self.pool)
                    .await?;
                Ok(found.into_iter().collect())
            }
        }
    };
}

upload_impl!(SqliteStore, sqlite_sql);

// The SQLite writer applies upload ops on its own connection (`store/sqlite/batch.rs`).
impl PgStore {
    /// Apply one [`UploadOp`] inside the writer's transaction.
    pub(crate) async fn apply_upload(
        tx: &mut sqlx::PgConnection,
        chain: Option<&mut crate::store::chain::ChainTx>,
        op: &UploadOp,
    ) -> Result<crate::store::OpOutcome, StoreError> {
        use crate::store::OpOutcome;
        match op {
            UploadOp::Insert {
                upload: u,
                max_per_session,
                event,
            } => {
                let inserted = sqlx::query(pg_sql::INSERT_UPLOAD)
                    .bind(u.id)
                    .bind(u.session_id)
                    .bind(u.object_key.as_str())
                    .bind(u.filename.as_str())
                    .bind(u.size)
                    .bind(u.sha256.as_str())
                    .bind(u.content_type.as_str())
                    .bind(u.created_at.timestamp_millis())
                    .bind(*max_per_session)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if inserted == 0 {
                    return Ok(OpOutcome::NotFound);
                }
                Self::insert_event_on(tx, chain, event, &event.metadata).await?;
                Ok(OpOutcome::Done)
            }
            UploadOp::Delete { session, id, event } => {
                // The object is queued for deletion with the row's removal.
                let reason = crate::store::deletions::reason::UPLOAD_DELETED;
                let at = event.occurred_at.timestamp_millis();
                crate::store::deletions::queue_upload_pg(tx, *session, *id, reason, at).await?;
                let deleted = sqlx::query(pg_sql::DELETE_UPLOAD)
                    .bind(*id)
                    .bind(*session)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if deleted == 0 {
                    return Ok(OpOutcome::NotFound);
                }
                Self::insert_event_on(tx, chain, event, &event.metadata).await?;
                Ok(OpOutcome::Done)
            }
        }
    }
}

upload_impl!(PgStore, pg_sql);

pub(crate) mod sqlite_sql {
    pub const INSERT_UPLOAD: &str = "INSERT INTO uploads \
        (id, session_id, object_key, filename, size, sha256, content_type, created_at) \
        SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8 \
        WHERE EXISTS (SELECT 1 FROM user_sessions WHERE id = ?2 AND status = 'active') \
        AND (SELECT count(*) FROM uploads WHERE session_id = ?2) < ?9";
    pub const DELETE_UPLOAD: &str = "DELETE FROM uploads WHERE id = ? AND session_id = ?";
    pub const LIST_UPLOADS: &str = "SELECT id, session_id, object_key, filename, size, sha256, content_type, \
        created_at FROM uploads WHERE session_id = ? ORDER BY created_at DESC, rowid DESC";
    pub const GET_UPLOAD: &str = "SELECT id, session_id, object_key, filename, size, sha256, content_type, \
        created_at FROM uploads WHERE id = ? AND session_id = ?";
    pub const UPLOAD_KEYS_WITH_ROWS: &str =
        "SELECT object_key FROM uploads WHERE object_key IN (SELECT value FROM json_each(?1))";
}

mod pg_sql {
    pub const INSERT_UPLOAD: &str = "INSERT INTO uploads \
        (id, session_id, object_key, filename, size, sha256, content_type, created_at) \
        SELECT $1, $2, $3, $4, $5, $6, $7, $8 \
        WHERE EXISTS (SELECT 1 FROM user_sessions WHERE id = $2 AND status = 'active') \
        AND (SELECT count(*) FROM uploads WHERE session_id = $2) < $9";
    pub const DELETE_UPLOAD: &str = "DELETE FROM uploads WHERE id = $1 AND session_id = $2";
    pub const LIST_UPLOADS: &str = "SELECT id, session_id, object_key, filename, size, sha256, content_type, \
        created_at FROM uploads WHERE session_id = $1 ORDER BY created_at DESC, id DESC";
    pub const GET_UPLOAD: &str = "SELECT id, session_id, object_key, filename, size, sha256, content_type, \
        created_at FROM uploads WHERE id = $1 AND session_id = $2";
    pub const UPLOAD_KEYS_WITH_ROWS: &str =
        "SELECT object_key FROM uploads WHERE object_key IN (SELECT jsonb_array_elements_text($1::jsonb))";
}
