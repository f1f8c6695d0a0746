//! Where SQLite keeps a database's write-ahead log. A leaf, shared by the batch connection and
//! the checkpointer.

use std::path::{Path, PathBuf};

/// SQLite's name for the log of the database at `db`.
pub(crate) fn wal_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push("-wal");
    PathBuf::from(name)
}
