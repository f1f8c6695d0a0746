//! Fast bulk seeding for retention tests and the retention benchmark: one INSERT … SELECT per
//! call (a recursive CTE on SQLite, generate_series on PostgreSQL), not row-by-row inserts.

use crate::DbKind;

/// Insert `n` `session.validated` audit events at `at_ms + i` (i = 1..=n), alternating IPv4
/// and IPv6 client addresses, none of them already anonymized.
pub async fn seed_audit(url: &str, kind: DbKind, n: i64, at_ms: i64) {
    match kind {
        DbKind::Sqlite => {
            let pool = sqlx::SqlitePool::connect(url).await.expect("sqlite");
            sqlx::query(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1) \
                 INSERT INTO audit_events (occurred_at, event_type, severity, ip, actor, metadata) \
                 SELECT ?2 + i, 'session.validated', 'info', CASE WHEN i % 2 = 0 \
                 THEN '203.' || (i % 256) || '.' || (i % 251) || '.' || (i % 200 + 1) \
                 ELSE '2001:db8:' || printf('%x', i % 65536) || ':1:2:3:4:' || printf('%x', i % 65535 + 1) END, \
                 'client', '{}' FROM n",
            )
            .bind(n)
            .bind(at_ms)
            .execute(&pool)
            .await
            .expect("seed");
            pool.close().await;
        }
        DbKind::Postgres => {
            let pool = sqlx::PgPool::connect(url).await.expect("postgres");
            sqlx::query(
                "INSERT INTO audit_events (occurred_at, event_type, severity, ip, actor, metadata) \
                 SELECT $2 + i, 'session.validated', 'info', CASE WHEN i % 2 = 0 \
                 THEN '203.' || (i % 256) || '.' || (i % 251) || '.' || (i % 200 + 1) \
                 ELSE '2001:db8:' || to_hex(i % 65536) || ':1:2:3:4:' || to_hex(i % 65535 + 1) END, \
                 'client', '{}'::jsonb FROM generate_series(1, $1::bigint) AS i",
            )
            .bind(n)
            .bind(at_ms)
            .execute(&pool)
            .await
            .expect("seed");
            pool.close().await;
        }
    }
}
