//! `sessionctl backup`: a consistent copy of a live SQLite database through SQLite's online
//! backup API. The copy is taken in one step inside one read transaction, so in WAL mode the
//! daemons keep writing meanwhile and the copy is the database as of one instant. PostgreSQL
//! is backed up with `pg_dump` (docs/deployment.md).

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::SqliteConnectOptions;

use crate::config::SecretUrl;
use crate::store::StoreError;

/// What a backup wrote.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BackupReport {
    /// The copy.
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// Database pages copied.
    pub pages: i64,
}

/// Copy the SQLite database at `url` to `dest` (which must not exist), check the copy's
/// integrity and move it into place. Blocking: call from `spawn_blocking`.
pub fn sqlite_backup(url: &SecretUrl, dest: &Path) -> Result<BackupReport, StoreError> {
    let options =
        SqliteConnectOptions::from_str(url.expose()).map_err(|e| StoreError::Internal(format!("database.url: {e}")))?;
    let source = options.get_filename().to_path_buf();
    if !source.exists() {
        return Err(StoreError::Internal(format!("{} does not exist", source.display())));
    }
    if dest.exists() {
        return Err(StoreError::Internal(format!(
            "{} exists; choose a new file (a backup never overwrites)",
            dest.display()
        )));
    }
    let partial = dest.with_extension("partial");
    let _ = std::fs::remove_file(&partial);
    let copied = copy_checked(&source, &partial);
    if copied.is_err() {
        // Nothing half-written is left behind.
        let _ = std::fs::remove_file(&partial);
    }
    let pages = copied?;
    std::fs::rename(&partial, dest).map_err(|e| StoreError::Internal(format!("move the backup into place: {e}")))?;
    let bytes = std::fs::metadata(dest).map(|m| m.len()).unwrap_or(0);
    Ok(BackupReport {
        path: dest.to_path_buf(),
        bytes,
        pages,
    })
}

/// Copy `source` into the new file `partial` and check the copy; the page count.
fn copy_checked(source: &Path, partial: &Path) -> Result<i64, StoreError> {
    let io = |what: &str, e: &dyn std::fmt::Display| StoreError::Internal(format!("{what}: {e}"));
    let src = rusqlite::Connection::open_with_flags(source, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| io("open the database", &e))?;
    src.busy_timeout(Duration::from_secs(10))
        .map_err(|e| io("busy timeout", &e))?;
    let pages = {
        let mut dst = rusqlite::Connection::open(partial).map_err(|e| io("create the backup file", &e))?;
        let backup = rusqlite::backup::Backup::new(&src, &mut dst).map_err(|e| io("start the backup", &e))?;
        // All pages in one step: one read transaction, one consistent instant. A busy or
        // locked source is retried for a while.
        let mut tries = 0;
        loop {
            match backup.step(-1) {
                Ok(rusqlite::backup::StepResult::Done) => break,
                Ok(rusqlite::backup::StepResult::More) => {}
                Ok(rusqlite::backup::StepResult::Busy | rusqlite::backup::StepResult::Locked) if tries < 200 => {
                    tries += 1;
                    std::thread::sleep(Duration::from_millis(50));
                }
                Ok(other) => {
                    return Err(StoreError::Unavailable(format!("backup did not finish: {other:?}")));
                }
                Err(e) => return Err(io("backup", &e)),
            }
        }
        let pages = i64::from(backup.progress().pagecount);
        drop(backup);
        let check: String = dst
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .map_err(|e| io("integrity check", &e))?;
        if check != "ok" {
            return Err(StoreError::Internal(format!(
                "the copy fails its integrity check: {check}"
            )));
        }
        pages
    };
    Ok(pages)
}
