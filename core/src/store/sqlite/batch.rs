//! The SQLite side of the group-commit writer: one connection of its own (rusqlite, on the
//! same SQLite library sqlx links) that commits a whole batch in one `BEGIN IMMEDIATE`
//! transaction on the calling thread, row by row with cached prepared statements.
//!
//! Why not sqlx here: sqlx runs each SQLite connection on a worker thread and hands every
//! statement over to it, so a batch costs several cross-thread hand-offs; on a 2-core VM each
//! one waits for a CPU (≈ 0.15 ms measured), and the writer is the one serial stage of every
//! request. The daemon's writer thread calls [`BatchDb::commit`] directly; everything else
//! (reads, jobs, the console) stays on sqlx. What to write is decided in `store/batch.rs`,
//! shared with PostgreSQL.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use sqlx::sqlite::SqliteConnectOptions;
use uuid::Uuid;

use super::audit_index::SessionIndexer;
use super::checkpoint::Checkpointer;
use super::sql;
use super::wal::wal_path;
use crate::audit::NewEvent;
use crate::config::{DatabaseSettings, SqliteSync};
use crate::domain::{Session, SessionStatus, from_millis};
use crate::store::chain::{ChainSlot, ChainTx, seal_rusqlite};
use crate::store::open::SqliteFile;
use crate::store::uploads::{UploadOp, sqlite_sql};
use crate::store::{OpOutcome, StoreError, SyncCommit, WriteOp, batch};

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        match e {
            // One value the database will not hold (a string or blob over SQLite's length
            // limit): the item's fault, not the database's.
            rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::TooBig => {
                StoreError::Rejected(e.to_string())
            }
            // The database refused the work: busy, locked, full, I/O, read-only, ...
            rusqlite::Error::SqliteFailure(..) => StoreError::Unavailable(e.to_string()),
            other => StoreError::Internal(other.to_string()),
        }
    }
}

/// The writer's connection. The mutex only matters when batches come from two places at
/// once (the writer thread and a direct `Store::commit_batch`); SQLite has one writer anyway.
pub(crate) struct BatchDb {
    conn: Mutex<Connection>,
    /// The log file [`SyncCommit::flush`] fsyncs (`synchronous = full`); `None` when commits
    /// need nothing more (`normal`).
    wal: Option<PathBuf>,
    /// A flush failed: what was committed may be visible and yet lost, so nothing more is.
    broken: AtomicBool,
    /// The database file opened: a file put over the path (a restore while the daemon runs) is
    /// not the one this connection writes to, so a flush that finds another file there fails
    /// its batches instead of acknowledging them.
    file: Option<SqliteFile>,
    /// Copies the log back into the database off the writer's path.
    checkpointer: Checkpointer,
    /// The store's write gate (see `WriteTx`), taken for each batch.
    gate: Arc<tokio::sync::Mutex<()>>,
    /// Indexes audit events by session a piece per batch (`store/sqlite_audit_index.rs`).
    /// Locked inside `conn`'s lock.
    indexer: Mutex<SessionIndexer>,
    /// Sessions as this connection last read or wrote them (see [`SessionCache`]). Locked
    /// inside `conn`'s lock.
    sessions: Mutex<SessionCache>,
    /// The audit chain's keys (`store/chain.rs`): each batch also writes its link.
    chain: ChainSlot,
}

impl std::fmt::Debug for BatchDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchDb").finish_non_exhaustive()
    }
}

