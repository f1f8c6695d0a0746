//! `database.*`: which database, and how SQLite commits and checkpoints.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{ConfigError, HumanDuration, SecretUrl};

/// When a SQLite commit counts as done (PostgreSQL always waits for its WAL flush).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SqliteSync {
    /// fsync the WAL on every commit: survives power loss.
    #[default]
    Full,
    /// Commit to the WAL without fsync: survives any crash of the daemon, not of the machine.
    Normal,
}

/// `database.*`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSettings {
    /// `sqlite://PATH` or `postgres://...`; the scheme picks the backend.
    pub url: SecretUrl,
    /// Connections in the pool (on SQLite: readers; writes have a connection of their own).
    pub max_connections: u32,
    /// SQLite only: `full` (fsync per commit) or `normal`.
    pub sqlite_synchronous: SqliteSync,
    /// SQLite only: how often, while writes come in, the checkpoint thread copies the log back
    /// into the database file. Longer coalesces more rewrites of the same pages into one copy
    /// and costs fewer fsyncs; the log then holds up to this long of writes. 10 ms to 60 s.
    pub sqlite_checkpoint_interval: HumanDuration,
    /// SQLite only: once the log holds this many MiB it is made to start over, which holds
    /// writes back for a few milliseconds (see `store/sqlite/checkpoint.rs`).
    pub sqlite_wal_restart_mib: u32,
    /// PostgreSQL only: group-commit batches in flight at once (1–16). While one batch's
    /// statements are on the wire the next one's go out on another connection: for a database
    /// across a network, where round trips and not CPU bound a batch. 1 (the default) on a
    /// database on the same machine, where it measured no gain (docs/PERFORMANCE.md).
    pub postgres_write_pipeline: u32,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: SecretUrl::new("sqlite://./data/sessiond.db"),
            max_connections: 16,
            sqlite_synchronous: SqliteSync::Full,
            sqlite_checkpoint_interval: HumanDuration::secs(1),
            sqlite_wal_restart_mib: 64,
            postgres_write_pipeline: 1,
        }
    }
}

impl DatabaseSettings {
    /// The checks of this section serde cannot express.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        match self.url.scheme().as_str() {
            "sqlite" | "postgres" | "postgresql" => {}
            other => {
                return Err(ConfigError::new(
                    "database.url",
                    format!("unsupported scheme `{other}`; use sqlite:// or postgres://"),
                ));
            }
        }
        if self.max_connections == 0 {
            return Err(ConfigError::new("database.max_connections", "must be at least 1"));
        }
        let interval = self.sqlite_checkpoint_interval.get();
        if interval < Duration::from_millis(10) || interval > Duration::from_secs(60) {
            return Err(ConfigError::new(
                "database.sqlite_checkpoint_interval",
                "must be between 10ms and 60s",
            ));
        }
        if !(1..=16).contains(&self.postgres_write_pipeline) {
            return Err(ConfigError::new(
                "database.postgres_write_pipeline",
                "must be between 1 and 16",
            ));
        }
        if self.sqlite_wal_restart_mib == 0 {
            return Err(ConfigError::new(
                "database.sqlite_wal_restart_mib",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}
