//! Issue 19 points 7, 9 and 10: how `sessionctl` handles its database. It never creates or
//! migrates one (a missing SQLite file, a database without the schema or with an older one
//! are errors that say what to do, and stay as they were); PostgreSQL failures name the
//! server and the database and come fast, without the password; and a console whose
//! database goes away says so in its header (counts marked stale, the audit tail no longer
//! "live", the reason wrapped, not cut) and reconnects by itself when it is back.

mod support;
use support::Screen;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ratatui::crossterm::event::KeyCode;
use sessionctl::ops::Console;
use sessiond_core::config::SecretUrl;
use sessiond_tests::faultproxy::{Fault, FaultProxy, url_addr};
use sessiond_tests::{DbKind, TestDb, on_both_backends, postgres_admin_url, seed_session};

/// `sessionctl ARGS` in `cwd`, with no configuration from the environment.
fn sessionctl(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sessionctl"))
        .args(args)
        .current_dir(cwd)
        .env_remove("SESSIOND_CONFIG")
        .env_remove("SESSIOND_DATABASE__URL")
        .stdin(Stdio::null())
        .output()
        .expect("run sessionctl")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Every way of pointing at a database, as the hints must name them.
fn names_the_settings(err: &str) {
    for name in ["--database-url", "SESSIOND_DATABASE__URL", "database.url", "--config"] {
        assert!(err.contains(name), "the hint does not name {name}: {err}");
    }
}

/// What the command line names as the database when `db` is on PostgreSQL: the same server
/// and user, another database.
fn pg_url(db: &TestDb, name: &str) -> String {
    let base = db.url.rsplit_once('/').map(|(b, _)| b).expect("database url");
    format!("{base}/{name}")
}

/// Point 7 (SQLite) and 10 (PostgreSQL): a database that is not there. On SQLite nothing is
/// created, neither the file nor its directory, whatever the subcommand (read-only or one
/// that writes); on PostgreSQL the server, the database and a `createdb` line are named,
/// without the server's C source line. The exit code is the one of "cannot connect": 1 (2 for
/// `audit verify`, whose 2 is "cannot check").
async fn a_missing_database_is_named_and_never_created(kind: DbKind) {
    let db = TestDb::new(kind).await;
    let cwd = db.dir.path();
    let (url, expected) = match kind {
        DbKind::Sqlite => {
            let path = cwd.join("elsewhere").join("sessiond.db");
            (
                format!("sqlite://{}", path.display()),
                format!("no database at {}", path.display()),
            )
        }
        DbKind::Postgres => {
            let name = format!("sessiond_missing_{}", uuid::Uuid::new_v4().simple());
            let server = url_addr(&db.url);
            (
                pg_url(&db, &name),
                format!(
                    "database \"{name}\" does not exist on {server}; create it \
                     (createdb -h {} -p {} -U postgres {name})",
                    server.ip(),
                    server.port()
                ),
            )
        }
    };
    for args in [
        &["--read-only", "sessions", "list"][..],
        &["--json", "jobs", "list"],
        &["sessions", "reset", "1b4e28ba-2fa1-41d2-883f-0016d3cca427", "--yes"],
        &["backup", "copy.db"],
    ] {
        let out = sessionctl(cwd, &[&["--database-url", url.as_str()][..], args].concat());
        let mut err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        if args.contains(&"--json") {
            // Under --json the failure is a JSON object on stderr: its message is the text.
            let v: serde_json::Value = serde_json::from_str(err.trim()).expect("a JSON error object");
            assert_eq!(v["error"]["code"], "database", "{err}");
            err = v["error"]["message"].as_str().unwrap_or_default().to_owned();
        }
        assert!(err.contains(&expected), "{args:?}: {err}");
        assert!(!err.contains("at line"), "the server's source line: {err}");
        names_the_settings(&err);
    }
    let verify = sessionctl(cwd, &["--database-url", &url, "audit", "verify"]);
    assert_eq!(verify.status.code(), Some(2), "{}", stderr(&verify));
    match kind {
        DbKind::Sqlite => {
            assert!(!cwd.join("elsewhere").exists(), "sessionctl created the directory");
            assert!(!cwd.join("copy.db").exists(), "backup wrote a copy of nothing");
        }
        DbKind::Postgres => {
            let err = stderr(&sessionctl(cwd, &["--database-url", &url, "jobs", "list"]));
            assert!(err.contains("start sessiond once"), "{err}");
        }
    }
}

/// Point 7: plain `sessionctl` in a directory without the daemon's database (the default URL
/// is `sqlite://./data/sessiond.db`) says so instead of showing an empty console, and leaves
/// no `./data` behind.
#[tokio::test]
async fn sessionctl_in_the_wrong_directory_creates_nothing() {
    let cwd = tempfile::tempdir().expect("cwd");
    for args in [&[][..], &["--read-only", "sessions", "list"]] {
        let out = sessionctl(cwd.path(), args);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        let expected = format!(
            "no database at {}",
            cwd.path().join("data").join("sessiond.db").display()
        );
        assert!(err.contains(&expected), "{args:?}: {err}");
        assert!(err.contains("never creates"), "{err}");
        names_the_settings(&err);
        assert!(!cwd.path().join("data").exists(), "{args:?} created ./data");
    }
}

/// Point 7: a database without the sessiond schema (an empty SQLite file, a new PostgreSQL
/// database), or one lacking this version's newest migration, is refused with what to do, and
/// sessionctl leaves it as it was: nothing migrated, nothing written.
async fn a_database_without_the_schema_is_refused_not_migrated(kind: DbKind) {
    let empty = TestDb::unmigrated(kind).await;
    let cwd = empty.dir.path();
    for args in [&["--read-only", "sessions", "list"][..], &["jobs", "list"]] {
        let out = sessionctl(cwd, &[&["--database-url", empty.url.as_str()][..], args].concat());
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.contains("has no sessiond schema; start sessiond once to create it"),
            "{args:?}: {err}"
        );
        assert!(
            !err.contains("no such table") && !err.contains("does not exist"),
            "{err}"
        );
    }
    match kind {
        DbKind::Sqlite => {
            let file = cwd.join("sessiond.db");
            assert_eq!(
                std::fs::metadata(&file).expect("file").len(),
                0,
                "sessionctl wrote to it"
            );
        }
        DbKind::Postgres => {
            let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&empty.url)
                .await
                .expect("connect");
            let (tables,): (i64,) = sqlx::query_as("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
                .fetch_one(&mut conn)
                .await
                .expect("tables");
            assert_eq!(tables, 0, "sessionctl created tables");
        }
    }

    // The newest migration missing: an older daemon's database. Refused, and not upgraded.
    let old = TestDb::new(kind).await;
    old.exec("DELETE FROM _sqlx_migrations WHERE version = (SELECT max(version) FROM _sqlx_migrations)")
        .await;
    let out = sessionctl(old.dir.path(), &["--database-url", &old.url, "sessions", "list"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("lacks migration") && err.contains("sessiond migrate"),
        "{err}"
    );
    let out = sessionctl(old.dir.path(), &["--database-url", &old.url, "sessions", "list"]);
    assert!(
        stderr(&out).contains("lacks migration"),
        "the first run migrated it: {}",
        stderr(&out)
    );
}

/// Point 10: a port nothing listens on fails at once (not after the pool's timeout), names
/// host and port and "connection refused", and never prints the password of the URL.
#[tokio::test]
async fn an_unreachable_postgres_fails_fast_and_names_the_server() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let url = format!("postgres://postgres:s3cr3t-pw@127.0.0.1:{port}/sessiond");
    let cwd = tempfile::tempdir().expect("cwd");
    let started = Instant::now();
    let out = sessionctl(cwd.path(), &["--database-url", &url, "sessions", "list"]);
    let took = started.elapsed();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "cannot reach PostgreSQL at 127.0.0.1:{port} (connection refused): is the server running"
        )),
        "{err}"
    );
    names_the_settings(&err);
    assert!(!err.contains("s3cr3t-pw"), "the password was printed: {err}");
    assert!(!err.contains("pool timed out"), "{err}");
    assert!(took < Duration::from_secs(3), "took {took:?}");
    // The full-screen console too, before it takes the terminal.
    let out = sessionctl(cwd.path(), &["--database-url", &url]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("connection refused"), "{}", stderr(&out));
}