impl BatchDb {
    /// Open the database file of `options` with the store's settings: WAL, foreign keys, the
    /// same busy timeout as the sqlx connections, and `settings.sqlite_synchronous` kept as
    /// described on [`SyncCommit`]: with `full` the commits themselves do not fsync,
    /// [`SyncCommit::flush`] does, so the writer can commit the next batch while the last one
    /// is flushed.
    pub(crate) fn open(
        options: &SqliteConnectOptions,
        flags: rusqlite::OpenFlags,
        settings: &DatabaseSettings,
        gate: Arc<tokio::sync::Mutex<()>>,
        chain: ChainSlot,
    ) -> Result<Self, StoreError> {
        let sync = settings.sqlite_synchronous;
        let path = options.get_filename();
        let conn = Connection::open_with_flags(path, flags)?;
        // Another process (the console, a second daemon) may hold the write lock: retry every
        // millisecond for up to 5 s, so the batch starts as soon as the lock is free (SQLite's
        // default handler backs off to 100 ms sleeps).
        conn.busy_handler(Some(|attempt| {
            std::thread::sleep(Duration::from_millis(1));
            attempt < 5_000
        }))?;
        let journal: String = conn.pragma_update_and_check(None, "journal_mode", "wal", |r| r.get(0))?;
        let wal = (journal.eq_ignore_ascii_case("wal") && sync == SqliteSync::Full).then(|| wal_path(path));
        // `normal` in WAL mode: a commit writes its frames without fsync; SQLite still syncs the
        // log's header when the log restarts and both files around checkpoints.
        conn.pragma_update(None, "synchronous", "normal")?;
        conn.pragma_update(None, "foreign_keys", "on")?;
        // Checkpoints are the checkpoint thread's (store/sqlite/checkpoint.rs).
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        conn.set_prepared_statement_cache_capacity(32);
        let file = SqliteFile::at(path);
        Ok(Self {
            conn: Mutex::new(conn),
            wal,
            broken: AtomicBool::new(false),
            file,
            checkpointer: Checkpointer::start(path, flags, settings, gate.clone())?,
            gate,
            indexer: Mutex::new(SessionIndexer::default()),
            sessions: Mutex::new(SessionCache::default()),
            chain,
        })
    }
}

impl BatchDb {
    /// The error for every batch once the file opened was replaced at its path.
    fn replaced(&self) -> Option<StoreError> {
        let file = self.file.as_ref().filter(|f| f.replaced())?;
        Some(StoreError::Unavailable(format!(
            "the database file {} was replaced while sessiond ran; restart it to open the new one",
            file.path().display()
        )))
    }
}

impl SyncCommit for BatchDb {
    fn commit(&self, ops: &[WriteOp]) -> Result<Vec<OpOutcome>, StoreError> {
        if self.broken.load(Ordering::Acquire) {
            return Err(self.replaced().unwrap_or_else(|| {
                StoreError::Unavailable(
                    "an fsync of the SQLite log failed earlier; restart the daemon once the disk is healthy".into(),
                )
            }));
        }
        let _gate = self.gate.blocking_lock();
        // A panic mid-batch dropped its transaction, which rolled back: the connection is fine.
        let mut conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        let mut tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut sessions = self.sessions.lock().unwrap_or_else(PoisonError::into_inner);
        // Until this batch commits, the cache may hold its uncommitted changes.
        let version = sessions.take(&tx)?;
        let mut chain = self.chain.begin();
        let outcomes = apply(&tx, ops, &mut sessions.map, &mut chain)?;
        if let Some(chain) = chain {
            seal_rusqlite(&tx, chain)?;
        }
        let mut indexer = self.indexer.lock().unwrap_or_else(PoisonError::into_inner);
        index_step(&mut tx, &mut indexer)?;
        if let Err(e) = tx.commit() {
            // The step's progress is not in the database: start that piece over.
            indexer.reset();
            return Err(e.into());
        }
        sessions.version = Some(version);
        self.checkpointer.notify();
        Ok(outcomes)
    }

    fn flush(&self) -> Result<(), StoreError> {
        if let Some(e) = self.replaced() {
            // What this connection committed went into the old file: never acknowledge it.
            self.broken.store(true, Ordering::Release);
            tracing::error!(error = %e, "refusing writes");
            return Err(e);
        }
        let Some(wal) = &self.wal else {
            return Ok(());
        };
        // An fsync covers the file whichever descriptor asks: every frame written before this
        // call, so every batch `commit` returned before it.
        let synced = std::fs::OpenOptions::new()
            .write(true)
            .open(wal)
            .and_then(|file| file.sync_data());
        synced.map_err(|e| {
            // After a failed fsync the kernel may have dropped the unwritten pages (and report
            // success next time), so the log cannot be trusted again until a restart.
            self.broken.store(true, Ordering::Release);
            tracing::error!(error = %e, path = %wal.display(), "fsync of the SQLite log failed; refusing further writes");
            StoreError::Unavailable(format!("fsync of the SQLite log failed: {e}"))
        })
    }
}

