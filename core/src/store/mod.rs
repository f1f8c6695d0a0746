//! The one store interface both programs use, and its two implementations: SQLite (the
//! embedded default) and PostgreSQL (scale-out). The backend is picked once, from the URL
//! scheme, by [`connect`]. The Rust is shared (see `shared_impl!`); the SQL is per backend.

pub mod alerts;
pub mod backup;
mod batch;
pub mod chain;
pub mod console;
pub mod deletions;
pub mod jobs;
pub mod open;
mod postgres;
pub mod retention;
mod sqlite;
pub mod uploads;
pub mod webhooks;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::audit::{AuditEvent, AuditQuery, NewEvent};
use crate::config::DatabaseSettings;
use crate::domain::{Session, SessionStatus, Timeouts};

pub use postgres::PgStore;
pub use sqlite::SqliteStore;
pub use uploads::{UploadOp, UploadRecord, UploadStore, UploadTotals};

/// A store failure. The daemon answers `503 database_unavailable` for `Unavailable` and
/// `500 internal_error` for `Internal`; the cause goes to the log, never to a client.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached or refused the work (down, locked, disk full).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A bug: bad SQL, a row that does not decode, a failed migration.
    #[error("database error: {0}")]
    Internal(String),
    /// The database refused the data of one item (PostgreSQL's data exceptions, SQLSTATE class
    /// 22: a NUL in text, an unrepresentable character, a value out of range). Unlike
    /// `Unavailable` it says nothing about the database's health, so the writer retries the
    /// rest of the batch without the item (`writer.rs`) and only its request fails.
    #[error("the database refused a value: {0}")]
    Rejected(String),
    /// PostgreSQL ended this transaction to break a deadlock or a serialization conflict with
    /// another one (SQLSTATE 40P01, 40001): nothing of it was written and running it again is
    /// safe. Several daemons' batches, or a batch and a job, can lock the same rows in
    /// different orders; [`Store::commit_batch`] runs a batch again when it was the one ended.
    #[error("transaction conflict: {0}")]
    Conflict(String),
}

/// How many times [`Store::commit_batch`] runs a batch that lost a lock conflict
/// ([`StoreError::Conflict`]) before failing it.
pub const CONFLICT_RETRIES: u32 = 3;

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::Database(ref db) if db.code().is_some_and(|c| c.starts_with("22")) => {
                StoreError::Rejected(e.to_string())
            }
            sqlx::Error::Database(ref db) if db.code().is_some_and(|c| c == "40P01" || c == "40001") => {
                StoreError::Conflict(e.to_string())
            }
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
            | sqlx::Error::Database(_) => StoreError::Unavailable(e.to_string()),
            other => StoreError::Internal(other.to_string()),
        }
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        match e {
            // An older binary beside a database a newer sessiond has migrated: its queries may
            // not fit the schema, so it refuses to start (docs/deployment.md, "Upgrading").
            sqlx::migrate::MigrateError::VersionMissing(v) => StoreError::Internal(format!(
                "the database has migration {v}, which this sessiond ({}) does not know: a newer \
                 sessiond has upgraded it; run that version (or restore the backup taken before \
                 the upgrade)",
                env!("CARGO_PKG_VERSION")
            )),
            other => StoreError::Internal(format!("migration failed: {other}")),
        }
    }
}

/// Which database a store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite file.
    Sqlite,
    /// PostgreSQL server.
    Postgres,
}