on_both_backends!(
    a_missing_database_is_named_and_never_created,
    a_database_without_the_schema_is_refused_not_migrated,
    console_shows_a_lost_database_and_reconnects,
);

/// The screen's text with its lines joined and spaces collapsed, so a wrapped message reads
/// as one.
fn joined(screen: &str) -> String {
    screen.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The lost database's message (`reason` is its beginning or all of it) is on screen whole,
/// wrapped, not cut; the header marks the counts stale and the Audit tab no longer says live.
async fn wait_disconnected(s: &mut Screen, reason: &str) -> String {
    let message = format!("disconnected: {reason}");
    let screen = s
        .wait_within(Duration::from_secs(20), &message, |scr| {
            let text = joined(scr);
            text.contains(&message) && text.contains("— retrying")
        })
        .await;
    eprintln!("{screen}");
    assert!(screen.contains("DISCONNECTED stale: active"), "{screen}");
    assert!(
        screen.contains("STALE (database lost)") && !screen.contains("· live"),
        "{screen}"
    );
    assert!(
        screen.lines().all(|l| l.chars().count() <= 80),
        "wider than the terminal:\n{screen}"
    );
    screen
}

/// Back: the header counts again (`active n`), the audit tail is live, the banner is gone.
async fn wait_reconnected(s: &mut Screen, active: usize) {
    let counts = format!("active {active} ");
    s.wait_within(Duration::from_secs(20), "the reconnection", |scr| {
        !scr.contains("DISCONNECTED") && scr.contains(&counts) && scr.contains("· live")
    })
    .await;
}

/// Point 9: the database goes away under an open console and comes back. SQLite: the file is
/// moved away (its open connections would go on reading the moved file) and back.
/// PostgreSQL: the network is cut and restored by a fault proxy, then the database is dropped
/// (`DROP DATABASE … WITH (FORCE)`), created again empty, and migrated by the daemon. Each
/// time the header says why, on the Audit tab (so "live" must go), and once the database
/// answers the console reloads by itself: the counts include a session written meanwhile.
async fn console_shows_a_lost_database_and_reconnects(kind: DbKind) {
    let db = TestDb::new(kind).await;
    let store = db.store().await;
    for _ in 0..2 {
        seed_session(&store, chrono::Duration::minutes(5), chrono::Duration::minutes(1), None).await;
    }
    let proxy = match kind {
        DbKind::Sqlite => None,
        DbKind::Postgres => Some(FaultProxy::in_front_of_url(&db.url).await),
    };
    let mut settings = db.settings();
    if let Some(p) = &proxy {
        settings.database.url = SecretUrl::new(p.rewrite_url(&db.url));
    }
    let console = Arc::new(Console::open(settings.clone(), true).await.expect("console"));
    let mut s = Screen::start(console.clone(), 80, 24);
    s.key(KeyCode::Char('2'));
    wait_reconnected(&mut s, 2).await;

    match &proxy {
        None => {
            let file = db.dir.path().join("sessiond.db");
            let away = db.dir.path().join("moved-away.db");
            std::fs::rename(&file, &away).expect("move the database away");
            wait_disconnected(&mut s, &format!("no database at {}", file.display())).await;
            // Written meanwhile (the store's connections follow the moved file).
            seed_session(&store, chrono::Duration::minutes(1), chrono::Duration::minutes(1), None).await;
            std::fs::rename(&away, &file).expect("move the database back");
            wait_reconnected(&mut s, 3).await;
        }
        Some(p) => {
            p.set(Fault::Cut);
            wait_disconnected(&mut s, &format!("cannot reach PostgreSQL at {}", p.addr())).await;
            seed_session(&store, chrono::Duration::minutes(1), chrono::Duration::minutes(1), None).await;
            p.set(Fault::Pass);
            wait_reconnected(&mut s, 3).await;

            let name = db.url.rsplit_once('/').map(|(_, n)| n.to_owned()).expect("name");
            let admin = postgres_admin_url();
            let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin)
                .await
                .expect("admin connection");
            sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE {name} WITH (FORCE)")))
                .execute(&mut conn)
                .await
                .expect("drop the database");
            let gone = format!("database \"{name}\" does not exist on {}", p.addr());
            let screen = wait_disconnected(&mut s, &gone).await;
            assert!(!screen.contains("at line"), "{screen}");
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&mut conn)
                .await
                .expect("create it again");
            let proxied = SecretUrl::new(p.rewrite_url(&db.url)).redacted();
            wait_disconnected(&mut s, &format!("the database at {proxied} has no sessiond schema")).await;
            // The daemon creates the schema; the console reconnects to the empty database.
            let fresh = sessiond::open_store(&db.settings()).await.expect("migrate");
            seed_session(&fresh, chrono::Duration::minutes(1), chrono::Duration::minutes(1), None).await;
            wait_reconnected(&mut s, 1).await;
            fresh.close().await;
        }
    }
    s.quit().await;
    console.close().await;
}