/// One piece of the segment index's work inside the batch's transaction, under a savepoint: an
/// indexing failure is logged and retried later rather than failing the batch's requests (their
/// events are stored either way, and found by the scan above the indexed segments).
fn index_step(tx: &mut Transaction<'_>, indexer: &mut SessionIndexer) -> Result<(), StoreError> {
    if !indexer.wants_step(tx.last_insert_rowid()) {
        return Ok(());
    }
    let savepoint = tx.savepoint()?;
    match indexer.step(&savepoint) {
        Ok(()) => savepoint.commit().map_err(|e| {
            indexer.reset();
            StoreError::from(e)
        })?,
        Err(e) => {
            indexer.reset();
            tracing::warn!(error = %e, "indexing audit events by session failed; retrying with a later batch");
            // Dropping the savepoint rolls the step back.
        }
    }
    Ok(())
}

/// The sessions this connection read or wrote, so that a validation of a session seen before
/// needs no look-up. The cache holds exactly what the database holds while no other connection
/// has committed: each batch reads `PRAGMA data_version` (which moves when another connection
/// — the read pool's jobs, the console, another process — commits) inside its write
/// transaction, so nobody else can commit before the batch ends, and starts from an empty cache
/// when it moved. The batch applies its own changes to the cache as it writes them; a batch that
/// fails leaves the cache invalid (`version` unset), and the next one starts empty.
#[derive(Default)]
struct SessionCache {
    /// `data_version` after the last committed batch; `None` before one, or after a failure.
    version: Option<i64>,
    map: CachedSessions,
}

impl SessionCache {
    /// The cache for a batch in `tx`, emptied unless it is valid at `tx`'s `data_version`,
    /// and marked invalid until the batch commits. Returns the version to mark it with then.
    fn take(&mut self, tx: &Transaction<'_>) -> Result<i64, StoreError> {
        let version: i64 = tx.prepare_cached("PRAGMA data_version")?.query_row([], |r| r.get(0))?;
        if self.version.take() != Some(version) {
            self.map.clear();
        }
        Ok(version)
    }
}

/// Cached sessions within a memory budget: once their estimated size passes
/// [`CachedSessions::BUDGET`], the cache starts over empty.
#[derive(Default)]
struct CachedSessions {
    rows: HashMap<Uuid, Session>,
    bytes: usize,
}

impl CachedSessions {
    /// Bytes of sessions kept at most (estimated: the row's fixed part plus its texts).
    const BUDGET: usize = 8 << 20;

    fn clear(&mut self) {
        self.rows.clear();
        self.bytes = 0;
    }

    fn insert(&mut self, session: Session, text_bytes: usize) {
        let size = std::mem::size_of::<(Uuid, Session)>() + text_bytes + 64;
        if self.bytes + size > Self::BUDGET {
            self.clear();
        }
        self.bytes += size;
        self.rows.insert(session.id, session);
    }

    /// What `TOUCH_SESSION` does to the stored row.
    fn touch(&mut self, id: Uuid, at: i64, ip: Option<&str>) {
        if let Some(s) = self.rows.get_mut(&id) {
            s.last_seen_at = s.last_seen_at.max(from_millis(at));
            if let Some(ip) = ip {
                self.bytes += ip.len();
                s.last_ip = Some(ip.to_owned());
            }
        }
    }
}

