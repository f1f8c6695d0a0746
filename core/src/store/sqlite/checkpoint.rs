//! WAL checkpoints off the writer's path.
//!
//! By default SQLite checkpoints inside the commit that crosses 1 000 WAL pages: that commit
//! copies every page back into the database file and fsyncs it, and every request waiting on
//! the batch waits for that too (the p99 of the validate benchmark was those commits). Here
//! the writer's connection never checkpoints; a thread of its own does, with a connection of
//! its own, in `PASSIVE` mode, which runs alongside the writer's commits (WAL readers and the
//! writer are never blocked by it).
//!
//! Passes run at most once per `database.sqlite_checkpoint_interval` while writes come in. Each pass
//! costs two fsyncs and copies each page once however often it was rewritten, so under load a
//! long interval writes much less to the database file: the audit trail's per-session index
//! rewrites the same leaves over and over (measured with the restart below: 20 ms → 1 s took
//! validate from 14.5–16.2 k to 18.3–19.3 k req/s and its p99 from 10–11 to 5.2–5.4 ms on a
//! 2-core VM; docs/PERFORMANCE.md, "Fourth pass").
//!
//! Under constant load the writer commits while every pass runs, so no commit ever finds the
//! log entirely copied back and the log would grow for ever. Once it holds
//! `database.sqlite_wal_restart_mib`, passes follow one another until one finds little left
//! (the pages committed during the one before), and the last few pages are copied by a
//! `RESTART` checkpoint holding the store's write gate, so the next commit starts the log
//! over. Writers wait for those few pages and two fsyncs (≈ 1–3 ms), not for a whole pass.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::Connection;

use super::wal::wal_path;
use crate::config::{DatabaseSettings, SqliteSync};
use crate::store::StoreError;

/// A pass that copied at most this many pages was short, so the pages committed during it
/// are few: copy them holding writers off.
const FEW_PAGES: i64 = 256;

/// Passes tried before holding writers off anyway, should the writer outpace them.
const MAX_PASSES: usize = 8;

/// How long a restart waits for readers still on the old log, looking every `READER_POLL`
/// (counted in looks, so a little longer where sleeps overshoot).
const READER_PATIENCE: Duration = Duration::from_millis(100);
const READER_POLL: Duration = Duration::from_micros(50);

/// The checkpoint thread's settings, worked out from the `database.sqlite_*` keys.
struct Rhythm {
    interval: Duration,
    restart_pages: i64,
    restart_bytes: u64,
    /// The log file, to see whether it outgrew the restart size.
    wal: PathBuf,
}

/// The checkpoint thread. Dropping it stops the thread after its current pass.
pub(crate) struct Checkpointer {
    wake: Option<SyncSender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Checkpointer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checkpointer").finish_non_exhaustive()
    }
}

impl Checkpointer {
    /// Start checkpointing the database at `path`, whose writers take `gate`. With either
    /// `sqlite_synchronous`, a checkpoint fsyncs the log before copying it and the database
    /// after.
    pub(crate) fn start(
        path: &Path,
        flags: rusqlite::OpenFlags,
        settings: &DatabaseSettings,
        gate: Arc<tokio::sync::Mutex<()>>,
    ) -> Result<Self, StoreError> {
        let conn = connect(path, flags, settings.sqlite_synchronous)?;
        let page_size: i64 = conn.pragma_query_value(None, "page_size", |r| r.get(0))?;
        let restart_bytes = u64::from(settings.sqlite_wal_restart_mib) << 20;
        let rhythm = Rhythm {
            interval: settings.sqlite_checkpoint_interval.get(),
            restart_pages: i64::try_from(restart_bytes).unwrap_or(i64::MAX) / page_size.max(512),
            restart_bytes,
            wal: wal_path(path),
        };
        let (wake, woken) = sync_channel(1);
        let thread = std::thread::Builder::new()
            .name("sessiond-checkpoint".into())
            .spawn(move || run(&conn, &woken, &gate, &rhythm))
            .map_err(|e| StoreError::Internal(format!("cannot start the checkpoint thread: {e}")))?;
        Ok(Self {
            wake: Some(wake),
            thread: Some(thread),
        })
    }