/// A SQLite file replaced at its path under an open console (a restore or a copy put over it):
/// the console's connections keep the old file, so it says the file was replaced, stays
/// disconnected, and refuses changes — a reset would land in the old file and be lost.
#[tokio::test]
async fn console_refuses_changes_to_a_replaced_sqlite_file() {
    use sessionctl::ops::ConsoleError;
    use sessiond_core::store::open::OpenError;
    let db = TestDb::new(DbKind::Sqlite).await;
    let store = db.store().await;
    let id = seed_session(&store, chrono::Duration::minutes(5), chrono::Duration::minutes(1), None).await;
    let console = Arc::new(Console::open(db.settings(), false).await.expect("console"));
    let mut s = Screen::start(console.clone(), 80, 24);
    s.key(KeyCode::Char('2'));
    wait_reconnected(&mut s, 1).await;

    let file = db.dir.path().join("sessiond.db");
    let restored = db.dir.path().join("restored.db");
    std::fs::copy(&file, &restored).expect("copy the database");
    std::fs::rename(&restored, &file).expect("put the copy over it");
    wait_disconnected(&mut s, &format!("the database file {} was replaced", file.display())).await;
    match console.reset(id).await {
        Err(ConsoleError::Open(OpenError::Replaced(path))) => assert_eq!(path, file),
        other => panic!("a reset through the replaced file: {other:?}"),
    }
}
