//! PostgreSQL store: the scale-out database, shared by several daemons and the console.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use std::collections::HashMap;
use std::sync::Arc;

use sqlx::types::Json;
use uuid::Uuid;

use crate::config::{DatabaseSettings, SecretUrl};
use crate::domain::Session;
use crate::store::{Backend, OpOutcome, SessionRow, StoreError, SyncCommit, WriteOp, WriteTx, batch};

/// The PostgreSQL implementation of [`crate::store::Store`].
#[derive(Debug, Clone)]
pub struct PgStore {
    pub(crate) url: SecretUrl,
    pub(crate) pool: PgPool,
    pub(crate) write_pool: PgPool,
    pub(crate) chain: crate::store::chain::ChainSlot,
    /// The chain's head as this daemon's last batch left it (`commit_chained`); `None` until
    /// read, and after a batch found that another writer had moved it.
    head: Arc<std::sync::Mutex<Option<crate::store::chain::Head>>>,
    /// Taken by a chained batch for its statement: the writer's pipelined batches take turns
    /// on the head instead of racing for it.
    head_turn: Arc<tokio::sync::Mutex<()>>,
}

impl PgStore {
    const BACKEND: Backend = Backend::Postgres;
    pub(crate) const MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

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
            chain: crate::store::chain::ChainSlot::default(),
            head: Arc::default(),
            head_turn: Arc::default(),
        })
    }

    pub(crate) async fn begin_write(&self) -> Result<WriteTx<sqlx::Postgres>, StoreError> {
        Ok(WriteTx::new(self.write_pool.begin().await?, None, &self.chain))
    }

    /// PostgreSQL needs no write gate: it has row locks and many connections.
    pub(crate) async fn write_gate(&self) -> Option<tokio::sync::OwnedMutexGuard<()>> {
        None
    }

    /// Commit a group-commit batch. A batch of validations and events is two round trips
    /// (look the sessions up, then one statement that refreshes and inserts the events); new
    /// sessions, resets and uploads need decisions inside a transaction, which then wraps
    /// everything after the look-ups.
    pub(crate) async fn commit_ops(&self, ops: &[WriteOp]) -> Result<Vec<OpOutcome>, StoreError> {
        let mut outcomes = vec![OpOutcome::Done; ops.len()];
        let mut conn = BatchConn::new(self.write_pool.acquire().await?);
        let lookups = batch::lookups(ops);
        if !lookups.is_empty() {
            let rows: Vec<SessionRow> = sqlx::query_as(sql::LOOKUP_SESSIONS)
                .bind(Json(batch::ids_json(&lookups)))
                .fetch_all(conn.get())
                .await?;
            let found = rows
                .into_iter()
                .map(|row| Session::try_from(row).map(|s| (s.id, s)))
                .collect::<Result<HashMap<_, _>, _>>()?;
            batch::judge(ops, &found, &mut outcomes);
        }
        let (firsts, repeats) = batch::new_sessions(ops);
        let decides = !firsts.is_empty()
            || ops
                .iter()
                .any(|op| matches!(op, WriteOp::Revoke { .. } | WriteOp::Upload(_)));
        // With the audit chain on, the events and their link commit together: in one
        // statement when the batch needs no decisions, else in the transaction.
        let mut chain = self.chain.begin();
        if let Some(link) = chain.take_if(|_| !decides) {
            let touches = batch::touches(ops, &outcomes);
            let events = batch::events(ops, &outcomes);
            self.commit_chained(conn.get(), link.keys().clone(), &touches, &events)
                .await?;
            conn.finished();
            return Ok(outcomes);
        }
        let in_tx = chain.is_some() || decides;
        if in_tx {
            sqlx::query("BEGIN").execute(conn.get()).await?;
        }
        if !firsts.is_empty() {
            let inserted: Vec<Uuid> = sqlx::query_scalar(sql::INSERT_SESSIONS)
                .bind(Json(batch::sessions_json(&firsts)))
                .fetch_all(conn.get())
                .await?;
            batch::mark_collisions(&mut outcomes, &firsts, &repeats, &inserted.into_iter().collect());
        }
        for (i, op) in ops.iter().enumerate() {
            match op {
                WriteOp::Revoke { id, at, by, .. } => {
                    outcomes[i] = match Self::revoke(conn.get(), *id, *at, by).await? {
                        Some(previous) => OpOutcome::Revoked { previous },
                        None => OpOutcome::NotFound,
                    };
                }
                // Each upload checks its session and quota inside the transaction.
                WriteOp::Upload(upload) => outcomes[i] = Self::apply_upload(conn.get(), chain.as_mut(), upload).await?,
                _ => {}
            }
        }
        let touches = batch::touches(ops, &outcomes);
        let events = batch::events(ops, &outcomes);
        if let Some(chain) = chain.as_mut() {
            Self::insert_chained(conn.get(), chain, &touches, &events).await?;
        } else if !touches.is_empty() || !events.is_empty() {
            sqlx::query(sql::TOUCH_AND_INSERT_EVENTS)
                .bind(Json(batch::touches_json(&touches)))
                .bind(Json(batch::events_json(&events)))
                .execute(conn.get())
                .await?;
        }
        if let Some(chain) = chain {
            Self::chain_seal(conn.get(), chain).await?;
        }
        if in_tx {
            sqlx::query("COMMIT").execute(conn.get()).await?;
        }
        conn.finished();
        Ok(outcomes)
    }

    /// The refreshes and events of a batch with the audit chain on: refreshes first (their row
    /// locks before the chain's head, as in every other transaction), then the head, then the
    /// events, whose ids the link needs.
    async fn insert_chained(
        conn: &mut sqlx::PgConnection,
        chain: &mut crate::store::chain::ChainTx,
        touches: &[batch::Touch<'_>],
        events: &[std::borrow::Cow<'_, crate::audit::NewEvent>],
    ) -> Result<(), StoreError> {
        if !touches.is_empty() {
            sqlx::query(sql::TOUCH_SESSIONS)
                .bind(Json(batch::touches_json(touches)))
                .execute(&mut *conn)
                .await?;
        }
        if events.is_empty() {
            return Ok(());
        }
        Self::chain_lock(&mut *conn, chain).await?;
        let first = chain.next_id();
        sqlx::query(crate::store::chain::pg_sql::INSERT_LINKED_EVENTS)
            .bind(Json(batch::events_json_from(events, first)))
            .execute(&mut *conn)
            .await?;
        for (id, e) in (first.unwrap_or(0)..).zip(events) {
            chain.absorb(id, e, &e.metadata);
        }
        Ok(())
    }

    /// A batch of refreshes and events with the chain on, in one autocommit statement
    /// ([`pg_sql::CHAINED_BATCH`](crate::store::chain::pg_sql::CHAINED_BATCH)), as cheap as
    /// without the chain: the link is computed before the statement from the head this daemon
    /// last left (ids drawn from it), and the statement moves the head only if no other writer
    /// has. If one has, it reads the head again and retries; after [`HEAD_RACES`] lost races
    /// (several daemons writing hard) it links the batch in a transaction that locks the head.
    async fn commit_chained(
        &self,
        conn: &mut sqlx::PgConnection,
        keys: Arc<crate::audit_chain::ChainKeys>,
        touches: &[batch::Touch<'_>],
        events: &[std::borrow::Cow<'_, crate::audit::NewEvent>],
    ) -> Result<(), StoreError> {
        use crate::store::chain::{ChainTx, Head, pg_sql};
        if events.is_empty() {
            if !touches.is_empty() {
                sqlx::query(sql::TOUCH_SESSIONS)
                    .bind(Json(batch::touches_json(touches)))
                    .execute(&mut *conn)
                    .await?;
            }
            return Ok(());
        }
        let _turn = self.head_turn.lock().await;
        let cached = |head: &Self| {
            head.head
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone()
        };
        let touches_json = Json(batch::touches_json(touches));
        for _ in 0..HEAD_RACES {
            let head = match cached(self) {
                Some(head) => head,
                None => {
                    sqlx::query_as::<_, Head>(pg_sql::READ_HEAD)
                        .fetch_one(&mut *conn)
                        .await?
                }
            };
            let mut link = ChainTx::new(keys.clone());
            for (id, e) in (head.last_id + 1..).zip(events) {
                link.absorb(id, e, &e.metadata);
            }
            let Some((link, check)) = link.into_link(&head) else {
                return Ok(());
            };
            let h = &link.header;
            // Forget the head first: if the statement fails, whether it moved is unknown.
            self.set_head(None);
            let moved: Result<i64, _> = sqlx::query_scalar(pg_sql::CHAINED_BATCH)
                .bind(&touches_json)
                .bind(Json(batch::events_json_from(events, Some(h.first_id))))
                .bind(h.seq)
                .bind(link.mac.as_slice())
                .bind(h.last_id)
                .bind(head.seq)
                .bind(head.last_id)
                .bind(h.first_id)
                .bind(h.event_count)
                .bind(h.max_occurred_at)
                .bind(h.key_id.as_str())
                .bind(check.as_slice())
                .bind(h.prev_mac.as_slice())
                .bind(h.tags.as_slice())
                .bind(chrono::Utc::now().timestamp_millis())
                .fetch_one(&mut *conn)
                .await;
            let moved = match moved {
                // An event written with the chain off took an id past the cached head's: the
                // head read again moves past it.
                Err(sqlx::Error::Database(e)) if e.constraint() == Some("audit_events_pkey") => continue,
                other => other?,
            };
            if moved == 1 {
                self.set_head(Some(Head::after(&link)));
                return Ok(());
            }
        }
        // Lost every race: take the head's lock (refreshes again, which is harmless).
        sqlx::query("BEGIN").execute(&mut *conn).await?;
        let mut chain = ChainTx::new(keys);
        Self::insert_chained(&mut *conn, &mut chain, touches, events).await?;
        Self::chain_seal(&mut *conn, chain).await?;
        sqlx::query("COMMIT").execute(&mut *conn).await?;
        Ok(())
    }

    fn set_head(&self, head: Option<crate::store::chain::Head>) {
        *self.head.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = head;
    }

    /// Revoke one session inside the batch's transaction; `None` when it does not exist.
    async fn revoke(
        tx: &mut sqlx::PgConnection,
        id: uuid::Uuid,
        at: chrono::DateTime<chrono::Utc>,
        by: &str,
    ) -> Result<Option<crate::domain::SessionStatus>, crate::store::StoreError> {
        let status: Option<String> = sqlx::query_scalar(sql::SESSION_STATUS)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(status) = status else {
            return Ok(None);
        };
        let previous = crate::domain::SessionStatus::parse(&status)
            .ok_or_else(|| crate::store::StoreError::Internal(format!("unknown session status `{status}`")))?;
        if previous != crate::domain::SessionStatus::Revoked {
            sqlx::query(sql::REVOKE_SESSION)
                .bind(at.timestamp_millis())
                .bind(by)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        // Its objects are queued for deletion in the same transaction (issue 16 point 5).
        let reason = crate::store::deletions::reason::SESSION_RESET;
        crate::store::deletions::queue_session_pg(tx, id, reason, at.timestamp_millis()).await?;
        Ok(Some(previous))
    }

    /// PostgreSQL batches run on the async runtime.
    pub(crate) fn sync_committer(&self) -> Option<Arc<dyn SyncCommit>> {
        None
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
        ("lookup_sessions", sql::LOOKUP_SESSIONS),
        ("touch_sessions", sql::TOUCH_SESSIONS),
        ("insert_events", sql::INSERT_EVENTS),
    ];

    /// The pool, for queries specific to this backend (tests, benchmarks).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

/// How many times a chained batch recomputes its link after another writer moved the head
/// before it locks the head instead ([`PgStore::commit_chained`]).
const HEAD_RACES: u32 = 3;

/// The write connection while a group-commit batch runs on it. Unless the batch calls
/// [`BatchConn::finished`], dropping it closes the connection instead of returning it to the
/// pool, so an error or a cancelled future can never leave a transaction open on a pooled
/// connection (closing rolls it back).
struct BatchConn<DB: sqlx::Database> {
    conn: sqlx::pool::PoolConnection<DB>,
    finished: bool,
}

impl<DB: sqlx::Database> BatchConn<DB> {
    fn new(conn: sqlx::pool::PoolConnection<DB>) -> Self {
        Self { conn, finished: false }
    }

    fn get(&mut self) -> &mut DB::Connection {
        &mut self.conn
    }

    /// The batch committed: return the connection to the pool.
    fn finished(mut self) {
        self.finished = true;
    }
}

impl<DB: sqlx::Database> Drop for BatchConn<DB> {
    fn drop(&mut self) {
        if !self.finished {
            self.conn.close_on_drop();
        }
    }
}

crate::store::shared_impl!(PgStore, sqlx::Postgres, sql);
crate::store::chain::chain_impl!(PgStore, sqlx::Postgres, crate::store::chain::pg_sql);

mod sql {
    pub const PROBE_WRITE: &str =
        "INSERT INTO write_probe (id, at) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET at = excluded.at";
    // Batch statements: one JSON array parameter of rows (see store/batch.rs). Macros, so
    // the combined form below is spelled with `concat!` from the same text.
    macro_rules! touch_sessions {
        ($p:literal) => {
            concat!(
                "UPDATE user_sessions AS u \
                SET last_seen_at = GREATEST(u.last_seen_at, t.at), last_ip = coalesce(t.ip, u.last_ip) \
                FROM (SELECT (e->>0)::uuid AS id, (e->>1)::bigint AS at, e->>2 AS ip \
                      FROM jsonb_array_elements(",
                $p,
                "::jsonb) AS e) AS t WHERE u.id = t.id"
            )
        };
    }
    macro_rules! insert_events {
        ($p:literal) => {
            concat!(
                "INSERT INTO audit_events \
                (occurred_at, event_type, severity, session_id, ip, user_agent, request_id, actor, metadata) \
                SELECT (e->>0)::bigint, e->>1, e->>2, (e->>3)::uuid, e->>4, e->>5, e->>6, e->>7, e->8 \
                FROM jsonb_array_elements(",
                $p,
                "::jsonb) WITH ORDINALITY AS t(e, n) ORDER BY n"
            )
        };
    }
    pub const INSERT_SESSIONS: &str = "INSERT INTO user_sessions \
        (id, status, created_at, last_seen_at, user_info, created_ip, last_ip) \
        SELECT (e->>0)::uuid, e->>1, (e->>2)::bigint, (e->>3)::bigint, NULLIF(e->4, 'null'::jsonb), e->>5, e->>6 \
        FROM jsonb_array_elements($1::jsonb) AS e ON CONFLICT (id) DO NOTHING RETURNING id";
    pub const LOOKUP_SESSIONS: &str = "SELECT id, status, created_at, last_seen_at, ended_at, ended_by, \
        user_info, created_ip, last_ip FROM user_sessions \
        WHERE id IN (SELECT e::uuid FROM jsonb_array_elements_text($1::jsonb) AS e)";
    pub const TOUCH_SESSIONS: &str = touch_sessions!("$1");
    pub const INSERT_EVENTS: &str = insert_events!("$1");
    // Refreshes and events in one statement (a data-modifying CTE always runs to completion),
    // so a batch without new sessions, resets or uploads is one round trip in autocommit.
    pub const TOUCH_AND_INSERT_EVENTS: &str = concat!(
        "WITH touched AS (",
        touch_sessions!("$1"),
        " RETURNING 1) ",
        insert_events!("$2")
    );
    pub const SESSION_STATUS: &str = "SELECT status FROM user_sessions WHERE id = $1 FOR UPDATE";
    pub const REVOKE_SESSION: &str = "UPDATE user_sessions \
        SET status = 'revoked', ended_at = $1, ended_by = $2 WHERE id = $3";
    pub const GET_SESSION: &str = "SELECT id, status, created_at, last_seen_at, ended_at, ended_by, \
        user_info, created_ip, last_ip FROM user_sessions WHERE id = $1";
    pub const UPLOAD_TOTALS: &str =
        "SELECT count(*)::bigint, coalesce(sum(size), 0)::bigint FROM uploads WHERE session_id = $1";
    pub const COUNT_SESSIONS: &str = "SELECT status, count(*)::bigint FROM user_sessions GROUP BY status";
}
