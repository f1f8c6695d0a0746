//! What the console (`sessionctl`) reads and changes beyond the API's own store verbs: pages of
//! sessions by keyset, a session's uploads, the SQL of the one audit query
//! ([`crate::store::Store::list_audit`], also the console's pages and live tail),
//! alerts, jobs, and the right-to-erasure purge. Every page query is an index range scan
//! (migration 0007 adds the indexes), so paging stays fast on millions of rows.

use uuid::Uuid;

use crate::audit::{AuditEvent, AuditQuery, NewEvent};
use crate::domain::SessionStatus;
use crate::store::StoreError;
use crate::store::alerts::{Alert, AlertRow, alerts};

/// Sort orders of the session list. Each is served by an index ending in `id`, the keyset
/// tie-breaker, in both directions (a page before a row is the reverse order's page after it).
/// Only these three columns sort: status and last IP are filters (`f`, `/`), and the upload
/// count is computed per row, so no index can serve an order on it over millions of rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionSort {
    /// Newest first.
    #[default]
    CreatedDesc,
    /// Oldest first.
    CreatedAsc,
    /// Most recently seen first.
    LastSeenDesc,
    /// Least recently seen first.
    LastSeenAsc,
    /// By UUID (the only order a UUID-prefix filter can serve from the primary key).
    Id,
    /// By UUID, descending.
    IdDesc,
}

/// A column the session list sorts by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionColumn {
    /// `created_at`.
    Created,
    /// `last_seen_at`.
    LastSeen,
    /// The UUID.
    Id,
}

impl SessionSort {
    /// Every order, in the order `s` cycles through them.
    pub const ALL: [SessionSort; 6] = [
        SessionSort::CreatedDesc,
        SessionSort::CreatedAsc,
        SessionSort::LastSeenDesc,
        SessionSort::LastSeenAsc,
        SessionSort::Id,
        SessionSort::IdDesc,
    ];

    /// Short label for headers.
    pub const fn label(self) -> &'static str {
        match self {
            SessionSort::CreatedDesc => "created ↓",
            SessionSort::CreatedAsc => "created ↑",
            SessionSort::LastSeenDesc => "last seen ↓",
            SessionSort::LastSeenAsc => "last seen ↑",
            SessionSort::Id => "uuid ↑",
            SessionSort::IdDesc => "uuid ↓",
        }
    }

    /// Parse the CLI spelling (`created`, `created-asc`, `last-seen`, `last-seen-asc`, `id`,
    /// `id-desc`).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "created" | "created-desc" => Some(SessionSort::CreatedDesc),
            "created-asc" => Some(SessionSort::CreatedAsc),
            "last-seen" | "last-seen-desc" => Some(SessionSort::LastSeenDesc),
            "last-seen-asc" => Some(SessionSort::LastSeenAsc),
            "id" | "uuid" | "id-asc" | "uuid-asc" => Some(SessionSort::Id),
            "id-desc" | "uuid-desc" => Some(SessionSort::IdDesc),
            _ => None,
        }
    }

    /// Largest values first.
    pub const fn descending(self) -> bool {
        matches!(
            self,
            SessionSort::CreatedDesc | SessionSort::LastSeenDesc | SessionSort::IdDesc
        )
    }

    /// The column it sorts by.
    pub const fn column(self) -> SessionColumn {
        match self {
            SessionSort::CreatedDesc | SessionSort::CreatedAsc => SessionColumn::Created,
            SessionSort::LastSeenDesc | SessionSort::LastSeenAsc => SessionColumn::LastSeen,
            SessionSort::Id | SessionSort::IdDesc => SessionColumn::Id,
        }
    }

    /// The same column the other way.
    pub const fn reversed(self) -> Self {
        match self {
            SessionSort::CreatedDesc => SessionSort::CreatedAsc,
            SessionSort::CreatedAsc => SessionSort::CreatedDesc,
            SessionSort::LastSeenDesc => SessionSort::LastSeenAsc,
            SessionSort::LastSeenAsc => SessionSort::LastSeenDesc,
            SessionSort::Id => SessionSort::IdDesc,
            SessionSort::IdDesc => SessionSort::Id,
        }
    }

    /// The next column (created → last seen → UUID → created), in its usual direction: times
    /// newest first, UUIDs ascending.
    pub const fn next_column(self) -> Self {
        match self.column() {
            SessionColumn::Created => SessionSort::LastSeenDesc,
            SessionColumn::LastSeen => SessionSort::Id,
            SessionColumn::Id => SessionSort::CreatedDesc,
        }
    }
}

/// Where a page starts: strictly after this (sort key, id) in the page's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionCursor {
    /// The sort column's value (Unix ms); ignored for the UUID orders.
    pub key: i64,
    /// The row's id.
    pub id: Uuid,
}

/// The UUIDs starting with a hex prefix, as an inclusive range on the primary key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UuidRange {
    /// Prefix padded with `0`.
    pub low: Uuid,
    /// Prefix padded with `f` (inclusive, so `ffff…` needs no overflow).
    pub high: Uuid,
}

impl UuidRange {
    /// The range of a hex prefix (dashes ignored, up to 32 digits). `None` if it is not hex.
    pub fn from_prefix(prefix: &str) -> Option<Self> {
        let hex: String = prefix.chars().filter(|c| *c != '-').collect();
        if hex.is_empty() || hex.len() > 32 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        let pad = |fill: char| {
            let mut s = hex.to_ascii_lowercase();
            while s.len() < 32 {
                s.push(fill);
            }
            u128::from_str_radix(&s, 16).ok().map(Uuid::from_u128)
        };
        Some(Self {
            low: pad('0')?,
            high: pad('f')?,
        })
    }
}