/// One write handed to the group-commit writer. All ops of a batch commit in one transaction.
#[derive(Debug, Clone)]
pub enum WriteOp {
    /// Insert a new session and its event; a duplicate id is reported as
    /// [`OpOutcome::Collision`] and writes nothing.
    CreateSession {
        /// The new row.
        session: Session,
        /// Its `session.generated` event.
        event: NewEvent,
    },
    /// Refresh `last_seen_at` (never moving it backwards) and `last_ip` of an existing session.
    Touch {
        /// Session.
        id: Uuid,
        /// Time of the validation.
        at: DateTime<Utc>,
        /// Client IP.
        ip: Option<String>,
    },
    /// Mark a session revoked (idempotent) and write its event, with `previous_status` added
    /// to the event's metadata. Unknown id → [`OpOutcome::NotFound`], nothing written.
    Revoke {
        /// Session.
        id: Uuid,
        /// When.
        at: DateTime<Utc>,
        /// `client` or `admin:<name>`.
        by: String,
        /// Its `session.reset` event.
        event: NewEvent,
    },
    /// Validate a session inside the batch: look it up, and if it is live write `event`
    /// (`session.validated`) and refresh `last_seen_at` / `last_ip` when the stored value is
    /// `touch_interval` old or the IP changed ([`OpOutcome::Validated`]); otherwise write
    /// `event` turned into `session.validation_failed` with the reason ([`OpOutcome::Refused`]).
    Validate {
        /// Session.
        id: Uuid,
        /// Time of the validation.
        at: DateTime<Utc>,
        /// Client IP.
        ip: Option<String>,
        /// Expiry rules.
        timeouts: Timeouts,
        /// Resolution of the stored `last_seen_at`.
        touch_interval: chrono::Duration,
        /// Its `session.validated` event.
        event: NewEvent,
    },
    /// Write one audit event.
    Event(NewEvent),
    /// Insert or delete an upload row with its event (see [`UploadOp`]).
    Upload(UploadOp),
}

/// The result of one [`WriteOp`].
#[derive(Debug, Clone, PartialEq)]
pub enum OpOutcome {
    /// Written.
    Done,
    /// `CreateSession` hit an existing id.
    Collision,
    /// `Revoke` found the session in this status (and it is now revoked).
    Revoked {
        /// Status before the op.
        previous: SessionStatus,
    },
    /// `Revoke` found no such session.
    NotFound,
    /// `Validate` found the session live.
    Validated {
        /// The session as stored after the batch.
        session: Box<Session>,
        /// Whether the batch refreshed its `last_seen_at` / `last_ip`.
        touched: bool,
    },
    /// `Validate` refused the session.
    Refused(Refusal),
}

/// Why a validation refused a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No such session.
    NotFound,
    /// Reset.
    Revoked,
    /// Idle or too old.
    Expired,
}

impl Refusal {
    /// The `reason` recorded on its `session.validation_failed` event.
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::NotFound => "not_found",
            Refusal::Revoked => "revoked",
            Refusal::Expired => "expired",
        }
    }
}

/// Sessions per status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct StatusCounts {
    /// Stored as active.
    pub active: i64,
    /// Revoked.
    pub revoked: i64,
    /// Marked expired.
    pub expired: i64,
}

/// The store interface. Methods are small verbs; every query is a bound-parameter statement.
#[async_trait::async_trait]
pub trait Store:
    console::ConsoleStore
    + jobs::JobStore
    + alerts::AlertStore
    + retention::RetentionStore
    + deletions::DeletionStore
    + chain::ChainStore
    + webhooks::WebhookStore
    + UploadStore
    + Send
    + Sync
    + 'static
{
    /// Which database this is.
    fn backend(&self) -> Backend;
    /// The database, for display (password redacted).
    fn describe(&self) -> String;
    /// Apply pending migrations.
    async fn migrate(&self) -> Result<(), StoreError>;
    /// Cheap liveness check (`SELECT 1`).
    async fn ping(&self) -> Result<(), StoreError>;
    /// Commit one small write (a single row of its own), to learn whether writes work.
    async fn probe_write(&self) -> Result<(), StoreError>;
    /// Load one session.
    async fn get_session(&self, id: Uuid) -> Result<Option<Session>, StoreError>;
    /// Number and total bytes of a session's uploads.
    async fn upload_totals(&self, id: Uuid) -> Result<UploadTotals, StoreError>;
    /// Commit `ops` in one transaction; one outcome per op, in order.
    async fn commit_batch(&self, ops: &[WriteOp]) -> Result<Vec<OpOutcome>, StoreError>;
    /// A synchronous way to commit batches, for a writer running on its own thread (SQLite,
    /// whose connection is in-process); `None` when batches belong on the async runtime.
    fn sync_committer(&self) -> Option<Arc<dyn SyncCommit>>;
    /// Sessions per stored status.
    async fn count_sessions(&self) -> Result<StatusCounts, StoreError>;
    /// Audit events matching `q` (SQL in `store/console.rs`, shared with the console's pages
    /// and live tail).
    async fn list_audit(&self, q: &AuditQuery) -> Result<Vec<AuditEvent>, StoreError>;
    /// Connection pool occupancy (for metrics).
    fn pool_stats(&self) -> PoolStats;
    /// Close the pools (waits for connections to be returned).
    async fn close(&self);
}

