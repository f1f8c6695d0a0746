//! Test support shared by the workspace integration tests: a fresh database per test on
//! either backend, and the real daemon started in-process on `127.0.0.1:0`.
//!
//! PostgreSQL is this machine's server (`SESSIOND_TEST_POSTGRES_URL`, default
//! `postgres://postgres@127.0.0.1:5432/postgres`); every test gets its own database, dropped
//! afterwards. A PostgreSQL test never skips: when the server is missing it fails and says so.

pub mod console;
pub mod faultproxy;
pub mod process;
pub mod prometheus;
pub mod ratelimit;
pub mod s3;
pub mod seed;
pub mod smtp;
pub mod webhooks;

use std::net::SocketAddr;
use std::sync::Arc;

use sessiond::Hooks;
use sessiond_core::Settings;
use sessiond_core::config::SecretUrl;
use sessiond_core::store::Store;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbKind {
    /// A SQLite file in a temporary directory.
    Sqlite,
    /// A fresh database on the local PostgreSQL server.
    Postgres,
}

/// The PostgreSQL server used by tests (a maintenance database on it).
pub fn postgres_admin_url() -> String {
    std::env::var("SESSIOND_TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A database that exists for one test.
pub struct TestDb {
    /// Its URL (`sqlite://...` or `postgres://...`).
    pub url: String,
    /// Scratch directory (SQLite file, object store root).
    pub dir: tempfile::TempDir,
    pg_name: Option<String>,
    store: Option<Arc<dyn Store>>,
}

impl TestDb {
    /// A fresh, empty database of `kind`, migrated.
    pub async fn new(kind: DbKind) -> TestDb {
        let mut db = TestDb::unmigrated(kind).await;
        // Migrate once, up front, so daemons started on it find the schema in place.
        let store = sessiond::open_store(&db.settings())
            .await
            .expect("open and migrate the test database");
        db.store = Some(store);
        db
    }

    /// A database of `kind` that exists but has no schema: an empty SQLite file, or a new
    /// PostgreSQL database nothing was migrated in ([`TestDb::store`] is not available).
    pub async fn unmigrated(kind: DbKind) -> TestDb {
        let dir = tempfile::tempdir().expect("temporary directory");
        match kind {
            DbKind::Sqlite => {
                let path = dir.path().join("sessiond.db");
                std::fs::File::create(&path).expect("create the empty database file");
                TestDb {
                    url: format!("sqlite://{}", path.display()),
                    dir,
                    pg_name: None,
                    store: None,
                }
            }
            DbKind::Postgres => {
                let name = format!("sessiond_t_{}", uuid::Uuid::new_v4().simple());
                let admin = postgres_admin_url();
                let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin)
                    .await
                    .unwrap_or_else(|e| {
                        panic!("PostgreSQL is required for this test and is not reachable at {admin}: {e}")
                    });
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut conn)
                    .await
                    .expect("create test database");
                let base = admin
                    .rsplit_once('/')
                    .map(|(b, _)| b.to_owned())
                    .unwrap_or(admin.clone());
                TestDb {
                    url: format!("{base}/{name}"),
                    dir,
                    pg_name: Some(name),
                    store: None,
                }
            }
        }
    }

    /// Settings for a daemon or console on this database: rate limiting and jobs off, objects
    /// under the scratch directory, no drain delay on stop.
    pub fn settings(&self) -> Settings {
        let mut s = Settings::default();
        s.database.url = SecretUrl::new(self.url.clone());
        s.database.max_connections = 8;
        s.rate_limit.enabled = false;
        s.jobs.enabled = false;
        s.server.drain_delay = sessiond_core::config::HumanDuration::secs(0);
        s.storage.fs.root = self.dir.path().join("objects");
        s
    }

    /// Run one statement on this database from outside any daemon (to break it on purpose,
    /// or repair it).
    pub async fn exec(&self, sql: &'static str) {
        if self.url.starts_with("sqlite") {
            let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&self.url)
                .await
                .expect("connect");
            sqlx::query(sql).execute(&mut conn).await.expect("exec");
        } else {
            let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&self.url)
                .await
                .expect("connect");
            sqlx::query(sql).execute(&mut conn).await.expect("exec");
        }
    }

    /// The migrated store on this database (shared, not the daemon's own).
    pub async fn store(&self) -> Arc<dyn Store> {
        self.store.clone().expect("store opened in TestDb::new")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(name) = self.pg_name.take() else { return };
        let admin = postgres_admin_url();
        // Drop the database from a thread of its own: Drop cannot await.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
                return;
            };
            rt.block_on(async move {
                if let Ok(mut conn) = <sqlx::PgConnection as sqlx::Connection>::connect(&admin).await {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&mut conn)
                    .await;
                }
            });
        })
        .join();
    }
}