/// Everything a batch writes, inside `tx`, keeping `cache` as the database will be once `tx`
/// commits. Any error leaves `tx` to roll back on drop.
fn apply(
    tx: &Transaction<'_>,
    ops: &[WriteOp],
    cache: &mut CachedSessions,
    chain: &mut Option<ChainTx>,
) -> Result<Vec<OpOutcome>, StoreError> {
    let mut outcomes = vec![OpOutcome::Done; ops.len()];

    // Validations see the sessions as they were before this batch's resets, as on PostgreSQL
    // (where the look-up runs before the batch's transaction).
    let lookups = batch::lookups(ops);
    if !lookups.is_empty() {
        let mut get = tx.prepare_cached(sql::GET_SESSION)?;
        let mut found = HashMap::with_capacity(lookups.len());
        for id in lookups {
            if let Some(s) = cache.rows.get(&id) {
                found.insert(id, s.clone());
            } else if let Some(row) = get.query_row([id.as_bytes().as_slice()], session_row).optional()? {
                let (session, text_bytes) = row?;
                cache.insert(session.clone(), text_bytes);
                found.insert(id, session);
            }
        }
        batch::judge(ops, &found, &mut outcomes);
    }

    let (firsts, repeats) = batch::new_sessions(ops);
    if !firsts.is_empty() {
        let mut insert = tx.prepare_cached(sql::INSERT_SESSION)?;
        let mut inserted = HashSet::new();
        for (_, s) in &firsts {
            let user_info = s.user_info.as_ref().map(serde_json::Value::to_string);
            let n = insert.execute(params![
                s.id.as_bytes().as_slice(),
                s.status.as_str(),
                s.created_at.timestamp_millis(),
                s.last_seen_at.timestamp_millis(),
                user_info,
                s.created_ip,
                s.last_ip,
            ])?;
            if n == 1 {
                inserted.insert(s.id);
            }
        }
        batch::mark_collisions(&mut outcomes, &firsts, &repeats, &inserted);
    }

    for (i, op) in ops.iter().enumerate() {
        match op {
            WriteOp::Revoke { id, at, by, .. } => {
                cache.rows.remove(id);
                outcomes[i] = match revoke(tx, *id, at.timestamp_millis(), by)? {
                    Some(previous) => OpOutcome::Revoked { previous },
                    None => OpOutcome::NotFound,
                };
            }
            WriteOp::Upload(upload) => outcomes[i] = apply_upload(tx, upload, chain)?,
            _ => {}
        }
    }

    let touches = batch::touches(ops, &outcomes);
    if !touches.is_empty() {
        let mut touch = tx.prepare_cached(sql::TOUCH_SESSION)?;
        for (id, at, ip) in touches {
            touch.execute(params![id.as_bytes().as_slice(), at, ip])?;
            cache.touch(id, at, ip);
        }
    }
    for event in batch::events(ops, &outcomes) {
        insert_event(tx, &event, chain)?;
    }
    Ok(outcomes)
}

fn insert_event(tx: &Transaction<'_>, e: &NewEvent, chain: &mut Option<ChainTx>) -> Result<(), StoreError> {
    tx.prepare_cached(sql::INSERT_EVENT)?.execute(params![
        e.occurred_at.timestamp_millis(),
        e.event_type.as_str(),
        e.severity.as_str(),
        e.session_id.as_ref().map(|id| id.as_bytes().as_slice()),
        e.ip,
        e.user_agent,
        e.request_id,
        e.actor,
        e.metadata.to_string(),
    ])?;
    if let Some(chain) = chain {
        chain.absorb(tx.last_insert_rowid(), e, &e.metadata);
    }
    Ok(())
}

/// A `user_sessions` row in `GET_SESSION`'s column order, with the length of its texts (for
/// the cache's budget). The inner `Result` is a row that does not decode (a bug or a
/// hand-edited database), kept apart from SQLite's own errors.
fn session_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Result<(Session, usize), StoreError>> {
    let id: Vec<u8> = r.get(0)?;
    let status: String = r.get(1)?;
    let user_info: Option<String> = r.get(6)?;
    // A parsed JSON value takes a few times its text's size.
    let mut text_bytes = 4 * user_info.as_ref().map_or(0, String::len);
    let decoded = (|| {
        let id = Uuid::from_slice(&id).map_err(|e| StoreError::Internal(format!("session id: {e}")))?;
        let status = SessionStatus::parse(&status)
            .ok_or_else(|| StoreError::Internal(format!("unknown session status `{status}`")))?;
        let user_info = user_info
            .map(|text| serde_json::from_str(&text))
            .transpose()
            .map_err(|e| StoreError::Internal(format!("user_info of {id}: {e}")))?;
        Ok((id, status, user_info))
    })();
    let (created_at, last_seen_at, ended_at): (i64, i64, Option<i64>) = (r.get(2)?, r.get(3)?, r.get(4)?);
    let (ended_by, created_ip, last_ip): (Option<String>, Option<String>, Option<String>) =
        (r.get(5)?, r.get(7)?, r.get(8)?);
    text_bytes += [&ended_by, &created_ip, &last_ip]
        .iter()
        .map(|t| t.as_ref().map_or(0, String::len))
        .sum::<usize>();
    Ok(decoded.map(|(id, status, user_info)| {
        let session = Session {
            id,
            status,
            created_at: from_millis(created_at),
            last_seen_at: from_millis(last_seen_at),
            ended_at: ended_at.map(from_millis),
            ended_by,
            user_info,
            created_ip,
            last_ip,
        };
        (session, text_bytes)
    }))
}