/// A write transaction of the jobs, alerts and console stores. On SQLite it also holds the
/// store's write gate, a fair (FIFO) lock the group-commit writer takes for each batch too, so
/// under constant API load these transactions get their turn between batches instead of
/// retrying against SQLite's busy timeout. Dropped without `commit`, it rolls back. Never
/// submit to the writer while holding one: the writer would wait for the gate, and the holder
/// for the writer (store code never does; the writer is outside the store).
/// With the audit chain on, `commit` (per backend, `store/chain.rs`) first writes the link of
/// the events inserted through [`WriteTx`].
pub(crate) struct WriteTx<DB: sqlx::Database> {
    // Declared first so it drops (rolls back) before the gate opens.
    tx: sqlx::Transaction<'static, DB>,
    _gate: Option<tokio::sync::OwnedMutexGuard<()>>,
    /// The link of this transaction's events, when the chain is on.
    chain: Option<chain::ChainTx>,
}

impl<DB: sqlx::Database> WriteTx<DB> {
    pub(crate) fn new(
        tx: sqlx::Transaction<'static, DB>,
        gate: Option<tokio::sync::OwnedMutexGuard<()>>,
        chain: &chain::ChainSlot,
    ) -> Self {
        Self {
            tx,
            _gate: gate,
            chain: chain.begin(),
        }
    }
}

impl<DB: sqlx::Database> std::ops::Deref for WriteTx<DB> {
    type Target = DB::Connection;
    fn deref(&self) -> &DB::Connection {
        &self.tx
    }
}

impl<DB: sqlx::Database> std::ops::DerefMut for WriteTx<DB> {
    fn deref_mut(&mut self) -> &mut DB::Connection {
        &mut self.tx
    }
}

/// Commits group-commit batches without the async runtime (see [`Store::sync_committer`]),
/// in two steps so that a writer can commit the next batch while the last one is flushed:
/// [`SyncCommit::commit`] makes a batch visible, [`SyncCommit::flush`] makes every batch
/// committed before it durable. Nothing may be acknowledged between the two.
pub trait SyncCommit: Send + Sync {
    /// Commit `ops` in one transaction, blocking the calling thread; one outcome per op. The
    /// batch is visible to other connections but not yet durable.
    fn commit(&self, ops: &[WriteOp]) -> Result<Vec<OpOutcome>, StoreError>;
    /// Make every batch [`SyncCommit::commit`] has returned so far durable. After an error,
    /// the store refuses further commits: what was committed may be visible yet lost.
    fn flush(&self) -> Result<(), StoreError>;
}

/// Connection pool occupancy.
#[derive(Debug, Clone, Copy, Default)]
pub struct PoolStats {
    /// Open connections.
    pub size: u32,
    /// Idle connections.
    pub idle: usize,
    /// Configured maximum.
    pub max: u32,
}

