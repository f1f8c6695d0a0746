//! SQLite store: the embedded default. WAL journal, `synchronous = FULL` (a commit is on disk
//! before a 2xx), a busy timeout, and one dedicated write connection so the group-commit
//! writer never contends with itself; reads use a separate pool, opened read-only so that a
//! write can only go through the write connection or the batch connection (and its gate).
//! `sql` (the statements) and `wal` (the log's path) are leaves; `batch` is the writer's
//! connection, `checkpoint` its WAL checkpointer, `audit_index` the per-session segment index.

pub(super) mod audit_index;
mod batch;
mod checkpoint;
pub(crate) mod sql;
mod wal;

pub(crate) use audit_index::{RENAME_SESSION, session_event_ids};

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

use std::sync::Arc;

use crate::config::{DatabaseSettings, SecretUrl, SqliteSync};
use crate::store::chain::ChainSlot;
use crate::store::{Backend, OpOutcome, StoreError, SyncCommit, WriteOp, WriteTx};
use batch::BatchDb;

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
    pub(crate) const MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");

    /// Open (creating the file and its directory if missing) the database at `settings.url`.
    pub async fn connect(settings: &DatabaseSettings) -> Result<Self, StoreError> {
        Self::open(settings, true).await
    }

    /// Open the database at `settings.url`; without `create`, a missing file is an error on
    /// every connection (the console's: `store/open.rs`), never a new empty database.
    pub(crate) async fn open(settings: &DatabaseSettings, create: bool) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(settings.url.expose())
            .map_err(|e| StoreError::Internal(format!("database.url: {e}")))?
            .create_if_missing(create)
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
            && create
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
            .connect_with(options.clone().read_only(true))
            .await?;
        let gate = Arc::new(tokio::sync::Mutex::new(()));
        let chain = ChainSlot::default();
        let mut flags = rusqlite::OpenFlags::default();
        if !create {
            flags.remove(rusqlite::OpenFlags::SQLITE_OPEN_CREATE);
        }
        let batch = Arc::new(BatchDb::open(&options, flags, settings, gate.clone(), chain.clone())?);
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

#[cfg(test)]
mod tests {
    use crate::config::{DatabaseSettings, SecretUrl};
    use crate::store::Store;

    #[tokio::test]
    async fn the_read_pool_refuses_writes_and_the_store_still_writes() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let settings = DatabaseSettings {
            url: SecretUrl::new(format!("sqlite://{}", dir.path().join("s.db").display())),
            ..DatabaseSettings::default()
        };
        let store = super::SqliteStore::connect(&settings).await.expect("connect");
        store.migrate().await.expect("migrate");
        let refused = sqlx::query("CREATE TABLE through_the_read_pool (a INTEGER)")
            .execute(store.pool())
            .await
            .expect_err("the read pool is read-only");
        assert!(refused.to_string().contains("readonly"), "{refused}");
        store
            .probe_write()
            .await
            .expect("writes go through the write connection");
        let (n,): (i64,) = sqlx::query_as("SELECT count(*) FROM write_probe")
            .fetch_one(store.pool())
            .await
            .expect("the read pool reads");
        assert_eq!(n, 1);
        store.close().await;
    }
}
