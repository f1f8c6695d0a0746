//! The console's store queries on both backends: keyset paging visits every row exactly once
//! in order for every sort and filter, and every page statement is an index range scan.

use std::collections::HashSet;

use sessiond_core::domain::SessionStatus;
use sessiond_core::store::Backend;
use sessiond_core::store::console::{
    SessionFilter, SessionPageQuery, SessionSort, SessionSummary, UuidRange, page_statements,
};
use sessiond_tests::console::seed_sessions;
use sessiond_tests::{DbKind, TestDb, on_both_backends};

const NOW: i64 = 1_764_000_000_000;

fn key(r: &SessionSummary, sort: SessionSort) -> (i64, uuid::Uuid) {
    match sort {
        SessionSort::CreatedDesc | SessionSort::CreatedAsc => (r.created_at, r.id),
        SessionSort::LastSeenDesc | SessionSort::LastSeenAsc => (r.last_seen_at, r.id),
        SessionSort::Id | SessionSort::IdDesc => (0, r.id),
    }
}

async fn paging_visits_every_row_once_in_order(kind: DbKind) {
    let db = TestDb::new(kind).await;
    seed_sessions(&db, 1000, NOW).await;
    let store = db.store().await;
    let filters = [
        (SessionFilter::default(), 1000),
        (
            SessionFilter {
                status: Some(SessionStatus::Revoked),
                ..Default::default()
            },
            20,
        ),
        (
            SessionFilter {
                last_ip: Some("10.0.5.1".into()),
                ..Default::default()
            },
            5, // i = 5, 205, 405, 605, 805
        ),
    ];
    for sort in SessionSort::ALL {
        for (filter, expected) in &filters {
            let mut q = SessionPageQuery {
                filter: filter.clone(),
                sort,
                after: None,
                limit: 37,
            };
            let mut seen = Vec::new();
            loop {
                let page = store.session_page(&q).await.expect("page");
                assert!(page.len() <= 37);
                let Some(last) = page.last() else { break };
                q.after = Some(last.cursor(sort));
                seen.extend(page);
            }
            assert_eq!(seen.len(), *expected, "{sort:?} {filter:?}");
            let ids: HashSet<_> = seen.iter().map(|r| r.id).collect();
            assert_eq!(ids.len(), seen.len(), "no row twice ({sort:?})");
            let keys: Vec<_> = seen.iter().map(|r| key(r, sort)).collect();
            let ordered = if sort.descending() {
                keys.windows(2).all(|w| w[0] > w[1])
            } else {
                keys.windows(2).all(|w| w[0] < w[1])
            };
            assert!(ordered, "{sort:?} order");
            assert!(seen.iter().all(|r| filter.status.is_none_or(|s| r.status == s)));
            assert!(
                seen.iter()
                    .all(|r| filter.last_ip.is_none() || r.last_ip == filter.last_ip)
            );
        }
    }
    // A UUID prefix pages in UUID order within its range.
    let prefix = "a";
    let range = UuidRange::from_prefix(prefix).expect("hex");
    let mut q = SessionPageQuery {
        filter: SessionFilter {
            id_range: Some(range),
            ..Default::default()
        },
        sort: SessionSort::CreatedDesc,
        after: None,
        limit: 10,
    };
    let mut seen = Vec::new();
    loop {
        let page = store.session_page(&q).await.expect("page");
        let Some(last) = page.last() else { break };
        q.after = Some(last.cursor(q.effective_sort()));
        seen.extend(page);
    }
    assert!(!seen.is_empty());
    assert!(seen.iter().all(|r| r.id.to_string().starts_with(prefix)));
    assert!(seen.windows(2).all(|w| w[0].id < w[1].id));
    let all_a = store
        .session_page(&SessionPageQuery {
            limit: 1000,
            ..Default::default()
        })
        .await
        .expect("all")
        .iter()
        .filter(|r| r.id.to_string().starts_with(prefix))
        .count();
    assert_eq!(seen.len(), all_a);
}