/// Which sessions a page shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionFilter {
    /// Only this stored status.
    pub status: Option<SessionStatus>,
    /// Only UUIDs in this range (forces [`SessionSort::Id`]).
    pub id_range: Option<UuidRange>,
    /// Only sessions last seen from this IP.
    pub last_ip: Option<String>,
}

/// One page of the session list.
#[derive(Debug, Clone, Default)]
pub struct SessionPageQuery {
    /// Filter.
    pub filter: SessionFilter,
    /// Order (replaced by [`SessionSort::Id`] when `filter.id_range` is set and it is not a
    /// UUID order).
    pub sort: SessionSort,
    /// Start strictly after this row; `None` for the first page.
    pub after: Option<SessionCursor>,
    /// Rows (capped at 1 000).
    pub limit: u32,
}

impl SessionPageQuery {
    /// The order the page is actually served in.
    pub fn effective_sort(&self) -> SessionSort {
        if self.filter.id_range.is_some() && self.sort.column() != SessionColumn::Id {
            SessionSort::Id
        } else {
            self.sort
        }
    }
}

/// A row of the session list.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SessionSummary {
    /// The session's id, the keyset tie-breaker of every order.
    pub id: Uuid,
    /// As stored (expiry by time is evaluated on read; see `Session::effective_status`).
    pub status: SessionStatus,
    /// Creation time in Unix ms (a keyset sort key, hence not a `DateTime`).
    pub created_at: i64,
    /// Last validation in Unix ms, at `session.touch_interval` resolution (a sort key too).
    pub last_seen_at: i64,
    /// Number of uploads.
    pub uploads: i64,
    /// Address of the last validation.
    pub last_ip: Option<String>,
}

impl SessionSummary {
    /// The cursor that starts the page after this row, in `sort` order.
    pub fn cursor(&self, sort: SessionSort) -> SessionCursor {
        let key = match sort {
            SessionSort::CreatedDesc | SessionSort::CreatedAsc => self.created_at,
            SessionSort::LastSeenDesc | SessionSort::LastSeenAsc => self.last_seen_at,
            SessionSort::Id | SessionSort::IdDesc => 0,
        };
        SessionCursor { key, id: self.id }
    }
}

/// An upload row as the console shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, sqlx::FromRow)]
pub struct UploadSummary {
    /// Its id, also the name of its object (`uploads/<session>/<id>.pdf`).
    pub id: Uuid,
    /// Client's file name, sanitized.
    pub filename: String,
    /// Size in bytes.
    pub size: i64,
    /// Hex SHA-256 of the content.
    pub sha256: String,
    /// When it was stored (Unix ms).
    pub created_at: i64,
}

/// A job lease (who runs a job now).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, sqlx::FromRow)]
pub struct JobLease {
    /// The job ([`crate::jobs::JobName`] spelling).
    pub job: String,
    /// Instance id of the daemon holding it.
    pub holder: String,
    /// When it lapses unless renewed (Unix ms).
    pub expires_at: i64,
}

/// What a purge removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct PurgeCounts {
    /// Upload rows deleted.
    pub uploads: u64,
    /// Audit events whose session id, IP and user agent were replaced.
    pub events: u64,
}

/// The console's store verbs.
#[async_trait::async_trait]
pub trait ConsoleStore: Send + Sync {
    /// One page of sessions (keyset: only `limit` rows are read).
    async fn session_page(&self, q: &SessionPageQuery) -> Result<Vec<SessionSummary>, StoreError>;
    /// A session's uploads, newest first.
    async fn session_uploads(&self, id: Uuid, limit: u32) -> Result<Vec<UploadSummary>, StoreError>;
    /// One audit event.
    async fn audit_event(&self, id: i64) -> Result<Option<AuditEvent>, StoreError>;
    /// The highest audit event id (0 when empty).
    async fn max_audit_id(&self) -> Result<i64, StoreError>;
    /// Events per minute since `since_ms`: (minute start in Unix ms, count), oldest first.
    async fn events_per_minute(&self, since_ms: i64) -> Result<Vec<(i64, i64)>, StoreError>;
    /// Alerts, open and acknowledged first, then (if `include_resolved`) resolved; newest
    /// activity first.
    async fn list_alerts(&self, include_resolved: bool, limit: u32) -> Result<Vec<Alert>, StoreError>;
    /// One alert.
    async fn get_alert(&self, id: i64) -> Result<Option<Alert>, StoreError>;
    /// Open alerts.
    async fn count_open_alerts(&self) -> Result<i64, StoreError>;
    /// Mark an open alert acknowledged and write `event` (`alert.acknowledged`, its metadata
    /// completed with `alert_id`, `rule` and `subject`) in the same transaction; false, and
    /// nothing written, if the alert is not open (or does not exist).
    async fn acknowledge_alert(&self, id: i64, by: &str, at_ms: i64, event: &NewEvent) -> Result<bool, StoreError>;
    /// Put an acknowledged alert back to open (its `acknowledged_at/by` cleared) and write
    /// `event` (`alert.unacknowledged`, its metadata completed with `alert_id`, `rule`,
    /// `subject` and `was_acknowledged_by`) in the same transaction; false, and nothing
    /// written, if the alert is not acknowledged (or does not exist).
    async fn unacknowledge_alert(&self, id: i64, event: &NewEvent) -> Result<bool, StoreError>;
    /// Every job lease.
    async fn job_leases(&self) -> Result<Vec<JobLease>, StoreError>;
    /// Right to erasure, in one transaction: delete the session's upload rows and its row,
    /// replace `session_id` on its audit events by `pseudonym` and clear their IP and user
    /// agent, then write `event` (which must not name the session in clear). `None` when
    /// there is no such session. Objects are deleted by the caller afterwards.
    async fn purge_session(
        &self,
        id: Uuid,
        pseudonym: Uuid,
        event: &NewEvent,
    ) -> Result<Option<PurgeCounts>, StoreError>;
}

