//! Opening a database that must already exist, for the programs that never create or migrate
//! one (the console and its subcommands; the daemon creates and migrates through
//! [`crate::store::connect`]). Before the store is opened, one probe connection finds what is
//! wrong and says it in the operator's words ([`OpenError`]): a missing SQLite file, a
//! PostgreSQL server that does not answer or has no such database, a database without the
//! schema or at another schema version. The same probe names the cause when a console loses
//! its database ([`probe`]).

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::Connection;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};

use crate::config::DatabaseSettings;
use crate::store::{PgStore, SqliteStore, Store, StoreError};

/// How long the probe waits for a PostgreSQL server to accept a connection and answer. A
/// refused connection fails at once; this bounds a host that drops packets.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Why an existing database could not be opened. The texts name the file, or the server and
/// the database, never a password.
#[derive(Debug, Clone, thiserror::Error)]
pub enum OpenError {
    /// `database.url` names a SQLite file that is not there.
    #[error("no database at {}", .0.display())]
    NoDatabase(PathBuf),
    /// The database exists but sessiond never created its tables there.
    #[error("the database at {0} has no sessiond schema")]
    NoSchema(String),
    /// The database lacks migrations this version has: an older sessiond created it.
    #[error("the database at {database} lacks migration {missing} (it is at {applied})")]
    Behind {
        /// The database, for display.
        database: String,
        /// The first migration of this version it lacks.
        missing: i64,
        /// The newest migration it has (0 for none).
        applied: i64,
    },
    /// The database has a migration this version does not know: a newer sessiond upgraded it.
    #[error("the database at {database} has migration {unknown}, which this version ({}) does not know", env!("CARGO_PKG_VERSION"))]
    Ahead {
        /// The database, for display.
        database: String,
        /// The unknown migration.
        unknown: i64,
    },
    /// The PostgreSQL server did not accept a connection.
    #[error("cannot reach PostgreSQL at {server} ({reason})")]
    Unreachable {
        /// `host:port` or the socket path.
        server: String,
        /// `connection refused`, `no answer within 3 s`, ...
        reason: String,
    },
    /// The PostgreSQL server has no database of that name.
    #[error("database \"{name}\" does not exist on {server}")]
    NoSuchDatabase {
        /// The database name.
        name: String,
        /// `host:port` or the socket path.
        server: String,
        /// The user connecting (for the `createdb` hint).
        user: String,
    },
    /// The PostgreSQL server refused the connection (authentication, too many connections,
    /// starting up, ...).
    #[error("PostgreSQL at {server} refused the connection: {reason}")]
    Refused {
        /// `host:port` or the socket path.
        server: String,
        /// The server's message.
        reason: String,
    },
    /// The SQLite file at the database's path is another file than the one opened (replaced
    /// by a restore or a copy): connections already open still read and write the old one.
    #[error("the database file {} was replaced since it was opened", .0.display())]
    Replaced(PathBuf),
    /// Anything else.
    #[error("cannot open {database}: {source}")]
    Failed {
        /// The database, for display.
        database: String,
        /// What failed.
        source: StoreError,
    },
}

/// Open the existing database of `settings` without creating or migrating anything: it must
/// exist and carry exactly the migrations this version knows.
pub async fn open_existing(settings: &DatabaseSettings) -> Result<Arc<dyn Store>, OpenError> {
    probe(settings).await?;
    let database = settings.url.redacted();
    let failed = |source| OpenError::Failed {
        database: database.clone(),
        source,
    };
    match settings.url.scheme().as_str() {
        "sqlite" => Ok(Arc::new(SqliteStore::open(settings, false).await.map_err(failed)?)),
        _ => Ok(Arc::new(PgStore::connect(settings).await.map_err(failed)?)),
    }
}

