//! PostgreSQL store: the scale-out database, shared by several daemons and the console.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use crate::config::{DatabaseSettings, SecretUrl};
use crate::store::{Backend, StoreError};

/// The PostgreSQL implementation of [`crate::store::Store`].
#[derive(Debug, Clone)]
pub struct PgStore {
    pub(crate) url: SecretUrl,
    pub(crate) pool: PgPool,
    pub(crate) write_pool: PgPool,
}

impl PgStore {
    const BACKEND: Backend = Backend::Postgres;
    const MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

    /// Connect to the server at `settings.url`.
    pub async fn connect(settings: &DatabaseSettings) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(settings.url.expose())
            .map_err(|e| StoreError::Internal(format!("database.url: {e}")))?
            .application_name("sessiond");
        let pool = PgPoolOptions::new()
            .max_connections(settings.max_connections)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await?;
        Ok(Self {
            url: settings.url.clone(),
            write_pool: pool.clone(),
            pool,
        })
    }

    pub(crate) async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, StoreError> {
        Ok(self.write_pool.begin().await?)
    }

    /// The statements every API request runs, by name, for query-plan tests. Each takes the
    /// session id as its only parameter.
    pub const HOT_PATH: &'static [(&'static str, &'static str)] = &[
        ("get_session", sql::GET_SESSION),
        ("upload_totals", sql::UPLOAD_TOTALS),
        ("session_status", sql::SESSION_STATUS),
    ];

    /// The pool, for queries specific to this backend (tests, benchmarks).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

crate::store::shared_impl!(PgStore, sqlx::Postgres, sql);

mod sql {
    pub const INSERT_EVENT: &str = "INSERT INTO audit_events \
        (occurred_at, event_type, severity, session_id, ip, user_agent, request_id, actor, metadata) \
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";
    pub const INSERT_SESSION: &str = "INSERT INTO user_sessions \
        (id, status, created_at, last_seen_at, user_info, created_ip, last_ip) \
        VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING";
    pub const TOUCH_SESSION: &str = "UPDATE user_sessions \
        SET last_seen_at = GREATEST(last_seen_at, $1), last_ip = coalesce($2, last_ip) WHERE id = $3";
    pub const SESSION_STATUS: &str = "SELECT status FROM user_sessions WHERE id = $1 FOR UPDATE";
    pub const REVOKE_SESSION: &str = "UPDATE user_sessions \
        SET status = 'revoked', ended_at = $1, ended_by = $2 WHERE id = $3";
    pub const GET_SESSION: &str = "SELECT id, status, created_at, last_seen_at, ended_at, ended_by, \
        user_info, created_ip, last_ip FROM user_sessions WHERE id = $1";
    pub const UPLOAD_TOTALS: &str =
        "SELECT count(*)::bigint, coalesce(sum(size), 0)::bigint FROM uploads WHERE session_id = $1";
    pub const COUNT_SESSIONS: &str = "SELECT status, count(*)::bigint FROM user_sessions GROUP BY status";
    pub const LIST_AUDIT_ASC: &str = "SELECT id, occurred_at, event_type, severity, session_id, ip, \
        user_agent, request_id, actor, metadata FROM audit_events \
        WHERE ($1::bigint IS NULL OR id > $1) AND ($2::bigint IS NULL OR id < $2) \
        AND ($3::uuid IS NULL OR session_id = $3) AND ($4::text IS NULL OR request_id = $4) \
        AND ($5::text IS NULL OR ip = $5) AND ($6::text IS NULL OR event_type = $6) \
        ORDER BY id ASC LIMIT $7";
    pub const LIST_AUDIT_DESC: &str = "SELECT id, occurred_at, event_type, severity, session_id, ip, \
        user_agent, request_id, actor, metadata FROM audit_events \
        WHERE ($1::bigint IS NULL OR id > $1) AND ($2::bigint IS NULL OR id < $2) \
        AND ($3::uuid IS NULL OR session_id = $3) AND ($4::text IS NULL OR request_id = $4) \
        AND ($5::text IS NULL OR ip = $5) AND ($6::text IS NULL OR event_type = $6) \
        ORDER BY id DESC LIMIT $7";
}
