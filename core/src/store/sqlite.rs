//! SQLite store: the embedded default. WAL journal, `synchronous = FULL` (a commit is on disk
//! before a 2xx), a busy timeout, and one dedicated write connection so the group-commit
//! writer never contends with itself; reads use a separate pool.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

use crate::config::{DatabaseSettings, SecretUrl, SqliteSync};
use crate::store::{Backend, StoreError};

/// The SQLite implementation of [`crate::store::Store`].
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pub(crate) url: SecretUrl,
    pub(crate) pool: SqlitePool,
    pub(crate) write_pool: SqlitePool,
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
            .connect_with(options.clone())
            .await?;
        let pool = SqlitePoolOptions::new()
            .max_connections(settings.max_connections)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options.read_only(false))
            .await?;
        Ok(Self {
            url: settings.url.clone(),
            pool,
            write_pool,
        })
    }

    /// Take the write lock up front so a read-then-write batch cannot fail to upgrade.
    pub(crate) async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, StoreError> {
        Ok(self.write_pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// The statements every API request runs, by name, for query-plan tests. Each takes the
    /// session id as its only parameter.
    pub const HOT_PATH: &'static [(&'static str, &'static str)] = &[
        ("get_session", sql::GET_SESSION),
        ("upload_totals", sql::UPLOAD_TOTALS),
        ("session_status", sql::SESSION_STATUS),
    ];

    /// The batch statements of the group-commit writer, for query-plan tests. Each takes one
    /// JSON array parameter.
    pub const BATCH_PATH: &'static [(&'static str, &'static str)] = &[
        ("insert_sessions", sql::INSERT_SESSIONS),
        ("touch_sessions", sql::TOUCH_SESSIONS),
        ("insert_events", sql::INSERT_EVENTS),
    ];

    /// The read pool, for queries specific to this backend (tests, benchmarks).
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

crate::store::shared_impl!(SqliteStore, sqlx::Sqlite, sql);

mod sql {
    pub const INSERT_EVENT: &str = "INSERT INTO audit_events \
        (occurred_at, event_type, severity, session_id, ip, user_agent, request_id, actor, metadata) \
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)";
    // Batch statements: one JSON array parameter of rows (see store/batch.rs).
    pub const INSERT_SESSIONS: &str = "INSERT INTO user_sessions \
        (id, status, created_at, last_seen_at, user_info, created_ip, last_ip) \
        SELECT unhex(value->>0), value->>1, value->>2, value->>3, value->>4, value->>5, value->>6 \
        FROM json_each(?1) WHERE true ON CONFLICT (id) DO NOTHING RETURNING id";
    pub const TOUCH_SESSIONS: &str = "UPDATE user_sessions \
        SET last_seen_at = max(user_sessions.last_seen_at, t.at), last_ip = coalesce(t.ip, user_sessions.last_ip) \
        FROM (SELECT unhex(value->>0) AS id, value->>1 AS at, value->>2 AS ip FROM json_each(?1)) AS t \
        WHERE user_sessions.id = t.id";
    pub const INSERT_EVENTS: &str = "INSERT INTO audit_events \
        (occurred_at, event_type, severity, session_id, ip, user_agent, request_id, actor, metadata) \
        SELECT value->>0, value->>1, value->>2, unhex(value->>3), value->>4, value->>5, value->>6, value->>7, \
        value->>8 FROM json_each(?1) ORDER BY key";
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