    /// A commit added pages to the log.
    pub(crate) fn notify(&self) {
        if let Some(wake) = &self.wake {
            // Full means a pass is already due.
            let _ = wake.try_send(());
        }
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.wake = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The checkpoint thread's connection to the database at `path`.
fn connect(path: &Path, flags: rusqlite::OpenFlags, sync: SqliteSync) -> Result<Connection, rusqlite::Error> {
    let conn = Connection::open_with_flags(path, flags)?;
    // A `RESTART` waits for readers still on the old log while holding writers off: look
    // again every 50 µs (a read takes about that; SQLite's own handler sleeps 1 ms, then
    // longer), and give up after about 100 ms (the next pass tries again), not after 5 s.
    conn.busy_handler(Some(|attempt| {
        std::thread::sleep(READER_POLL);
        READER_POLL * u32::try_from(attempt).unwrap_or(u32::MAX) < READER_PATIENCE
    }))?;
    conn.pragma_update(
        None,
        "synchronous",
        match sync {
            SqliteSync::Full => "full",
            SqliteSync::Normal => "normal",
        },
    )?;
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    Ok(conn)
}

fn run(conn: &Connection, woken: &Receiver<()>, gate: &tokio::sync::Mutex<()>, rhythm: &Rhythm) {
    // A commit came in since the last pass.
    let mut due = false;
    loop {
        if !due && woken.recv().is_err() {
            return;
        }
        let started = Instant::now();
        if let Err(e) = catch_up(conn, gate, rhythm.restart_pages) {
            tracing::warn!(error = %e, "WAL checkpoint failed; retrying after the next commit");
        }
        due = false;
        // Rest for the interval, noting commits; a dropped `Checkpointer` ends the rest.
        let until = started + rhythm.interval;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                // A pass longer than the interval: a commit during it is still waiting here.
                due |= woken.try_recv().is_ok();
                break;
            }
            match woken.recv_timeout(left) {
                Ok(()) => due = true,
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
        if !due && let Err(e) = shrink(conn, gate, rhythm) {
            tracing::warn!(error = %e, "WAL truncation failed; retrying when writes stop again");
        }
    }
}

/// Writes stopped for a whole interval after a pass: cut a log file that a burst grew past
/// the restart size (under load it holds up to one interval of writes) back to nothing. When
/// idle the moment writers wait for this costs nothing; under load it would (measured with
/// `journal_size_limit`, which truncates at every restart: p99 33–52 ms), so it waits for a
/// pause.
fn shrink(conn: &Connection, gate: &tokio::sync::Mutex<()>, rhythm: &Rhythm) -> Result<(), rusqlite::Error> {
    let size = std::fs::metadata(&rhythm.wal).map(|m| m.len()).unwrap_or(0);
    if size <= rhythm.restart_bytes {
        return Ok(());
    }
    let _gate = gate.blocking_lock();
    let (log, copied) = checkpoint(conn, "PRAGMA wal_checkpoint(TRUNCATE)")?;
    if copied < log {
        tracing::debug!(log, copied, "WAL truncation postponed by a reader");
    }
    Ok(())
}

/// Copy the log back; once it holds `restart_pages`, make it start over.
fn catch_up(conn: &Connection, gate: &tokio::sync::Mutex<()>, restart_pages: i64) -> Result<(), rusqlite::Error> {
    let (mut log, mut copied) = checkpoint(conn, "PRAGMA wal_checkpoint(PASSIVE)")?;
    for pass in 1..=MAX_PASSES {
        if copied < log {
            // A reader still uses pages of the log; the next pass tries again.
            tracing::debug!(log, copied, "WAL checkpoint postponed by a reader");
            return Ok(());
        }
        if log < restart_pages {
            return Ok(());
        }
        // Copy what was committed during the last pass.
        let before = copied;
        (log, copied) = checkpoint(conn, "PRAGMA wal_checkpoint(PASSIVE)")?;
        if log - before <= FEW_PAGES || pass == MAX_PASSES {
            // This pass was short: hold writers off for the pages committed during it and
            // the restart.
            let _gate = gate.blocking_lock();
            let (log, copied) = checkpoint(conn, "PRAGMA wal_checkpoint(RESTART)")?;
            if copied < log {
                tracing::debug!(log, copied, "WAL restart postponed by a reader");
            }
            return Ok(());
        }
    }
    Ok(())
}

/// One checkpoint pass: (pages in the log, pages copied back).
fn checkpoint(conn: &Connection, pragma: &str) -> Result<(i64, i64), rusqlite::Error> {
    conn.query_row(pragma, [], |r| Ok((r.get(1)?, r.get(2)?)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database in WAL mode whose only writer never checkpoints, and a checkpoint
    /// connection on it.
    fn open() -> (tempfile::TempDir, Connection, Connection) {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("t.db");
        let writer = Connection::open(&path).expect("open");
        writer
            .pragma_update_and_check(None, "journal_mode", "wal", |r| r.get::<_, String>(0))
            .expect("wal");
        writer
            .pragma_update(None, "wal_autocheckpoint", 0)
            .expect("no autocheckpoint");
        writer.execute("CREATE TABLE t (x BLOB)", []).expect("create");
        let checkpointer = connect(&path, rusqlite::OpenFlags::default(), SqliteSync::Full).expect("open");
        (dir, writer, checkpointer)
    }

    /// Commit `n` transactions of one 4 KiB row each.
    fn commit(writer: &Connection, n: usize) {
        for _ in 0..n {
            writer
                .execute("INSERT INTO t VALUES (zeroblob(4096))", [])
                .expect("insert");
        }
    }

    /// Rows in the test table.
    fn rows(conn: &Connection) -> i64 {
        conn.query_row("SELECT count(*) FROM t", [], |r| r.get(0))
            .expect("count")
    }

    /// Pages in the log, and pages of it copied back.
    fn log(conn: &Connection) -> (i64, i64) {
        checkpoint(conn, "PRAGMA wal_checkpoint(PASSIVE)").expect("pass")
    }

    #[test]
    fn a_log_past_the_restart_size_starts_over_at_the_next_commit() {
        let (_dir, writer, checkpointer) = open();
        commit(&writer, 100);
        let before = log(&checkpointer).0;
        assert!(before > 200, "each commit adds pages ({before})");
        let gate = tokio::sync::Mutex::new(());
        catch_up(&checkpointer, &gate, 100).expect("catch up");
        commit(&writer, 1);
        let (after, copied) = log(&checkpointer);
        assert!(after < 10, "the log started over: {after} pages (was {before})");
        assert_eq!(copied, after);
        assert_eq!(rows(&writer), 101);
    }

    #[test]
    fn a_log_file_grown_past_the_restart_size_is_cut_back_once_writes_stop() {
        let (dir, writer, checkpointer) = open();
        commit(&writer, 100);
        let rhythm = |restart_bytes| Rhythm {
            interval: Duration::from_secs(1),
            restart_pages: 100,
            restart_bytes,
            wal: dir.path().join("t.db-wal"),
        };
        let size = || std::fs::metadata(dir.path().join("t.db-wal")).expect("log").len();
        let grown = size();
        let gate = tokio::sync::Mutex::new(());
        shrink(&checkpointer, &gate, &rhythm(grown)).expect("within the restart size");
        assert_eq!(size(), grown, "a log within the restart size is left alone");
        shrink(&checkpointer, &gate, &rhythm(grown / 2)).expect("truncate");
        assert_eq!(size(), 0, "cut back from {grown} bytes");
        assert_eq!(rows(&writer), 100);
    }

    #[test]
    fn a_reader_on_the_old_log_postpones_the_restart_for_a_moment_only() {
        let (dir, writer, checkpointer) = open();
        commit(&writer, 100);
        let reader = Connection::open(dir.path().join("t.db")).expect("open");
        // A reader in the middle of a read of the whole log: a pass can copy everything, but
        // the log cannot start over under it. (A reader further behind stops the pass
        // itself, which never waits.)
        reader.execute_batch("BEGIN; SELECT count(*) FROM t;").expect("read");
        let gate = tokio::sync::Mutex::new(());
        let started = Instant::now();
        catch_up(&checkpointer, &gate, 100).expect("catch up");
        let took = started.elapsed();
        // SQLite's default would wait 5 s holding writers off.
        assert!(took >= READER_PATIENCE, "gave up before waiting: {took:?}");
        assert!(took < Duration::from_secs(2), "held writers off for {took:?}");
        reader.execute_batch("COMMIT").expect("end the read");
        catch_up(&checkpointer, &gate, 100).expect("catch up");
        commit(&writer, 1);
        assert!(log(&checkpointer).0 < 10, "the log started over once the reader left");
    }

    #[test]
    fn below_the_restart_size_writers_are_never_held_off() {
        let (_dir, writer, checkpointer) = open();
        commit(&writer, 100);
        let gate = Arc::new(tokio::sync::Mutex::new(()));
        // A writer holds the gate throughout: below the restart size the pass must not wait.
        let held = gate.clone().try_lock_owned().expect("free");
        let (done, finished) = std::sync::mpsc::channel();
        let pass = std::thread::spawn(move || {
            let result = catch_up(&checkpointer, &gate, 10_000);
            let _ = done.send(());
            result.map(|()| checkpointer)
        });
        finished
            .recv_timeout(Duration::from_secs(10))
            .expect("the pass waited for the writers' gate");
        drop(held);
        let checkpointer = pass.join().expect("join").expect("pass");
        let (pages, copied) = log(&checkpointer);
        assert!(pages > 200);
        assert_eq!(copied, pages, "every page copied back");
    }
}
