//! Test support for the console (`sessionctl`): bulk-seeding sessions fast (one
//! `INSERT … SELECT` over a generated series) and a few audit rows.

use crate::TestDb;

/// Seed `n` sessions in one statement: valid UUID v4 ids, created one second apart going back
/// from `now_ms`, every 50th revoked, every 7th expired, last IPs 10.0.(i mod 200).1.
pub async fn seed_sessions(db: &TestDb, n: i64, now_ms: i64) {
    if db.url.starts_with("sqlite:") {
        // A big page cache keeps the index inserts in memory: 1 M rows in seconds, not a minute.
        let options = <sqlx::sqlite::SqliteConnectOptions as std::str::FromStr>::from_str(&db.url)
            .expect("sqlite url")
            .pragma("cache_size", "-400000")
            .pragma("synchronous", "OFF");
        // One connection: a schema change made on one connection is not seen by another's
        // parser until it reads the schema again ("index … already exists" on re-create).
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .expect("open sqlite");
        // Building the secondary indexes once after the insert (a sort) is far faster than
        // updating them row by row: drop them, insert, recreate them from their own SQL.
        let indexes: Vec<(String, String)> = sqlx::query_as(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'user_sessions' \
             AND sql IS NOT NULL",
        )
        .fetch_all(&pool)
        .await
        .expect("list indexes");
        for (name, _) in &indexes {
            sqlx::query(sqlx::AssertSqlSafe(format!("DROP INDEX {name}")))
                .execute(&pool)
                .await
                .expect("drop index");
        }
        sqlx::query(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1) \
             INSERT INTO user_sessions (id, status, created_at, last_seen_at, created_ip, last_ip) \
             SELECT unhex(substr(h, 1, 12) || '4' || substr(h, 14, 3) || substr('89AB', 1 + (i % 4), 1) \
                    || substr(h, 18, 15)), \
                    CASE WHEN i % 50 = 0 THEN 'revoked' WHEN i % 7 = 0 THEN 'expired' ELSE 'active' END, \
                    ?2 - i * 1000, ?2 - i * 500, \
                    '10.0.' || (i % 200) || '.1', \
                    '10.0.' || (i % 200) || '.1' \
             FROM (SELECT i, hex(randomblob(16)) AS h FROM n)",
        )
        .bind(n)
        .bind(now_ms)
        .execute(&pool)
        .await
        .expect("seed sessions (sqlite)");
        for (_, sql) in indexes {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&pool)
                .await
                .expect("recreate index");
        }
        sqlx::query("ANALYZE").execute(&pool).await.expect("analyze");
        pool.close().await;
    } else {
        let pool = sqlx::PgPool::connect(&db.url).await.expect("open postgres");
        sqlx::query(
            "INSERT INTO user_sessions (id, status, created_at, last_seen_at, created_ip, last_ip) \
             SELECT gen_random_uuid(), \
                    CASE WHEN i % 50 = 0 THEN 'revoked' WHEN i % 7 = 0 THEN 'expired' ELSE 'active' END, \
                    $2 - i * 1000, $2 - i * 500, \
                    '10.0.' || (i % 200) || '.1', \
                    '10.0.' || (i % 200) || '.1' \
             FROM generate_series(1::bigint, $1) AS i",
        )
        .bind(n)
        .bind(now_ms)
        .execute(&pool)
        .await
        .expect("seed sessions (postgres)");
        sqlx::query("ANALYZE user_sessions")
            .execute(&pool)
            .await
            .expect("analyze");
        pool.close().await;
    }
}