/// Revoke one session; `None` when it does not exist.
fn revoke(tx: &Transaction<'_>, id: Uuid, at: i64, by: &str) -> Result<Option<SessionStatus>, StoreError> {
    let key = id.as_bytes().as_slice();
    let status: Option<String> = tx
        .prepare_cached(sql::SESSION_STATUS)?
        .query_row([key], |r| r.get(0))
        .optional()?;
    let Some(status) = status else {
        return Ok(None);
    };
    let previous = SessionStatus::parse(&status)
        .ok_or_else(|| StoreError::Internal(format!("unknown session status `{status}`")))?;
    if previous != SessionStatus::Revoked {
        tx.prepare_cached(sql::REVOKE_SESSION)?.execute(params![at, by, key])?;
    }
    // Its objects are queued for deletion in the same transaction (issue 16 point 5).
    crate::store::deletions::queue_session_rusqlite(tx, id, crate::store::deletions::reason::SESSION_RESET, at)?;
    Ok(Some(previous))
}

/// Apply one upload op: the row and its event, or `NotFound` and nothing written.
fn apply_upload(tx: &Transaction<'_>, op: &UploadOp, chain: &mut Option<ChainTx>) -> Result<OpOutcome, StoreError> {
    let (written, event) = match op {
        UploadOp::Insert {
            upload: u,
            max_per_session,
            event,
        } => {
            let n = tx.prepare_cached(sqlite_sql::INSERT_UPLOAD)?.execute(params![
                u.id.as_bytes().as_slice(),
                u.session_id.as_bytes().as_slice(),
                u.object_key,
                u.filename,
                u.size,
                u.sha256,
                u.content_type,
                u.created_at.timestamp_millis(),
                max_per_session,
            ])?;
            (n, event)
        }
        UploadOp::Delete { session, id, event } => {
            // The object is queued for deletion with the row's removal (issue 16 point 4).
            let at = event.occurred_at.timestamp_millis();
            crate::store::deletions::queue_upload_rusqlite(
                tx,
                *session,
                *id,
                crate::store::deletions::reason::UPLOAD_DELETED,
                at,
            )?;
            let n = tx
                .prepare_cached(sqlite_sql::DELETE_UPLOAD)?
                .execute(params![id.as_bytes().as_slice(), session.as_bytes().as_slice()])?;
            (n, event)
        }
    };
    if written == 0 {
        return Ok(OpOutcome::NotFound);
    }
    insert_event(tx, event, chain)?;
    Ok(OpOutcome::Done)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(ip: &str) -> Session {
        Session {
            id: Uuid::new_v4(),
            status: SessionStatus::Active,
            created_at: from_millis(1_000),
            last_seen_at: from_millis(2_000),
            ended_at: None,
            ended_by: None,
            user_info: None,
            created_ip: None,
            last_ip: Some(ip.to_owned()),
        }
    }

    #[test]
    fn a_refresh_is_remembered_as_stored() {
        let mut cache = CachedSessions::default();
        let s = session("192.0.2.1");
        let id = s.id;
        cache.insert(s, 9);
        // Never backwards; `None` keeps the address (as `TOUCH_SESSION`).
        cache.touch(id, 1_500, None);
        assert_eq!(cache.rows[&id].last_seen_at, from_millis(2_000));
        assert_eq!(cache.rows[&id].last_ip.as_deref(), Some("192.0.2.1"));
        cache.touch(id, 3_000, Some("198.51.100.7"));
        assert_eq!(cache.rows[&id].last_seen_at, from_millis(3_000));
        assert_eq!(cache.rows[&id].last_ip.as_deref(), Some("198.51.100.7"));
        // Sessions never read are not made up.
        cache.touch(Uuid::new_v4(), 3_000, None);
        assert_eq!(cache.rows.len(), 1);
    }

    #[test]
    fn the_cache_starts_over_past_its_budget() {
        let mut cache = CachedSessions::default();
        let big = 64 << 10;
        let fit = CachedSessions::BUDGET / (big + std::mem::size_of::<(Uuid, Session)>() + 64);
        for _ in 0..fit {
            cache.insert(session("192.0.2.1"), big);
        }
        assert_eq!(cache.rows.len(), fit);
        assert!(cache.bytes <= CachedSessions::BUDGET);
        cache.insert(session("192.0.2.1"), big);
        assert_eq!(cache.rows.len(), 1, "emptied, then the new one");
        assert!(cache.bytes < 2 * big);
    }
}
