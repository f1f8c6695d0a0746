//! WAL checkpoints off the writer's path.
//!
//! By default SQLite checkpoints inside the commit that crosses 1 000 WAL pages: that commit
//! copies every page back into the database file and fsyncs it, and every request waiting on
//! the batch waits for that too (the p99 of the validate benchmark was those commits). Here
//! the writer's connection never checkpoints; a thread of its own does, with a connection of
//! its own, in `PASSIVE` mode, which runs alongside the writer's commits (WAL readers and the
//! writer are never blocked by it).
//!
//! Under constant load the writer commits while every pass runs, so no commit ever finds the
//! log entirely copied back and the log would grow for ever; once it is [`RESTART_AT`] pages
//! long, a `RESTART` checkpoint holding the store's write gate copies the few pages left and
//! makes the next commit start the log over. The writer waits for that (a few pages and two
//! fsyncs), instead of for a whole checkpoint in every 1 000 pages.

use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::Connection;

use crate::config::SqliteSync;
use crate::store::StoreError;

/// Least time between two passes: a pass costs two fsyncs (log, then database) whatever it
/// copies, so under load each one should copy a few batches' worth of pages.
const MIN_INTERVAL: Duration = Duration::from_millis(20);

/// Log length (pages) at which the log is made to start over, holding the write gate for a
/// moment (SQLite's own automatic checkpoint runs at 1 000 pages).
const RESTART_AT: i64 = 2_000;

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
    /// `sync`, a checkpoint fsyncs the log before copying it and the database after.
    pub(crate) fn start(path: &Path, sync: SqliteSync, gate: Arc<tokio::sync::Mutex<()>>) -> Result<Self, StoreError> {
        let conn = Connection::open(path)?;
        conn.pragma_update(
            None,
            "synchronous",
            match sync {
                SqliteSync::Full => "full",
                SqliteSync::Normal => "normal",
            },
        )?;
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        let (wake, woken) = sync_channel(1);
        let thread = std::thread::Builder::new()
            .name("sessiond-checkpoint".into())
            .spawn(move || run(&conn, &woken, &gate))
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

fn run(conn: &Connection, woken: &Receiver<()>, gate: &tokio::sync::Mutex<()>) {
    while woken.recv().is_ok() {
        let started = Instant::now();
        match catch_up(conn, gate) {
            Ok(()) => {}
            Err(e) => tracing::warn!(error = %e, "WAL checkpoint failed; retrying after the next commit"),
        }
        std::thread::sleep(MIN_INTERVAL.saturating_sub(started.elapsed()));
    }
}

/// Copy the log back; once it is [`RESTART_AT`] pages long, make it start over.
fn catch_up(conn: &Connection, gate: &tokio::sync::Mutex<()>) -> Result<(), rusqlite::Error> {
    let (log, copied) = checkpoint(conn, "PRAGMA wal_checkpoint(PASSIVE)")?;
    if log >= RESTART_AT {
        // The log starts over at a commit that finds it entirely copied back, which a writer
        // committing back to back never does: hold writers off for the pages left (those
        // committed during the pass above) and the restart.
        let _gate = gate.blocking_lock();
        let (log, copied) = checkpoint(conn, "PRAGMA wal_checkpoint(RESTART)")?;
        if copied < log {
            // A reader still uses the old pages; the next pass tries again.
            tracing::debug!(log, copied, "WAL restart postponed by a reader");
        }
    } else if copied < log {
        tracing::debug!(log, copied, "WAL checkpoint postponed by a reader");
    }
    Ok(())
}

/// One checkpoint pass: (pages in the log, pages copied back).
fn checkpoint(conn: &Connection, pragma: &str) -> Result<(i64, i64), rusqlite::Error> {
    conn.query_row(pragma, [], |r| Ok((r.get(1)?, r.get(2)?)))
}
