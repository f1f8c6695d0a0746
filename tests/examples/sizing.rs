//! Sizing figures for docs/deployment.md: bytes per session (row + indexes) and per audit event
//! (row + indexes) on SQLite and PostgreSQL, from real API traffic (generate + validate through
//! the daemon, a browser user agent). Not part of the test suite:
//!   cargo run -p sessiond-tests --example sizing [sessions]

use sessiond_tests::{DbKind, TestDaemon, TestDb, client};

const UA: &str =
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

async fn sqlite_bytes(url: &str) -> i64 {
    let pool = sqlx::SqlitePool::connect(url).await.expect("sqlite");
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&pool)
        .await
        .expect("checkpoint");
    sqlx::query("VACUUM").execute(&pool).await.expect("vacuum");
    let pages: i64 = sqlx::query_scalar("PRAGMA page_count")
        .fetch_one(&pool)
        .await
        .expect("pages");
    let size: i64 = sqlx::query_scalar("PRAGMA page_size")
        .fetch_one(&pool)
        .await
        .expect("size");
    pool.close().await;
    pages * size
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(5000);
    for kind in [DbKind::Sqlite, DbKind::Postgres] {
        let db = TestDb::new(kind).await;
        let empty = if kind == DbKind::Sqlite {
            sqlite_bytes(&db.url).await
        } else {
            0
        };
        let daemon = TestDaemon::start(db.settings()).await;
        let http = client();
        let mut tasks = Vec::new();
        for w in 0..8 {
            let (http, gen_url, val_url) = (
                http.clone(),
                daemon.url("/api/session/generate-uuid"),
                daemon.url("/api/session/validate-uuid"),
            );
            tasks.push(tokio::spawn(async move {
                for _ in (w..n).step_by(8) {
                    let r = http
                        .post(&gen_url)
                        .header("user-agent", UA)
                        .send()
                        .await
                        .expect("generate");
                    let v: serde_json::Value = r.json().await.expect("json");
                    http.post(&val_url)
                        .header("user-agent", UA)
                        .json(&serde_json::json!({ "uuid": v["uuid"] }))
                        .send()
                        .await
                        .expect("validate");
                }
            }));
        }
        for t in tasks {
            t.await.expect("load");
        }
        daemon.stop().await;
        let (sessions, events, session_bytes, event_bytes) = match kind {
            DbKind::Sqlite => {
                let full = sqlite_bytes(&db.url).await;
                let pool = sqlx::SqlitePool::connect(&db.url).await.expect("sqlite");
                let s: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM user_sessions")
                    .fetch_one(&pool)
                    .await
                    .expect("n");
                let e: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_events")
                    .fetch_one(&pool)
                    .await
                    .expect("n");
                sqlx::query("DELETE FROM audit_events")
                    .execute(&pool)
                    .await
                    .expect("delete");
                pool.close().await;
                let without_events = sqlite_bytes(&db.url).await;
                (s, e, without_events - empty, full - without_events)
            }
            DbKind::Postgres => {
                let pool = sqlx::PgPool::connect(&db.url).await.expect("pg");
                sqlx::query("VACUUM ANALYZE").execute(&pool).await.expect("vacuum");
                let s: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM user_sessions")
                    .fetch_one(&pool)
                    .await
                    .expect("n");
                let e: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_events")
                    .fetch_one(&pool)
                    .await
                    .expect("n");
                let sb: i64 = sqlx::query_scalar("SELECT pg_total_relation_size('user_sessions')")
                    .fetch_one(&pool)
                    .await
                    .expect("size");
                let eb: i64 = sqlx::query_scalar("SELECT pg_total_relation_size('audit_events')")
                    .fetch_one(&pool)
                    .await
                    .expect("size");
                pool.close().await;
                (s, e, sb, eb)
            }
        };
        println!(
            "{kind:?}: {sessions} sessions, {events} audit events; {} bytes per session, {} bytes per event (rows + indexes)",
            session_bytes / sessions.max(1),
            event_bytes / events.max(1)
        );
    }
}