/// Connect once to the database of `settings` and check its schema, on a connection of its
/// own (nothing is written: a SQLite file is opened without its journal settings). `Ok` means
/// a store opened now would work.
pub async fn probe(settings: &DatabaseSettings) -> Result<(), OpenError> {
    let database = settings.url.redacted();
    let failed = |source: StoreError| OpenError::Failed {
        database: database.clone(),
        source,
    };
    match settings.url.scheme().as_str() {
        "sqlite" => {
            let options = SqliteConnectOptions::from_str(settings.url.expose())
                .map_err(|e| failed(StoreError::Internal(format!("database.url: {e}"))))?
                .create_if_missing(false);
            check_file(&options)?;
            let mut conn = SqliteConnection::connect_with(&options)
                .await
                .map_err(|e| failed(e.into()))?;
            let applied = applied_sqlite(&mut conn).await.map_err(|e| failed(e.into()));
            let _ = conn.close().await;
            compare(applied?, &SqliteStore::MIGRATOR, &database)
        }
        "postgres" | "postgresql" => {
            let options = PgConnectOptions::from_str(settings.url.expose())
                .map_err(|e| failed(StoreError::Internal(format!("database.url: {e}"))))?
                .application_name("sessiond");
            let mut conn = match tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(&options)).await {
                Ok(Ok(conn)) => conn,
                Ok(Err(e)) => return Err(pg_connect_error(&options, e, &database)),
                Err(_) => {
                    return Err(OpenError::Unreachable {
                        server: server(&options),
                        reason: format!("no answer within {} s", CONNECT_TIMEOUT.as_secs()),
                    });
                }
            };
            let applied = tokio::time::timeout(CONNECT_TIMEOUT, applied_pg(&mut conn)).await;
            let _ = conn.close().await;
            match applied {
                Ok(applied) => compare(applied.map_err(|e| failed(e.into()))?, &PgStore::MIGRATOR, &database),
                Err(_) => Err(OpenError::Unreachable {
                    server: server(&options),
                    reason: format!("no answer within {} s", CONNECT_TIMEOUT.as_secs()),
                }),
            }
        }
        other => Err(failed(StoreError::Internal(format!(
            "unsupported database scheme `{other}`"
        )))),
    }
}

/// The SQLite file of `settings` must be where `database.url` says: a connection keeps
/// working on a file that was moved or deleted, so only the path tells. `Ok` for PostgreSQL.
pub fn check_sqlite_file(settings: &DatabaseSettings) -> Result<(), OpenError> {
    if settings.url.scheme() != "sqlite" {
        return Ok(());
    }
    match SqliteConnectOptions::from_str(settings.url.expose()) {
        Ok(options) => check_file(&options),
        Err(_) => Ok(()),
    }
}

/// The SQLite file a database's connections opened, by device and inode: another file put at
/// its path (a restore, a copy over it) is not what open connections read and write — they keep
/// the old one. The console ([`OpenError::Replaced`]) and the daemon's writer both watch it.
#[derive(Debug, Clone)]
pub struct SqliteFile {
    path: PathBuf,
    id: (u64, u64),
}

impl SqliteFile {
    /// The file at `path` now; `None` when it cannot be read (nothing to compare then: a
    /// missing file is for [`check_sqlite_file`] or the next statement to report).
    pub fn at(path: &std::path::Path) -> Option<Self> {
        let path = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
        let id = Self::id(&path)?;
        Some(Self { path, id })
    }

    /// The file of the SQLite database of `settings`; `None` for PostgreSQL, an in-memory
    /// database or a file that cannot be read.
    pub fn of(settings: &DatabaseSettings) -> Option<Self> {
        if settings.url.scheme() != "sqlite" {
            return None;
        }
        let options = SqliteConnectOptions::from_str(settings.url.expose()).ok()?;
        Self::at(options.get_filename())
    }

    /// Its path (absolute).
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Whether another file is at the path now (one `stat`).
    pub fn replaced(&self) -> bool {
        Self::id(&self.path).is_some_and(|now| now != self.id)
    }

    /// [`OpenError::Replaced`] when another file is at the path now.
    pub fn check(&self) -> Result<(), OpenError> {
        if self.replaced() {
            return Err(OpenError::Replaced(self.path.clone()));
        }
        Ok(())
    }

    fn id(path: &std::path::Path) -> Option<(u64, u64)> {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
    }
}

fn check_file(options: &SqliteConnectOptions) -> Result<(), OpenError> {
    let path = options.get_filename();
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(OpenError::NoDatabase(
            std::path::absolute(path).unwrap_or_else(|_| path.to_owned()),
        )),
        // Anything else (a permission, an in-memory database) is for the connection to say.
        _ => Ok(()),
    }
}

