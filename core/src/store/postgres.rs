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

    /// The batch statements of the group-commit writer, for query-plan tests. Each takes one
    /// JSON array parameter.
    pub const BATCH_PATH: &'static [(&'static str, &'static str)] = &[
        ("insert_sessions", sql::INSERT_SESSIONS),
        ("touch_sessions", sql::TOUCH_SESSIONS),
        ("insert_events", sql::INSERT_EVENTS),
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
    // Batch statements: one JSON array parameter of rows (see store/batch.rs).
    pub const INSERT_SESSIONS: &str = "INSERT INTO user_sessions \
        (id, status, created_at, last_seen_at, user_info, created_ip, last_ip) \
        SELECT (e->>0)::uuid, e->>1, (e->>2)::bigint, (e->>3)::bigint, NULLIF(e->4, 'null'::jsonb), e->>5, e->>6 \
        FROM jsonb_array_elements($1::jsonb) AS e ON CONFLICT (id) DO NOTHING RETURNING id";
    pub const TOUCH_SESSIONS: &str = "UPDATE user_sessions AS u \
        SET last_seen_at = GREATEST(u.last_seen_at, t.at), last_ip = coalesce(t.ip, u.last_ip) \
        FROM (SELECT (e->>0)::uuid AS id, (e->>1)::bigint AS at, e->>2 AS ip \
              FROM jsonb_array_elements($1::jsonb) AS e) AS t \
        WHERE u.id = t.id";
    pub const INSERT_EVENTS: &str = "INSERT INTO audit_events \
        (occurred_at, event_type, severity, session_id, ip, user_agent, request_id, actor, metadata) \
        SELECT (e->>0)::bigint, e->>1, e->>2, (e->>3)::uuid, e->>4, e->>5, e->>6, e->>7, e->8 \
        FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS t(e, n) ORDER BY n";
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
