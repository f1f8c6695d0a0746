//! SQLite store: the embedded default. WAL journal, `synchronous = FULL` (a commit is on disk
//! before a 2xx), a busy timeout, and one dedicated write connection so the group-commit
//! writer never contends with itself; reads use a separate pool.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

use std::sync::Arc;

use crate::config::{DatabaseSettings, SecretUrl, SqliteSync};
use crate::store::chain::ChainSlot;
use crate::store::sqlite_batch::BatchDb;
use crate::store::{Backend, OpOutcome, StoreError, SyncCommit, WriteOp, WriteTx};

/// The SQLite implementation of [`crate::store::Store`].
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pub(crate) url: SecretUrl,
    pub(crate) pool: SqlitePool,
    pub(crate) write_pool: SqlitePool,
    batch: Arc<BatchDb>,
    gate: Arc<tokio::sync::Mutex<()>>,
    pub(crate) chain: ChainSlot,
}

impl SqliteStore {
    const BACKEND: Backend = Backend::Sqlite;
    const MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");

    /// Open (creating the file and its directory if missing) the database at `settings.url`.
    pub async fn connect(settings: &DatabaseSettings) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(settings.url.expose())
            .map_err(|e| StoreError::Internal(format!("database.url: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(match settings.sqlite_synchronous {
                SqliteSync::Full => SqliteSynchronous::Full,
                SqliteSync::Normal => SqliteSynchronous::Normal,
            })
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true)
            .pragma("temp_store", "memory")
            .pragma("cache_size", "-16000");
        if let Some(dir) = options.get_filename().parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Unavailable(format!("cannot create {}: {e}", dir.display())))?;
        }
        let write_pool = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(10))
            .test_before_acquire(false)
            .connect_with(options.clone())
            .await?;
        let pool = SqlitePoolOptions::new()
            .max_connections(settings.max_connections)
            .acquire_timeout(Duration::from_secs(5))
            .test_before_acquire(false)
            .connect_with(options.clone().read_only(false))
            .await?;
        let gate = Arc::new(tokio::sync::Mutex::new(()));
        let chain = ChainSlot::default();
        let batch = Arc::new(BatchDb::open(&options, settings, gate.clone(), chain.clone())?);
        Ok(Self {
            url: settings.url.clone(),
            pool,
            write_pool,
            batch,
            gate,
            chain,
        })
    }

    /// Take the write gate, then SQLite's write lock up front so a read-then-write transaction
    /// cannot fail to upgrade.
    pub(crate) async fn begin_write(&self) -> Result<WriteTx<sqlx::Sqlite>, StoreError> {
        let gate = self.write_gate().await;
        Ok(WriteTx::new(
            self.write_pool.begin_with("BEGIN IMMEDIATE").await?,
            gate,
            &self.chain,
        ))
    }

    /// The write gate, for single statements on the write pool (see [`WriteTx`]).
    pub(crate) async fn write_gate(&self) -> Option<tokio::sync::OwnedMutexGuard<()>> {
        Some(self.gate.clone().lock_owned().await)
    }

    /// Commit a group-commit batch on the batch connection, off the async runtime (the
    /// daemon's writer calls [`SqliteStore::sync_committer`] from its own thread instead).
    pub(crate) async fn commit_ops(&self, ops: &[WriteOp]) -> Result<Vec<OpOutcome>, StoreError> {
        let batch = self.batch.clone();
        let ops = ops.to_vec();
        tokio::task::spawn_blocking(move || {
            let outcomes = batch.commit(&ops)?;
            batch.flush()?;
            Ok(outcomes)
        })
        .await
        .map_err(|e| StoreError::Internal(format!("batch task failed: {e}")))?
    }

    /// The batch connection, for the writer's thread.
    pub(crate) fn sync_committer(&self) -> Option<Arc<dyn SyncCommit>> {
        Some(self.batch.clone())
    }

    /// The statements every API request runs, by name, for query-plan tests. Each takes the
    /// session id as its only parameter.
    pub const HOT_PATH: &'static [(&'static str, &'static str)] = &[
        ("get_session", sql::GET_SESSION),
        ("upload_totals", sql::UPLOAD_TOTALS),
        ("session_status", sql::SESSION_STATUS),
    ];

    /// The writer's row statements that read or change existing rows, for query-plan tests.
    /// Each takes the session id first.
    pub const BATCH_PATH: &'static [(&'static str, &'static str)] = &[
        ("touch_session", sql::TOUCH_SESSION),
        ("revoke_session", sql::REVOKE_SESSION),
    ];

    /// The read pool, for queries specific to this backend (tests, benchmarks).
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

crate::store::shared_impl!(SqliteStore, sqlx::Sqlite, sql);
crate::store::chain::chain_impl!(SqliteStore, sqlx::Sqlite, crate::store::chain::sqlite_sql);

pub(crate) mod sql {
    pub const PROBE_WRITE: &str =
        "INSERT INTO write_probe (id, at) VALUES (1, ?1) ON CONFLICT (id) DO UPDATE SET at = excluded.at";
    pub const INSERT_EVENT: &str = "INSERT INTO audit_events \
        (occurred_at, event_type, severity, session_id, ip, user_agent, request_id, actor, metadata) \
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)";
    // The writer's statements, one row each (cached on the batch connection).
    pub const INSERT_SESSION: &str = "INSERT INTO user_sessions \
        (id, status, created_at, last_seen_at, user_info, created_ip, last_ip) \
        VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (id) DO NOTHING";
    pub const TOUCH_SESSION: &str = "UPDATE user_sessions \
        SET last_seen_at = max(last_seen_at, ?2), last_ip = coalesce(?3, last_ip) WHERE id = ?1";
    pub const SESSION_STATUS: &str = "SELECT status FROM user_sessions WHERE id = ?";
    pub const REVOKE_SESSION: &str = "UPDATE user_sessions \
        SET status = 'revoked', ended_at = ?, ended_by = ? WHERE id = ?";
    pub const GET_SESSION: &str = "SELECT id, status, created_at, last_seen_at, ended_at, ended_by, \
        user_info, created_ip, last_ip FROM user_sessions WHERE id = ?";
    pub const UPLOAD_TOTALS: &str = "SELECT count(*), coalesce(sum(size), 0) FROM uploads WHERE session_id = ?";
    pub const COUNT_SESSIONS: &str = "SELECT status, count(*) FROM user_sessions GROUP BY status";
    pub const LIST_AUDIT_ASC: &str = "SELECT id, occurred_at, event_type, severity, session_id, ip, \
        user_agent, request_id, actor, metadata FROM audit_events \
        WHERE (?1 IS NULL OR id > ?1) AND (?2 IS NULL OR id < ?2) AND (?3 IS NULL OR session_id = ?3) \
        AND (?4 IS NULL OR request_id = ?4) AND (?5 IS NULL OR ip = ?5) AND (?6 IS NULL OR event_type = ?6) \
        ORDER BY id ASC LIMIT ?7";
    pub const LIST_AUDIT_DESC: &str = "SELECT id, occurred_at, event_type, severity, session_id, ip, \
        user_agent, request_id, actor, metadata FROM audit_events \
        WHERE (?1 IS NULL OR id > ?1) AND (?2 IS NULL OR id < ?2) AND (?3 IS NULL OR session_id = ?3) \
        AND (?4 IS NULL OR request_id = ?4) AND (?5 IS NULL OR ip = ?5) AND (?6 IS NULL OR event_type = ?6) \
        ORDER BY id DESC LIMIT ?7";
}