/// The migrations the database has applied, or `None` without sqlx's migrations table.
async fn applied_sqlite(conn: &mut SqliteConnection) -> Result<Option<Vec<i64>>, sqlx::Error> {
    let (tables,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'")
            .fetch_one(&mut *conn)
            .await?;
    if tables == 0 {
        return Ok(None);
    }
    let versions = sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
        .fetch_all(&mut *conn)
        .await?;
    Ok(Some(versions))
}

/// [`applied_sqlite`] for PostgreSQL (the table is looked up on the connection's search path,
/// as the migrator creates it).
async fn applied_pg(conn: &mut PgConnection) -> Result<Option<Vec<i64>>, sqlx::Error> {
    let (exists,): (bool,) = sqlx::query_as("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
        .fetch_one(&mut *conn)
        .await?;
    if !exists {
        return Ok(None);
    }
    let versions = sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
        .fetch_all(&mut *conn)
        .await?;
    Ok(Some(versions))
}

/// The database's applied migrations against the ones `migrator` has.
fn compare(applied: Option<Vec<i64>>, migrator: &Migrator, database: &str) -> Result<(), OpenError> {
    let applied = applied.unwrap_or_default();
    if applied.is_empty() {
        return Err(OpenError::NoSchema(database.to_owned()));
    }
    let known: Vec<i64> = migrator
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .map(|m| m.version)
        .collect();
    if let Some(unknown) = applied.iter().find(|v| !known.contains(v)) {
        return Err(OpenError::Ahead {
            database: database.to_owned(),
            unknown: *unknown,
        });
    }
    if let Some(missing) = known.iter().find(|v| !applied.contains(v)) {
        return Err(OpenError::Behind {
            database: database.to_owned(),
            missing: *missing,
            applied: applied.iter().copied().max().unwrap_or(0),
        });
    }
    Ok(())
}

/// `host:port`, or the socket path.
fn server(options: &PgConnectOptions) -> String {
    match options.get_socket() {
        Some(socket) => socket.display().to_string(),
        None => format!("{}:{}", options.get_host(), options.get_port()),
    }
}

/// A failed PostgreSQL connection in the operator's words: the server's own message (without
/// the source line sqlx appends), or what the network said.
fn pg_connect_error(options: &PgConnectOptions, e: sqlx::Error, database: &str) -> OpenError {
    use std::io::ErrorKind;
    let server = server(options);
    match &e {
        sqlx::Error::Io(io) => OpenError::Unreachable {
            server,
            reason: match io.kind() {
                ErrorKind::ConnectionRefused => "connection refused".into(),
                ErrorKind::ConnectionReset => "connection reset".into(),
                ErrorKind::ConnectionAborted => "connection aborted".into(),
                ErrorKind::UnexpectedEof => "connection closed".into(),
                ErrorKind::TimedOut => "timed out".into(),
                ErrorKind::HostUnreachable => "host unreachable".into(),
                ErrorKind::NetworkUnreachable => "network unreachable".into(),
                _ => io.to_string(),
            },
        },
        sqlx::Error::Database(db) if db.code().as_deref() == Some("3D000") => OpenError::NoSuchDatabase {
            name: options.get_database().unwrap_or(options.get_username()).to_owned(),
            server,
            user: options.get_username().to_owned(),
        },
        sqlx::Error::Database(db) => OpenError::Refused {
            server,
            reason: db.message().to_owned(),
        },
        _ => OpenError::Failed {
            database: database.to_owned(),
            source: e.into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn migrator_versions() -> Vec<i64> {
        SqliteStore::MIGRATOR.iter().map(|m| m.version).collect()
    }

    #[test]
    fn applied_migrations_are_compared_with_the_known_ones() {
        let known = migrator_versions();
        assert!(compare(Some(known.clone()), &SqliteStore::MIGRATOR, "db").is_ok());
        assert!(matches!(
            compare(None, &SqliteStore::MIGRATOR, "db"),
            Err(OpenError::NoSchema(_))
        ));
        assert!(matches!(
            compare(Some(vec![]), &SqliteStore::MIGRATOR, "db"),
            Err(OpenError::NoSchema(_))
        ));
        let last = *known.last().expect("migrations");
        let behind = known[..known.len() - 1].to_vec();
        match compare(Some(behind), &SqliteStore::MIGRATOR, "db") {
            Err(OpenError::Behind { missing, .. }) => assert_eq!(missing, last),
            other => panic!("{other:?}"),
        }
        let mut ahead = known.clone();
        ahead.push(last + 1);
        match compare(Some(ahead), &SqliteStore::MIGRATOR, "db") {
            Err(OpenError::Ahead { unknown, .. }) => assert_eq!(unknown, last + 1),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn a_missing_sqlite_file_is_named_and_not_created() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().join("sub").join("s.db");
        let settings = DatabaseSettings {
            url: crate::config::SecretUrl::new(format!("sqlite://{}", path.display())),
            ..DatabaseSettings::default()
        };
        match open_existing(&settings).await {
            Err(OpenError::NoDatabase(p)) => assert_eq!(p, path),
            Err(other) => panic!("{other}"),
            Ok(_) => panic!("opened a missing database"),
        }
        assert!(!path.exists() && !path.parent().expect("parent").exists());
    }
}