#[derive(sqlx::FromRow)]
struct SessionPageRow {
    id: Uuid,
    status: String,
    created_at: i64,
    last_seen_at: i64,
    uploads: i64,
    last_ip: Option<String>,
}

impl TryFrom<SessionPageRow> for SessionSummary {
    type Error = StoreError;
    fn try_from(r: SessionPageRow) -> Result<Self, StoreError> {
        Ok(SessionSummary {
            id: r.id,
            status: SessionStatus::parse(&r.status)
                .ok_or_else(|| StoreError::Internal(format!("unknown session status `{}`", r.status)))?,
            created_at: r.created_at,
            last_seen_at: r.last_seen_at,
            uploads: r.uploads,
            last_ip: r.last_ip,
        })
    }
}

/// Which statement serves a session page, and what it binds after (key, id, limit).
enum PageShape {
    /// No filter: binds nothing more.
    Plain,
    /// Status filter: binds the status.
    Status(&'static str),
    /// IP filter (status optional): binds ip, status.
    Ip(String, Option<&'static str>),
    /// UUID range (status optional): binds low, high, status.
    Range(UuidRange, Option<&'static str>),
}

fn page_shape(q: &SessionPageQuery) -> PageShape {
    let status = q.filter.status.map(SessionStatus::as_str);
    if let Some(range) = q.filter.id_range {
        return PageShape::Range(range, status);
    }
    if let Some(ip) = &q.filter.last_ip {
        return PageShape::Ip(ip.clone(), status);
    }
    if q.sort.column() == SessionColumn::Id {
        // UUID order without a prefix: the whole key range.
        let all = UuidRange {
            low: Uuid::nil(),
            high: Uuid::max(),
        };
        return PageShape::Range(all, status);
    }
    match status {
        Some(s) => PageShape::Status(s),
        None => PageShape::Plain,
    }
}

/// The cursor for a first page: before every row in the page's order.
fn start_cursor(sort: SessionSort) -> SessionCursor {
    if sort.descending() {
        SessionCursor {
            key: i64::MAX,
            id: Uuid::max(),
        }
    } else {
        SessionCursor {
            key: i64::MIN,
            id: Uuid::nil(),
        }
    }
}

/// Session page statements for one backend: `$p` are its placeholders for
/// (key, id, limit); `$filter` is the equality prefix that picks the index.
macro_rules! page_sql {
    (key: $key:literal, cmp: $cmp:literal, dir: $dir:literal, filter: $filter:literal, p: ($p1:literal, $p2:literal, $p3:literal)) => {
        concat!(
            "SELECT s.id, s.status, s.created_at, s.last_seen_at, s.last_ip, \
             (SELECT count(*) FROM uploads u WHERE u.session_id = s.id) AS uploads \
             FROM user_sessions s WHERE ",
            $filter,
            "s.",
            $key,
            " ",
            $cmp,
            "= ",
            $p1,
            " AND (s.",
            $key,
            " ",
            $cmp,
            " ",
            $p1,
            " OR s.id ",
            $cmp,
            " ",
            $p2,
            ") ORDER BY s.",
            $key,
            " ",
            $dir,
            ", s.id ",
            $dir,
            " LIMIT ",
            $p3
        )
    };
}

/// A last-seen page over every status without an index of its own on `last_seen_at`: the
/// newest (or oldest) `limit` of each status from `(status, last_seen_at, id)`, merged. Each
/// refresh of a session moves it in every index on `last_seen_at`, so there is one, not two.
macro_rules! page_sql_each_status {
    (cmp: $cmp:literal, dir: $dir:literal, p: ($p1:literal, $p2:literal, $p3:literal)) => {
        concat!(
            "SELECT * FROM (",
            page_sql!(key: "last_seen_at", cmp: $cmp, dir: $dir, filter: "s.status = 'active' AND ", p: ($p1, $p2, $p3)),
            ") AS a UNION ALL SELECT * FROM (",
            page_sql!(key: "last_seen_at", cmp: $cmp, dir: $dir, filter: "s.status = 'revoked' AND ", p: ($p1, $p2, $p3)),
            ") AS r UNION ALL SELECT * FROM (",
            page_sql!(key: "last_seen_at", cmp: $cmp, dir: $dir, filter: "s.status = 'expired' AND ", p: ($p1, $p2, $p3)),
            ") AS e ORDER BY last_seen_at ",
            $dir,
            ", id ",
            $dir,
            " LIMIT ",
            $p3
        )
    };
}

/// The start of every audit query of both backends: the columns of `AuditRow`.
macro_rules! audit_select {
    () => {
        "SELECT id, occurred_at, event_type, severity, session_id, ip, user_agent, \
        request_id, actor, metadata FROM audit_events WHERE "
    };
}

/// Every session page statement of a backend, by (sort, shape).
macro_rules! page_table {
    ($name:ident, ($p1:literal, $p2:literal, $p3:literal), $status4:literal, $ip4:literal, $range:literal, $ip_id:literal, $range_desc:literal, $ip_id_desc:literal) => {
        pub(super) fn $name(sort: super::SessionSort, shape: u8) -> &'static str {
            use super::SessionSort as S;
            match (sort, shape) {
                (S::CreatedDesc, 0) => page_sql!(key: "created_at", cmp: "<", dir: "DESC", filter: "", p: ($p1, $p2, $p3)),
                (S::CreatedDesc, 1) => page_sql!(key: "created_at", cmp: "<", dir: "DESC", filter: $status4, p: ($p1, $p2, $p3)),
                (S::CreatedDesc, _) => page_sql!(key: "created_at", cmp: "<", dir: "DESC", filter: $ip4, p: ($p1, $p2, $p3)),
                (S::CreatedAsc, 0) => page_sql!(key: "created_at", cmp: ">", dir: "ASC", filter: "", p: ($p1, $p2, $p3)),
                (S::CreatedAsc, 1) => page_sql!(key: "created_at", cmp: ">", dir: "ASC", filter: $status4, p: ($p1, $p2, $p3)),
                (S::CreatedAsc, _) => page_sql!(key: "created_at", cmp: ">", dir: "ASC", filter: $ip4, p: ($p1, $p2, $p3)),
                (S::LastSeenDesc, 0) => page_sql_each_status!(cmp: "<", dir: "DESC", p: ($p1, $p2, $p3)),
                (S::LastSeenDesc, 1) => page_sql!(key: "last_seen_at", cmp: "<", dir: "DESC", filter: $status4, p: ($p1, $p2, $p3)),
                (S::LastSeenDesc, _) => page_sql!(key: "last_seen_at", cmp: "<", dir: "DESC", filter: $ip4, p: ($p1, $p2, $p3)),
                (S::LastSeenAsc, 0) => page_sql_each_status!(cmp: ">", dir: "ASC", p: ($p1, $p2, $p3)),
                (S::LastSeenAsc, 1) => page_sql!(key: "last_seen_at", cmp: ">", dir: "ASC", filter: $status4, p: ($p1, $p2, $p3)),
                (S::LastSeenAsc, _) => page_sql!(key: "last_seen_at", cmp: ">", dir: "ASC", filter: $ip4, p: ($p1, $p2, $p3)),
                (S::Id, 2) => $ip_id,
                (S::Id, _) => $range,
                (S::IdDesc, 2) => $ip_id_desc,
                (S::IdDesc, _) => $range_desc,
            }
        }
    };
}

mod sqlite_sql {
    use crate::store::sqlite::session_event_ids;

    page_table!(
        session_page,
        ("?1", "?2", "?3"),
        "s.status = ?4 AND ",
        "s.last_ip = ?4 AND (?5 IS NULL OR s.status = ?5) AND ",
        "SELECT s.id, s.status, s.created_at, s.last_seen_at, s.last_ip, \
         (SELECT count(*) FROM uploads u WHERE u.session_id = s.id) AS uploads \
         FROM user_sessions s WHERE s.id > ?2 AND s.id >= ?4 AND s.id <= ?5 \
         AND (?6 IS NULL OR s.status = ?6) AND ?1 = ?1 ORDER BY s.id LIMIT ?3",
        "SELECT s.id, s.status, s.created_at, s.last_seen_at, s.last_ip, \
         (SELECT count(*) FROM uploads u WHERE u.session_id = s.id) AS uploads \
         FROM user_sessions s WHERE s.last_ip = ?4 AND (?5 IS NULL OR s.status = ?5) AND s.id > ?2 \
         AND ?1 = ?1 ORDER BY s.id LIMIT ?3",
        "SELECT s.id, s.status, s.created_at, s.last_seen_at, s.last_ip, \
         (SELECT count(*) FROM uploads u WHERE u.session_id = s.id) AS uploads \
         FROM user_sessions s WHERE s.id < ?2 AND s.id >= ?4 AND s.id <= ?5 \
         AND (?6 IS NULL OR s.status = ?6) AND ?1 = ?1 ORDER BY s.id DESC LIMIT ?3",
        "SELECT s.id, s.status, s.created_at, s.last_seen_at, s.last_ip, \
         (SELECT count(*) FROM uploads u WHERE u.session_id = s.id) AS uploads \
         FROM user_sessions s WHERE s.last_ip = ?4 AND (?5 IS NULL OR s.status = ?5) AND s.id < ?2 \
         AND ?1 = ?1 ORDER BY s.id DESC LIMIT ?3"
    );
    pub const SESSION_UPLOADS: &str = "SELECT id, filename, size, sha256, created_at FROM uploads \
        WHERE session_id = ? ORDER BY created_at DESC LIMIT ?";
    // Binds: after (?1), before (?2), ip, type, severity, request id, limit (?7), hide routine
    // system events (?8), session (?9).
    macro_rules! filters {
        () => {
            "id > ?1 AND id < ?2 AND (?3 IS NULL OR ip = ?3) AND (?4 IS NULL OR event_type = ?4) \
            AND (?5 IS NULL OR severity = ?5) AND (?6 IS NULL OR request_id = ?6) \
            AND (NOT ?8 OR actor <> 'system' OR session_id IS NOT NULL OR severity <> 'info') "
        };
    }
    pub const AUDIT_DESC: &str = concat!(audit_select!(), filters!(), "ORDER BY id DESC LIMIT ?7");
    pub const AUDIT_ASC: &str = concat!(audit_select!(), filters!(), "ORDER BY id ASC LIMIT ?7");
    // A session's events come from the segment index (migration 0008, `session_event_ids!`).
    pub const AUDIT_SESSION_DESC: &str = concat!(
        session_event_ids!("?9"),
        audit_select!(),
        "id IN session_event_ids AND session_id = ?9 AND ",
        filters!(),
        "ORDER BY id DESC LIMIT ?7"
    );
    pub const AUDIT_SESSION_ASC: &str = concat!(
        session_event_ids!("?9"),
        audit_select!(),
        "id IN session_event_ids AND session_id = ?9 AND ",
        filters!(),
        "ORDER BY id ASC LIMIT ?7"
    );
    pub const AUDIT_EVENT: &str = "SELECT id, occurred_at, event_type, severity, session_id, ip, user_agent, \
        request_id, actor, metadata FROM audit_events WHERE id = ?";
    pub const MAX_AUDIT_ID: &str = "SELECT coalesce(max(id), 0) FROM audit_events";
    pub const EVENTS_PER_MINUTE: &str = "SELECT (occurred_at / 60000) * 60000 AS m, count(*) FROM audit_events \
        WHERE occurred_at >= ? GROUP BY m ORDER BY m";
    pub const LIST_ALERTS: &str = "SELECT id, rule, subject, severity, status, count, first_seen_at, last_seen_at, \
        acknowledged_at, acknowledged_by, resolved_at, last_emailed_at, sample_event_ids FROM alerts \
        WHERE (?1 OR status <> 'resolved') \
        ORDER BY CASE status WHEN 'open' THEN 0 WHEN 'acknowledged' THEN 1 ELSE 2 END, last_seen_at DESC LIMIT ?2";
    pub const GET_ALERT: &str = "SELECT id, rule, subject, severity, status, count, first_seen_at, last_seen_at, \
        acknowledged_at, acknowledged_by, resolved_at, last_emailed_at, sample_event_ids FROM alerts WHERE id = ?";
    pub const COUNT_OPEN_ALERTS: &str = "SELECT count(*) FROM alerts WHERE status = 'open'";
    pub const ACK_ALERT: &str = "UPDATE alerts SET status = 'acknowledged', acknowledged_by = ?1, \
        acknowledged_at = ?2 WHERE id = ?3 AND status = 'open' RETURNING rule, subject";
    pub const ACKED_ALERT: &str =
        "SELECT rule, subject, acknowledged_by FROM alerts WHERE id = ?1 AND status = 'acknowledged'";
    pub const UNACK_ALERT: &str = "UPDATE alerts SET status = 'open', acknowledged_by = NULL, \
        acknowledged_at = NULL WHERE id = ?1 AND status = 'acknowledged'";
    pub const JOB_LEASES: &str = "SELECT job, holder, expires_at FROM job_leases ORDER BY job";
    pub const SESSION_EXISTS: &str = "SELECT 1 FROM user_sessions WHERE id = ?";
    pub const QUEUE_SESSION_DELETION: &str = crate::store::deletions::sqlite_sql::QUEUE_SESSION;
    pub const DELETE_UPLOADS: &str = "DELETE FROM uploads WHERE session_id = ?";
    pub const DELETE_SESSION: &str = "DELETE FROM user_sessions WHERE id = ?";
    pub const PSEUDONYMIZE_EVENTS: &str = concat!(
        session_event_ids!("?2"),
        "UPDATE audit_events SET session_id = ?1, ip = NULL, user_agent = NULL \
        WHERE id IN session_event_ids AND session_id = ?2"
    );
    /// After `PSEUDONYMIZE_EVENTS`: the segment index renames the session too.
    pub const PSEUDONYMIZE_INDEX: Option<&str> = Some(crate::store::sqlite::RENAME_SESSION);
}

mod pg_sql {
    page_table!(
        session_page,
        ("$1", "$2", "$3"),
        "s.status = $4 AND ",
        "s.last_ip = $4 AND ($5::text IS NULL OR s.status = $5) AND ",
        "SELECT s.id, s.status, s.created_at, s.last_seen_at, s.last_ip, \
         (SELECT count(*) FROM uploads u WHERE u.session_id = s.id) AS uploads \
         FROM user_sessions s WHERE s.id > $2 AND s.id >= $4 AND s.id <= $5 \
         AND ($6::text IS NULL OR s.status = $6) AND $1::bigint IS NOT NULL ORDER BY s.id LIMIT $3",
        "SELECT s.id, s.status, s.created_at, s.last_seen_at, s.last_ip, \
         (SELECT count(*) FROM uploads u WHERE u.session_id = s.id) AS uploads \
         FROM user_sessions s WHERE s.last_ip = $4 AND ($5::text IS NULL OR s.status = $5) AND s.id > $2 \
         AND $1::bigint IS NOT NULL ORDER BY s.id LIMIT $3",
        "SELECT s.id, s.status, s.created_at, s.last_seen_at, s.last_ip, \
         (SELECT count(*) FROM uploads u WHERE u.session_id = s.id) AS uploads \
         FROM user_sessions s WHERE s.id < $2 AND s.id >= $4 AND s.id <= $5 \
         AND ($6::text IS NULL OR s.status = $6) AND $1::bigint IS NOT NULL ORDER BY s.id DESC LIMIT $3",
        "SELECT s.id, s.status, s.created_at, s.last_seen_at, s.last_ip, \
         (SELECT count(*) FROM uploads u WHERE u.session_id = s.id) AS uploads \
         FROM user_sessions s WHERE s.last_ip = $4 AND ($5::text IS NULL OR s.status = $5) AND s.id < $2 \
         AND $1::bigint IS NOT NULL ORDER BY s.id DESC LIMIT $3"
    );
    pub const SESSION_UPLOADS: &str = "SELECT id, filename, size, sha256, created_at FROM uploads \
        WHERE session_id = $1 ORDER BY created_at DESC LIMIT $2";
    // Binds: after ($1), before ($2), ip, type, severity, request id, limit ($7), hide routine
    // system events ($8), session ($9).
    macro_rules! filters {
        () => {
            "id > $1 AND id < $2 AND ($3::text IS NULL OR ip = $3) AND ($4::text IS NULL OR event_type = $4) \
            AND ($5::text IS NULL OR severity = $5) AND ($6::text IS NULL OR request_id = $6) \
            AND (NOT $8::boolean OR actor <> 'system' OR session_id IS NOT NULL OR severity <> 'info') "
        };
    }
    pub const AUDIT_DESC: &str = concat!(audit_select!(), filters!(), "ORDER BY id DESC LIMIT $7");
    pub const AUDIT_ASC: &str = concat!(audit_select!(), filters!(), "ORDER BY id ASC LIMIT $7");
    pub const AUDIT_SESSION_DESC: &str = concat!(
        audit_select!(),
        "session_id = $9 AND ",
        filters!(),
        "ORDER BY id DESC LIMIT $7"
    );
    pub const AUDIT_SESSION_ASC: &str = concat!(
        audit_select!(),
        "session_id = $9 AND ",
        filters!(),
        "ORDER BY id ASC LIMIT $7"
    );
    pub const AUDIT_EVENT: &str = "SELECT id, occurred_at, event_type, severity, session_id, ip, user_agent, \
        request_id, actor, metadata FROM audit_events WHERE id = $1";
    pub const MAX_AUDIT_ID: &str = "SELECT coalesce(max(id), 0)::bigint FROM audit_events";
    pub const EVENTS_PER_MINUTE: &str = "SELECT (occurred_at / 60000) * 60000 AS m, count(*)::bigint FROM audit_events \
        WHERE occurred_at >= $1 GROUP BY m ORDER BY m";
    pub const LIST_ALERTS: &str = "SELECT id, rule, subject, severity, status, count, first_seen_at, last_seen_at, \
        acknowledged_at, acknowledged_by, resolved_at, last_emailed_at, sample_event_ids FROM alerts \
        WHERE ($1 OR status <> 'resolved') \
        ORDER BY CASE status WHEN 'open' THEN 0 WHEN 'acknowledged' THEN 1 ELSE 2 END, last_seen_at DESC LIMIT $2";
    pub const GET_ALERT: &str = "SELECT id, rule, subject, severity, status, count, first_seen_at, last_seen_at, \
        acknowledged_at, acknowledged_by, resolved_at, last_emailed_at, sample_event_ids FROM alerts WHERE id = $1";
    pub const COUNT_OPEN_ALERTS: &str = "SELECT count(*)::bigint FROM alerts WHERE status = 'open'";
    pub const ACK_ALERT: &str = "UPDATE alerts SET status = 'acknowledged', acknowledged_by = $1, \
        acknowledged_at = $2 WHERE id = $3 AND status = 'open' RETURNING rule, subject";
    pub const ACKED_ALERT: &str =
        "SELECT rule, subject, acknowledged_by FROM alerts WHERE id = $1 AND status = 'acknowledged' FOR UPDATE";
    pub const UNACK_ALERT: &str = "UPDATE alerts SET status = 'open', acknowledged_by = NULL, \
        acknowledged_at = NULL WHERE id = $1 AND status = 'acknowledged'";
    pub const JOB_LEASES: &str = "SELECT job, holder, expires_at FROM job_leases ORDER BY job";
    pub const SESSION_EXISTS: &str = "SELECT 1 FROM user_sessions WHERE id = $1 FOR UPDATE";
    pub const QUEUE_SESSION_DELETION: &str = crate::store::deletions::pg_sql::QUEUE_SESSION;
    pub const DELETE_UPLOADS: &str = "DELETE FROM uploads WHERE session_id = $1";
    pub const DELETE_SESSION: &str = "DELETE FROM user_sessions WHERE id = $1";
    pub const PSEUDONYMIZE_EVENTS: &str = "UPDATE audit_events SET session_id = $1, ip = NULL, user_agent = NULL \
        WHERE session_id = $2";
    /// PostgreSQL indexes `audit_events` by session directly (`audit_events_session`).
    pub const PSEUDONYMIZE_INDEX: Option<&str> = None;
}

/// The statements that find one session's audit events on `backend` (console pages, purge),
/// for query-plan tests: the pages bind (after, before, ip, type, severity, request id, limit,
/// hide routine system events, session), the purge ones (pseudonym, session).
#[doc(hidden)]
pub fn session_audit_statements(backend: super::Backend) -> Vec<(&'static str, &'static str)> {
    let (desc, asc, purge, purge_index) = match backend {
        super::Backend::Sqlite => (
            sqlite_sql::AUDIT_SESSION_DESC,
            sqlite_sql::AUDIT_SESSION_ASC,
            sqlite_sql::PSEUDONYMIZE_EVENTS,
            sqlite_sql::PSEUDONYMIZE_INDEX,
        ),
        super::Backend::Postgres => (
            pg_sql::AUDIT_SESSION_DESC,
            pg_sql::AUDIT_SESSION_ASC,
            pg_sql::PSEUDONYMIZE_EVENTS,
            pg_sql::PSEUDONYMIZE_INDEX,
        ),
    };
    let mut statements = vec![
        ("audit_session_desc", desc),
        ("audit_session_asc", asc),
        ("pseudonymize_events", purge),
    ];
    statements.extend(purge_index.map(|sql| ("pseudonymize_index", sql)));
    statements
}

/// Every session page statement of `backend` with a label and sample bind values — for
/// query-plan tests (each must be an index range scan).
#[doc(hidden)]
pub fn page_statements(backend: super::Backend) -> Vec<(String, &'static str, SessionPageQuery)> {
    let mut out = Vec::new();
    let filters = [
        ("plain", SessionFilter::default()),
        (
            "status",
            SessionFilter {
                status: Some(SessionStatus::Revoked),
                ..Default::default()
            },
        ),
        (
            "ip",
            SessionFilter {
                last_ip: Some("10.1.2.1".into()),
                ..Default::default()
            },
        ),
        (
            "prefix",
            SessionFilter {
                id_range: UuidRange::from_prefix("ab"),
                status: Some(SessionStatus::Active),
                ..Default::default()
            },
        ),
    ];
    for sort in SessionSort::ALL {
        for (name, filter) in &filters {
            let q = SessionPageQuery {
                filter: filter.clone(),
                sort,
                after: Some(SessionCursor {
                    key: 1_700_000_000_000,
                    id: Uuid::from_u128(0x7fff_ffff_ffff_4fff_bfff_ffff_ffff_ffff),
                }),
                limit: 20,
            };
            let code = match page_shape(&q) {
                PageShape::Plain => 0,
                PageShape::Status(_) => 1,
                PageShape::Ip(..) => 2,
                PageShape::Range(..) => 3,
            };
            let sql = match backend {
                super::Backend::Sqlite => sqlite_sql::session_page(q.effective_sort(), code),
                super::Backend::Postgres => pg_sql::session_page(q.effective_sort(), code),
            };
            out.push((format!("{sort:?}/{name}"), sql, q));
        }
    }
    out
}

/// The Rust shared by both backends (the SQL differs only in placeholders and casts).
macro_rules! console_impl {
    ($store:ty, $db:ty, $sql:ident) => {
        impl $store {
            /// [`crate::store::Store::list_audit`]: a session's events by index, the others
            /// along the id index.
            pub(crate) async fn audit_events(&self, q: &AuditQuery) -> Result<Vec<AuditEvent>, StoreError> {
                let sql = match (q.ascending, q.session_id.is_some()) {
                    (true, false) => $sql::AUDIT_ASC,
                    (true, true) => $sql::AUDIT_SESSION_ASC,
                    (false, false) => $sql::AUDIT_DESC,
                    (false, true) => $sql::AUDIT_SESSION_DESC,
                };
                let query = sqlx::query_as::<_, super::AuditRow>(sql)
                    .bind(q.after_id.unwrap_or(i64::MIN))
                    .bind(q.before_id.unwrap_or(i64::MAX))
                    .bind(q.ip.as_deref())
                    .bind(q.event_type.as_deref())
                    .bind(q.severity.map(crate::audit::Severity::as_str))
                    .bind(q.request_id.as_deref())
                    .bind(i64::from(q.limit.clamp(1, 10_000)))
                    .bind(q.hide_routine_system);
                let query = match q.session_id {
                    Some(s) => query.bind(s),
                    None => query,
                };
                Ok(query
                    .fetch_all(&self.pool)
                    .await?
                    .into_iter()
                    .map(Into::into)
                    .collect())
            }
        }

        #[async_trait::async_trait]
        impl ConsoleStore for $store {
            async fn session_page(&self, q: &SessionPageQuery) -> Result<Vec<SessionSummary>, StoreError> {
                let sort = q.effective_sort();
                let after = q.after.unwrap_or_else(|| start_cursor(sort));
                let limit = i64::from(q.limit.clamp(1, 1000));
                let shape = page_shape(q);
                let code = match shape {
                    PageShape::Plain => 0,
                    PageShape::Status(_) => 1,
                    PageShape::Ip(..) => 2,
                    PageShape::Range(..) => 3,
                };
                let query = sqlx::query_as::<_, SessionPageRow>($sql::session_page(sort, code))
                    .bind(after.key)
                    .bind(after.id)
                    .bind(limit);
                let query = match shape {
                    PageShape::Plain => query,
                    PageShape::Status(s) => query.bind(s),
                    PageShape::Ip(ip, s) => query.bind(ip).bind(s),
                    PageShape::Range(r, s) => query.bind(r.low).bind(r.high).bind(s),
                };
                query
                    .fetch_all(&self.pool)
                    .await?
                    .into_iter()
                    .map(TryInto::try_into)
                    .collect()
            }

            async fn session_uploads(&self, id: Uuid, limit: u32) -> Result<Vec<UploadSummary>, StoreError> {
                Ok(sqlx::query_as($sql::SESSION_UPLOADS)
                    .bind(id)
                    .bind(i64::from(limit.clamp(1, 10_000)))
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn audit_event(&self, id: i64) -> Result<Option<AuditEvent>, StoreError> {
                let row: Option<super::AuditRow> = sqlx::query_as($sql::AUDIT_EVENT)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
                Ok(row.map(Into::into))
            }

            async fn max_audit_id(&self) -> Result<i64, StoreError> {
                Ok(sqlx::query_scalar($sql::MAX_AUDIT_ID)
                    .fetch_one(&self.pool)
                    .await?)
            }

            async fn events_per_minute(&self, since_ms: i64) -> Result<Vec<(i64, i64)>, StoreError> {
                Ok(sqlx::query_as($sql::EVENTS_PER_MINUTE)
                    .bind(since_ms)
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn list_alerts(&self, include_resolved: bool, limit: u32) -> Result<Vec<Alert>, StoreError> {
                let rows: Vec<AlertRow> = sqlx::query_as($sql::LIST_ALERTS)
                    .bind(include_resolved)
                    .bind(i64::from(limit.clamp(1, 10_000)))
                    .fetch_all(&self.pool)
                    .await?;
                alerts(rows)
            }

            async fn get_alert(&self, id: i64) -> Result<Option<Alert>, StoreError> {
                let row: Option<AlertRow> = sqlx::query_as($sql::GET_ALERT)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(TryInto::try_into).transpose()
            }

            async fn count_open_alerts(&self) -> Result<i64, StoreError> {
                Ok(sqlx::query_scalar($sql::COUNT_OPEN_ALERTS)
                    .fetch_one(&self.pool)
                    .await?)
            }

            async fn acknowledge_alert(
                &self,
                id: i64,
                by: &str,
                at_ms: i64,
                event: &NewEvent,
            ) -> Result<bool, StoreError> {
                let mut tx = self.begin_write().await?;
                let acked: Option<(String, String)> = sqlx::query_as($sql::ACK_ALERT)
                    .bind(by)
                    .bind(at_ms)
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some((rule, subject)) = acked else {
                    return Ok(false);
                };
                let mut meta = match &event.metadata {
                    serde_json::Value::Object(m) => m.clone(),
                    _ => serde_json::Map::new(),
                };
                meta.insert("alert_id".into(), id.into());
                meta.insert("rule".into(), rule.into());
                meta.insert("subject".into(), subject.into());
                Self::insert_event(&mut tx, event, &serde_json::Value::Object(meta)).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn unacknowledge_alert(&self, id: i64, event: &NewEvent) -> Result<bool, StoreError> {
                let mut tx = self.begin_write().await?;
                let acked: Option<(String, String, Option<String>)> = sqlx::query_as($sql::ACKED_ALERT)
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some((rule, subject, by)) = acked else {
                    return Ok(false);
                };
                sqlx::query($sql::UNACK_ALERT).bind(id).execute(&mut *tx).await?;
                let mut meta = match &event.metadata {
                    serde_json::Value::Object(m) => m.clone(),
                    _ => serde_json::Map::new(),
                };
                meta.insert("alert_id".into(), id.into());
                meta.insert("rule".into(), rule.into());
                meta.insert("subject".into(), subject.into());
                meta.insert("was_acknowledged_by".into(), by.into());
                Self::insert_event(&mut tx, event, &serde_json::Value::Object(meta)).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn job_leases(&self) -> Result<Vec<JobLease>, StoreError> {
                Ok(sqlx::query_as($sql::JOB_LEASES).fetch_all(&self.pool).await?)
            }

            async fn purge_session(
                &self,
                id: Uuid,
                pseudonym: Uuid,
                event: &NewEvent,
            ) -> Result<Option<PurgeCounts>, StoreError> {
                let mut tx = self.begin_write().await?;
                let exists: Option<i32> = sqlx::query_scalar($sql::SESSION_EXISTS)
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
                if exists.is_none() {
                    return Ok(None);
                }
                // Its objects are queued for deletion in the same transaction, before the rows
                // that say there are any go.
                sqlx::query($sql::QUEUE_SESSION_DELETION)
                    .bind(crate::store::deletions::session_target(id))
                    .bind(crate::store::deletions::reason::SESSION_PURGED)
                    .bind(event.occurred_at.timestamp_millis())
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                let uploads = sqlx::query($sql::DELETE_UPLOADS)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                sqlx::query($sql::DELETE_SESSION)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                // Erasure is a legitimate change: the chain keeps the originals' digests.
                Self::chain_redact_session(&mut tx, id, pseudonym).await?;
                let events = sqlx::query($sql::PSEUDONYMIZE_EVENTS)
                    .bind(pseudonym)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if let Some(sql) = $sql::PSEUDONYMIZE_INDEX {
                    sqlx::query(sql)
                        .bind(pseudonym)
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                }
                Self::insert_event(&mut tx, event, &event.metadata).await?;
                tx.commit().await?;
                Ok(Some(PurgeCounts { uploads, events }))
            }
        }
    };
}

console_impl!(super::SqliteStore, sqlx::Sqlite, sqlite_sql);
console_impl!(super::PgStore, sqlx::Postgres, pg_sql);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_prefix_becomes_an_inclusive_range() {
        let r = UuidRange::from_prefix("AB-c").expect("hex");
        assert_eq!(r.low.to_string(), "abc00000-0000-0000-0000-000000000000");
        assert_eq!(r.high.to_string(), "abcfffff-ffff-ffff-ffff-ffffffffffff");
        assert!(UuidRange::from_prefix("xyz").is_none());
        assert!(UuidRange::from_prefix("").is_none());
        let full = UuidRange::from_prefix("ffffffff-ffff-ffff-ffff-ffffffffffff").expect("hex");
        assert_eq!(full.low, full.high);
    }
}