/// Open the database named by `settings.url`: `sqlite://` or `postgres://`, creating a missing
/// SQLite file (the daemon's way; [`open::open_existing`] never creates one). Does not migrate.
pub async fn connect(settings: &DatabaseSettings) -> Result<Arc<dyn Store>, StoreError> {
    match settings.url.scheme().as_str() {
        "sqlite" => Ok(Arc::new(SqliteStore::connect(settings).await?)),
        "postgres" | "postgresql" => Ok(Arc::new(PgStore::connect(settings).await?)),
        other => Err(StoreError::Internal(format!("unsupported database scheme `{other}`"))),
    }
}

/// A session row as stored (timestamps as Unix milliseconds in both databases).
#[derive(sqlx::FromRow)]
pub(crate) struct SessionRow {
    id: Uuid,
    status: String,
    created_at: i64,
    last_seen_at: i64,
    ended_at: Option<i64>,
    ended_by: Option<String>,
    user_info: Option<sqlx::types::Json<serde_json::Value>>,
    created_ip: Option<String>,
    last_ip: Option<String>,
}

impl TryFrom<SessionRow> for Session {
    type Error = StoreError;
    fn try_from(r: SessionRow) -> Result<Self, StoreError> {
        use crate::domain::from_millis;
        Ok(Session {
            id: r.id,
            status: SessionStatus::parse(&r.status)
                .ok_or_else(|| StoreError::Internal(format!("unknown session status `{}`", r.status)))?,
            created_at: from_millis(r.created_at),
            last_seen_at: from_millis(r.last_seen_at),
            ended_at: r.ended_at.map(from_millis),
            ended_by: r.ended_by,
            user_info: r.user_info.map(|j| j.0),
            created_ip: r.created_ip,
            last_ip: r.last_ip,
        })
    }
}

#[derive(sqlx::FromRow)]
struct AuditRow {
    id: i64,
    occurred_at: i64,
    event_type: String,
    severity: String,
    session_id: Option<Uuid>,
    ip: Option<String>,
    user_agent: Option<String>,
    request_id: Option<String>,
    actor: String,
    metadata: sqlx::types::Json<serde_json::Value>,
}

impl From<AuditRow> for AuditEvent {
    fn from(r: AuditRow) -> Self {
        AuditEvent {
            id: r.id,
            occurred_at: crate::domain::from_millis(r.occurred_at),
            event_type: r.event_type,
            severity: r.severity,
            session_id: r.session_id,
            ip: r.ip,
            user_agent: r.user_agent,
            request_id: r.request_id,
            actor: r.actor,
            metadata: r.metadata.0,
        }
    }
}

