//! Backups (issue 20): `sessionctl backup FILE` copies a live SQLite database while a daemon
//! keeps writing, and the copy restores (a daemon opens it with every acknowledged session);
//! on PostgreSQL the command points at `pg_dump`, and a `pg_dump` / `pg_restore` round trip
//! restores the same way.

use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use sessiond_core::config::SecretUrl;
use sessiond_tests::{DbKind, TestDaemon, TestDb, client, on_both_backends};
use uuid::Uuid;

on_both_backends!(backup_under_load_restores);

fn sessionctl(db: &TestDb, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sessionctl"))
        .arg("--database-url")
        .arg(&db.url)
        .args(args)
        .current_dir(db.dir.path())
        .env_remove("SESSIOND_CONFIG")
        .stdin(Stdio::null())
        .output()
        .expect("run sessionctl")
}

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("run");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn backup_under_load_restores(kind: DbKind) {
    let db = TestDb::new(kind).await;
    let daemon = TestDaemon::start(db.settings()).await;
    let acked: Arc<Mutex<Vec<Uuid>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut load = Vec::new();
    for _ in 0..4 {
        let (acked, stop, url) = (acked.clone(), stop.clone(), daemon.url("/api/session/generate-uuid"));
        load.push(tokio::spawn(async move {
            let http = client();
            while !stop.load(Ordering::Acquire) {
                if let Ok(r) = http.post(&url).send().await
                    && r.status() == 201
                    && let Ok(v) = r.json::<Value>().await
                    && let Some(id) = v["uuid"].as_str().and_then(|s| Uuid::parse_str(s).ok())
                {
                    acked.lock().expect("lock").push(id);
                }
            }
        }));
    }
    // Some sessions acknowledged before the backup starts; writes go on during it.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while acked.lock().expect("lock").len() < 50 {
        assert!(std::time::Instant::now() < deadline, "no load");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let before: Vec<Uuid> = acked.lock().expect("lock").clone();
    let file = db.dir.path().join("backup.db");
    let file_arg = file.to_str().expect("utf-8 path").to_owned();

    let restored_url = match kind {
        DbKind::Sqlite => {
            let out = sessionctl(&db, &["--json", "backup", &file_arg]);
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            let report: Value = serde_json::from_slice(&out.stdout).expect("json");
            assert!(report["bytes"].as_u64().unwrap_or(0) > 0, "{report}");
            // Never overwrites.
            let again = sessionctl(&db, &["backup", &file_arg]);
            assert!(!again.status.success());
            assert!(String::from_utf8_lossy(&again.stderr).contains("exists"));
            // Restore: the copy becomes a database file of its own.
            let restored = db.dir.path().join("restored.db");
            std::fs::copy(&file, &restored).expect("restore copy");
            (format!("sqlite://{}", restored.display()), None)
        }
        DbKind::Postgres => {
            let out = sessionctl(&db, &["backup", &file_arg]);
            assert_eq!(out.status.code(), Some(2));
            assert!(String::from_utf8_lossy(&out.stderr).contains("pg_dump"));
            // The documented procedure: pg_dump --format=custom, pg_restore into a new database.
            run(Command::new("pg_dump").args(["--format=custom", "--file", &file_arg, &db.url]));
            let admin = sessiond_tests::postgres_admin_url();
            let name = format!("sessiond_t_{}", Uuid::new_v4().simple());
            let base = admin
                .rsplit_once('/')
                .map(|(b, _)| b.to_owned())
                .unwrap_or(admin.clone());
            run(Command::new("psql").args([admin.as_str(), "-qc", &format!("CREATE DATABASE {name}")]));
            let url = format!("{base}/{name}");
            run(Command::new("pg_restore").args(["--no-owner", "--exit-on-error", "-d", &url, &file_arg]));
            (url, Some(name))
        }
    };
    stop.store(true, Ordering::Release);
    for t in load {
        let _ = t.await;
    }
    daemon.stop().await;

    let (url, pg_name) = restored_url;
    let mut settings = db.settings();
    settings.database.url = SecretUrl::new(url);
    let restored = sessiond_core::store::connect(&settings.database)
        .await
        .expect("open the restored database");
    restored.migrate().await.expect("the restored database is current");
    for id in &before {
        assert!(
            restored.get_session(*id).await.expect("get").is_some(),
            "session {id}, acknowledged before the backup, is in it"
        );
    }
    restored.close().await;
    if let Some(name) = pg_name {
        let admin = sessiond_tests::postgres_admin_url();
        run(Command::new("psql").args([
            admin.as_str(),
            "-qc",
            &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        ]));
    }
}