/// The real daemon, serving in this process on `127.0.0.1:<free port>`.
pub struct TestDaemon {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Settings it runs with.
    pub settings: Settings,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), sessiond::StartError>>>,
}

impl TestDaemon {
    /// Start a daemon on `db` with `settings` (usually `db.settings()`, adjusted).
    pub async fn start(settings: Settings) -> TestDaemon {
        Self::start_with(settings, Hooks::default()).await
    }

    /// Start with replaced parts.
    pub async fn start_with(mut settings: Settings, hooks: Hooks) -> TestDaemon {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        settings.server.listen = addr.into();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(sessiond::serve_with(
            settings.clone(),
            listener,
            async move {
                let _ = stopped.await;
            },
            hooks,
        ));
        TestDaemon {
            addr,
            settings,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// `http://127.0.0.1:<port><path>`
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// `POST /api/session/validate-uuid` with `{"uuid": id}`.
    pub async fn validate(&self, id: &str) -> reqwest::Response {
        client()
            .post(self.url("/api/session/validate-uuid"))
            .json(&serde_json::json!({ "uuid": id }))
            .send()
            .await
            .expect("validate")
    }

    /// Graceful shutdown; returns when the daemon has drained and flushed.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("daemon task").expect("daemon ran");
        }
    }
}

impl Drop for TestDaemon {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// `POST {base}/api/session/generate-uuid` (base: `http://host:port`), which must answer 201:
/// the new session's UUID.
pub async fn generate_session(base: &str) -> String {
    let res = client()
        .post(format!("{base}/api/session/generate-uuid"))
        .send()
        .await
        .expect("generate");
    assert_eq!(res.status(), reqwest::StatusCode::CREATED);
    let body: serde_json::Value = res.json().await.expect("json");
    body["uuid"].as_str().expect("uuid").to_owned()
}

/// An HTTP client for tests (no proxy, no pooling surprises).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().expect("http client")
}

/// Generate `#[tokio::test]`s named `<test>::sqlite` and `<test>::postgres` that call
/// `async fn <test>(kind: DbKind)`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::DbKind::Sqlite).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name($crate::DbKind::Postgres).await
                }
            }
        )*
    };
}

/// Send raw bytes to `addr` and read the whole answer (the request should say
/// `Connection: close`). For what an HTTP client library will not send.
pub async fn raw_request(addr: SocketAddr, request: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request).await.expect("write request");
    let mut answer = Vec::new();
    // The server may answer and close before reading everything; a reset after the answer
    // is fine.
    let _ = stream.read_to_end(&mut answer).await;
    String::from_utf8_lossy(&answer).into_owned()
}

/// Insert an active session created `age` ago and last seen `idle` ago (with its
/// `session.generated` event), as if it had lived that long.
pub async fn seed_session(
    store: &Arc<dyn Store>,
    age: chrono::Duration,
    idle: chrono::Duration,
    ip: Option<&str>,
) -> uuid::Uuid {
    use sessiond_core::audit::{EventType, NewEvent, Origin, Severity};
    use sessiond_core::domain::{Session, SessionStatus, now_millis};
    use sessiond_core::store::WriteOp;
    let now = now_millis();
    let id = uuid::Uuid::new_v4();
    let session = Session {
        id,
        status: SessionStatus::Active,
        created_at: now - age,
        last_seen_at: now - idle,
        ended_at: None,
        ended_by: None,
        user_info: None,
        created_ip: ip.map(str::to_owned),
        last_ip: ip.map(str::to_owned),
    };
    let event = NewEvent::new(
        &Origin::system("seed"),
        now,
        EventType::SessionGenerated,
        Severity::Info,
        Some(id),
        serde_json::json!({}),
    );
    store
        .commit_batch(&[WriteOp::CreateSession { session, event }])
        .await
        .expect("seed session");
    id
}

/// The audit events of one type, oldest first (up to 10 000): what most tests ask of the trail.
pub async fn events_of(store: &dyn Store, event_type: &str) -> Vec<sessiond_core::audit::AuditEvent> {
    store
        .list_audit(&sessiond_core::audit::AuditQuery {
            event_type: Some(event_type.to_owned()),
            limit: 10_000,
            ascending: true,
            ..Default::default()
        })
        .await
        .unwrap_or_else(|e| panic!("audit events of type {event_type}: {e}"))
}

/// Wait until `check` holds, looking every 50 ms; fail the test naming `what` after `within`.
/// (Tests wait for a state, never for a fixed time.)
pub async fn poll<F, Fut>(what: &str, within: std::time::Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