/// The Rust shared by both backends. `$sql` is the backend's module of SQL constants, which
/// must define every statement named below with the same parameter order.
macro_rules! shared_impl {
    ($store:ty, $db:ty, $sql:path) => {
        use $sql as q;

        impl $store {
            /// Insert an audit event with `metadata` (instead of the event's own), adding it to
            /// the transaction's chain link.
            pub(crate) async fn insert_event(
                tx: &mut crate::store::WriteTx<$db>,
                e: &crate::audit::NewEvent,
                metadata: &serde_json::Value,
            ) -> Result<(), crate::store::StoreError> {
                let crate::store::WriteTx { tx: conn, chain, .. } = tx;
                Self::insert_event_on(&mut *conn, chain.as_mut(), e, metadata).await
            }
        }

        #[async_trait::async_trait]
        impl crate::store::Store for $store {
            fn backend(&self) -> crate::store::Backend {
                Self::BACKEND
            }

            fn describe(&self) -> String {
                self.url.redacted()
            }

            async fn migrate(&self) -> Result<(), crate::store::StoreError> {
                // PostgreSQL serializes concurrent migrators with an advisory lock; SQLite has
                // none, so a daemon racing another one over a fresh file retries: the second
                // attempt sees what the winner applied.
                let mut attempt = 0;
                loop {
                    match Self::MIGRATOR.run(&self.write_pool).await {
                        Ok(()) if Self::BACKEND == crate::store::Backend::Postgres => {
                            // Ids of linked events come from the chain's head, not the identity
                            // sequence: move it past them for writes with the chain off.
                            sqlx::query(crate::store::chain::pg_sql::ALIGN_ID_SEQUENCE)
                                .execute(&self.write_pool)
                                .await?;
                            return Ok(());
                        }
                        Ok(()) => return Ok(()),
                        Err(e)
                            if attempt < 5
                                && Self::BACKEND == crate::store::Backend::Sqlite
                                && !matches!(e, sqlx::migrate::MigrateError::VersionMissing(_)) =>
                        {
                            attempt += 1;
                            tracing::debug!(error = %e, attempt, "migration raced another process; retrying");
                            tokio::time::sleep(std::time::Duration::from_millis(50 * attempt)).await;
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
            }

            async fn ping(&self) -> Result<(), crate::store::StoreError> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }

            async fn probe_write(&self) -> Result<(), crate::store::StoreError> {
                let _gate = self.write_gate().await;
                sqlx::query(q::PROBE_WRITE)
                    .bind(crate::domain::now_millis().timestamp_millis())
                    .execute(&self.write_pool)
                    .await?;
                Ok(())
            }

            async fn get_session(
                &self,
                id: uuid::Uuid,
            ) -> Result<Option<crate::domain::Session>, crate::store::StoreError> {
                let row: Option<crate::store::SessionRow> = sqlx::query_as(q::GET_SESSION)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(TryInto::try_into).transpose()
            }

            async fn upload_totals(
                &self,
                id: uuid::Uuid,
            ) -> Result<crate::store::UploadTotals, crate::store::StoreError> {
                let (count, bytes): (i64, i64) = sqlx::query_as(q::UPLOAD_TOTALS)
                    .bind(id)
                    .fetch_one(&self.pool)
                    .await?;
                Ok(crate::store::UploadTotals { count, bytes })
            }

            async fn commit_batch(
                &self,
                ops: &[crate::store::WriteOp],
            ) -> Result<Vec<crate::store::OpOutcome>, crate::store::StoreError> {
                let mut attempt = 0;
                loop {
                    match self.commit_ops(ops).await {
                        // The deadlock's victim wrote nothing: run it again; the other
                        // transaction has its locks by now and this one waits for them.
                        Err(crate::store::StoreError::Conflict(e)) if attempt < crate::store::CONFLICT_RETRIES => {
                            attempt += 1;
                            tracing::info!(error = %e, attempt, "batch lost a lock conflict; running it again");
                        }
                        result => return result,
                    }
                }
            }

            fn sync_committer(&self) -> Option<std::sync::Arc<dyn crate::store::SyncCommit>> {
                Self::sync_committer(self)
            }

            async fn count_sessions(&self) -> Result<crate::store::StatusCounts, crate::store::StoreError> {
                let rows: Vec<(String, i64)> = sqlx::query_as(q::COUNT_SESSIONS).fetch_all(&self.pool).await?;
                let mut counts = crate::store::StatusCounts::default();
                for (status, n) in rows {
                    match status.as_str() {
                        "active" => counts.active = n,
                        "revoked" => counts.revoked = n,
                        "expired" => counts.expired = n,
                        _ => {}
                    }
                }
                Ok(counts)
            }

            async fn list_audit(
                &self,
                query: &crate::audit::AuditQuery,
            ) -> Result<Vec<crate::audit::AuditEvent>, crate::store::StoreError> {
                self.audit_events(query).await
            }

            fn pool_stats(&self) -> crate::store::PoolStats {
                crate::store::PoolStats {
                    size: self.pool.size(),
                    idle: self.pool.num_idle(),
                    max: self.pool.options().get_max_connections(),
                }
            }

            async fn close(&self) {
                self.pool.close().await;
                self.write_pool.close().await;
            }
        }
    };
}
pub(crate) use shared_impl;
