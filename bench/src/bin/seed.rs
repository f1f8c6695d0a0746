//! Bulk seeder for benchmarks: inserts N active sessions (random UUID v4, recent timestamps)
//! into a migrated database, fast — multi-row inserts of 5 000 rows in one transaction (SQLite,
//! above 1 M rows: with the secondary indexes built once at the end) — and
//! writes a random sample of their ids to a file for the load generator.
//!
//!   seed --database-url sqlite://bench.db --count 100000 --sample 20000 --out uuids.txt

use std::io::Write;

use clap::Parser;
use sessiond_core::config::{DatabaseSettings, SecretUrl};

#[derive(Parser)]
struct Args {
    #[arg(long)]
    database_url: String,
    #[arg(long, default_value_t = 100_000)]
    count: u64,
    #[arg(long, default_value_t = 20_000)]
    sample: u64,
    #[arg(long, default_value = "uuids.txt")]
    out: std::path::PathBuf,
}

const ROWS_PER_INSERT: usize = 5_000;

/// Above this many sessions the SQLite secondary indexes are built after the rows.
const BULK_ROWS: u64 = 1_000_000;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let settings = DatabaseSettings {
        url: SecretUrl::new(args.database_url.clone()),
        max_connections: 2,
        ..Default::default()
    };
    let store = sessiond_core::store::connect(&settings).await?;
    store.migrate().await?;
    store.close().await;
    let started = std::time::Instant::now();
    let now = chrono::Utc::now().timestamp_millis();
    let every = (args.count / args.sample.max(1)).max(1);
    let mut sample = std::io::BufWriter::new(std::fs::File::create(&args.out)?);
    let mut left = args.count;
    let mut n: u64 = 0;
    if args.database_url.starts_with("sqlite") {
        let opts: sqlx::sqlite::SqliteConnectOptions = args.database_url.parse()?;
        let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect_with(
            &opts.synchronous(sqlx::sqlite::SqliteSynchronous::Off),
        )
        .await?;
        sqlx::query("PRAGMA journal_mode = WAL").execute(&mut conn).await?;
        // Random ids land all over the session B-tree: keep it in memory (up to 2 GB, used as
        // the table grows) rather than rereading pages for every row.
        sqlx::query("PRAGMA cache_size = -2000000").execute(&mut conn).await?;
        // One transaction. Past `BULK_ROWS` the secondary indexes are dropped and built again
        // at the end (one sort each) instead of taking every random id one at a time; their
        // definitions are read back from the schema, so they stay the migrations' own, and a
        // failure rolls everything back, indexes included. Below it (the 100 k benchmark) the
        // indexes grow row by row, as in a live database (pages about 70 % full, not packed).
        let mut tx = sqlx::Connection::begin(&mut conn).await?;
        let indexes: Vec<(String, String)> = if args.count > BULK_ROWS {
            sqlx::query_as(
                "SELECT name, sql FROM sqlite_schema \
                 WHERE type = 'index' AND tbl_name = 'user_sessions' AND sql IS NOT NULL",
            )
            .fetch_all(&mut *tx)
            .await?
        } else {
            Vec::new()
        };
        for (name, _) in &indexes {
            sqlx::query(sqlx::AssertSqlSafe(format!("DROP INDEX \"{name}\"")))
                .execute(&mut *tx)
                .await?;
        }
        while left > 0 {
            let rows = left.min(ROWS_PER_INSERT as u64) as usize;
            let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                "INSERT INTO user_sessions (id, status, created_at, last_seen_at, last_ip) ",
            );
            q.push_values(0..rows, |mut b, _| {
                let id = uuid::Uuid::new_v4();
                if n.is_multiple_of(every) {
                    let _ = writeln!(sample, "{id}");
                }
                n += 1;
                b.push_bind(id)
                    .push_bind("active")
                    .push_bind(now)
                    .push_bind(now)
                    .push_bind("198.51.100.1");
            });
            q.build().execute(&mut *tx).await?;
            left -= rows as u64;
        }
        for (_, sql) in indexes {
            sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        // Leave the rows in the database file, not in a WAL of gigabytes the daemon's first
        // commit would have to copy back (a stall that would land in the benchmark's p99).
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&mut conn)
            .await?;
    } else {
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&args.database_url).await?;
        sqlx::query("SET synchronous_commit = off").execute(&mut conn).await?;
        while left > 0 {
            let rows = left.min(50_000) as usize;
            let ids: Vec<uuid::Uuid> = (0..rows).map(|_| uuid::Uuid::new_v4()).collect();
            for id in &ids {
                if n.is_multiple_of(every) {
                    let _ = writeln!(sample, "{id}");
                }
                n += 1;
            }
            sqlx::query(
                "INSERT INTO user_sessions (id, status, created_at, last_seen_at, last_ip) \
                 SELECT id, 'active', $2, $2, '198.51.100.1' FROM UNNEST($1::uuid[]) AS t(id)",
            )
            .bind(&ids)
            .bind(now)
            .execute(&mut conn)
            .await?;
            left -= rows as u64;
        }
        sqlx::query("ANALYZE user_sessions").execute(&mut conn).await?;
    }
    sample.flush()?;
    eprintln!(
        "seeded {} sessions in {:.1} s",
        args.count,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