/// Bind a page query the way the store does: key, id, limit, then the shape's values.
macro_rules! bind_page {
    ($query:expr, $q:expr) => {{
        let q: &SessionPageQuery = $q;
        let after = q.after.expect("cursor");
        let query = $query.bind(after.key).bind(after.id).bind(i64::from(q.limit));
        let status = q.filter.status.map(SessionStatus::as_str);
        if let Some(r) = q.filter.id_range {
            query.bind(r.low).bind(r.high).bind(status)
        } else if let Some(ip) = q.filter.last_ip.clone() {
            query.bind(ip).bind(status)
        } else if matches!(q.sort, SessionSort::Id | SessionSort::IdDesc) {
            query.bind(uuid::Uuid::nil()).bind(uuid::Uuid::max()).bind(status)
        } else if let Some(s) = status {
            query.bind(s)
        } else {
            query
        }
    }};
}

async fn page_statements_are_index_range_scans(kind: DbKind) {
    let db = TestDb::new(kind).await;
    seed_sessions(&db, 100_000, NOW).await;
    match kind {
        DbKind::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&db.url).await.expect("sqlite");
            for (label, sql, q) in page_statements(Backend::Sqlite) {
                let explain = format!("EXPLAIN QUERY PLAN {sql}");
                let rows: Vec<(i64, i64, i64, String)> = bind_page!(sqlx::query_as(sqlx::AssertSqlSafe(explain)), &q)
                    .fetch_all(&pool)
                    .await
                    .expect("explain");
                let plan: Vec<String> = rows.into_iter().map(|r| r.3).collect();
                let text = plan.join(" | ");
                assert!(
                    plan.iter().any(|l| l.starts_with("SEARCH s USING")),
                    "{label}: not an index search: {text}"
                );
                assert!(
                    !plan.iter().any(|l| l.starts_with("SCAN s")),
                    "{label}: full scan: {text}"
                );
                if label.starts_with("LastSeen") && label.ends_with("/plain") {
                    // Merged from the status index: each status's page (≤ limit rows) is sorted
                    // for the merge, never the table.
                    assert!(text.starts_with("MERGE (UNION ALL)"), "{label}: not a merge: {text}");
                    let searches = text
                        .matches("SEARCH s USING INDEX user_sessions_status_last_seen_id")
                        .count();
                    assert_eq!(searches, 3, "{label}: one index range per status: {text}");
                } else if !label.ends_with("/ip") || label.starts_with("Created") {
                    // Only the IP filter sorts (the few sessions of one IP) when not in created order.
                    assert!(!text.contains("TEMP B-TREE"), "{label}: sorts: {text}");
                }
            }
            pool.close().await;
        }
        DbKind::Postgres => {
            let pool = sqlx::PgPool::connect(&db.url).await.expect("pg");
            for (label, sql, q) in page_statements(Backend::Postgres) {
                let explain = format!("EXPLAIN {sql}");
                let rows: Vec<(String,)> = bind_page!(sqlx::query_as(sqlx::AssertSqlSafe(explain)), &q)
                    .fetch_all(&pool)
                    .await
                    .expect("explain");
                let text = rows.into_iter().map(|r| r.0).collect::<Vec<_>>().join("\n");
                assert!(
                    !text.contains("Seq Scan on user_sessions"),
                    "{label}: full scan:\n{text}"
                );
                if label.starts_with("LastSeen") && label.ends_with("/plain") {
                    assert!(text.contains("Merge Append"), "{label}: not a merge:\n{text}");
                    let scans = text.matches("using user_sessions_status_last_seen_id").count();
                    assert_eq!(scans, 3, "{label}: one index range per status:\n{text}");
                }
                if !label.ends_with("/ip") || label.starts_with("Created") {
                    assert!(
                        !text
                            .lines()
                            .any(|l| l.trim_start().trim_start_matches("->  ").starts_with("Sort  (")),
                        "{label}: sorts:\n{text}"
                    );
                }
            }
            pool.close().await;
        }
    }
}

on_both_backends!(
    paging_visits_every_row_once_in_order,
    page_statements_are_index_range_scans
);
