//! `sessions list`: one keyset page, the cursor that continues it (`--after`), or with `--all`
//! every row, page by page, written as it is read (constant memory whatever the count).
//!
//! A cursor is `<sort>:<key>:<uuid>`: the order it continues, the last row's sort key (Unix ms;
//! 0 in UUID order) and its UUID. It is only meaningful with the same filters and sort.

use sessiond_core::domain::{SessionStatus, Timeouts};
use sessiond_core::store::Store;
use sessiond_core::store::console::{
    SessionCursor, SessionFilter, SessionPageQuery, SessionSort, SessionSummary, UuidRange,
};
use uuid::Uuid;

use super::{Failure, Out, json, usage};
use crate::fmt;

/// Rows read per query with `--all`, and the most one page may have.
pub const MAX_PAGE: u32 = 1000;

/// `sessions list --sort`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SortArg {
    /// Newest first.
    #[value(alias = "created-desc")]
    Created,
    /// Oldest first.
    CreatedAsc,
    /// Most recently seen first.
    #[value(alias = "last-seen-desc")]
    LastSeen,
    /// Least recently seen first.
    LastSeenAsc,
    /// By UUID (the order of a --prefix list).
    #[value(alias = "uuid")]
    Id,
    /// By UUID, descending.
    #[value(alias = "uuid-desc")]
    IdDesc,
}

impl SortArg {
    /// The store's order.
    pub fn sort(self) -> SessionSort {
        match self {
            SortArg::Created => SessionSort::CreatedDesc,
            SortArg::CreatedAsc => SessionSort::CreatedAsc,
            SortArg::LastSeen => SessionSort::LastSeenDesc,
            SortArg::LastSeenAsc => SessionSort::LastSeenAsc,
            SortArg::Id => SessionSort::Id,
            SortArg::IdDesc => SessionSort::IdDesc,
        }
    }

    /// The flag's spelling of `sort`.
    pub fn name(sort: SessionSort) -> &'static str {
        match sort {
            SessionSort::CreatedDesc => "created",
            SessionSort::CreatedAsc => "created-asc",
            SessionSort::LastSeenDesc => "last-seen",
            SessionSort::LastSeenAsc => "last-seen-asc",
            SessionSort::Id => "id",
            SessionSort::IdDesc => "id-desc",
        }
    }
}

/// A position in a sorted session list (`--after`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    /// The order it continues.
    pub sort: SessionSort,
    /// Where in it.
    pub at: SessionCursor,
}

impl Cursor {
    /// The text printed for the next page.
    pub fn encode(&self) -> String {
        format!("{}:{}:{}", SortArg::name(self.sort), self.at.key, self.at.id)
    }

    /// Parse [`Cursor::encode`]'s text (for clap).
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = || format!("`{text}` is not a cursor (pass the next_cursor a previous page printed)");
        let mut parts = text.trim().splitn(3, ':');
        let (Some(sort), Some(key), Some(id)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad());
        };
        let sort = SessionSort::ALL
            .into_iter()
            .find(|s| SortArg::name(*s) == sort)
            .ok_or_else(bad)?;
        let key = key.parse::<i64>().map_err(|_| bad())?;
        let id = Uuid::parse_str(id).map_err(|_| bad())?;
        Ok(Self {
            sort,
            at: SessionCursor { key, id },
        })
    }
}

/// `sessions list` options.
#[derive(Debug, Clone, clap::Args)]
pub struct ListArgs {
    /// Only this status: active, revoked, expired (any case).
    #[arg(long, value_parser = crate::filter::arg::status)]
    pub status: Option<SessionStatus>,
    /// Only sessions whose UUID starts with this hex prefix (then sorted by UUID).
    #[arg(long, value_parser = crate::filter::arg::prefix)]
    pub prefix: Option<UuidRange>,
    /// Only sessions last seen from this IP address.
    #[arg(long, value_parser = crate::filter::arg::ip)]
    pub ip: Option<String>,
    /// Order.
    #[arg(long, value_enum, ignore_case = true, default_value_t = SortArg::Created)]
    pub sort: SortArg,
    /// Rows, 1 to 1000; when more follow, the next page's cursor is printed.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_PAGE)))]
    pub limit: u32,
    /// Start after this cursor (the `next_cursor` of the previous page; same filters and sort).
    #[arg(long, value_name = "CURSOR", value_parser = Cursor::parse)]
    pub after: Option<Cursor>,
    /// Every matching row, read 1000 at a time and printed as it comes (no cursor).
    #[arg(long, conflicts_with = "limit")]
    pub all: bool,
    #[command(flatten)]
    pub watch: super::WatchArgs,
}

/// Print the list `a` asks for.
pub async fn list(store: &dyn Store, timeouts: &Timeouts, a: &ListArgs, out: &Out) -> Result<(), Failure> {
    let mut q = SessionPageQuery {
        filter: SessionFilter {
            status: a.status,
            id_range: a.prefix,
            last_ip: a.ip.clone(),
        },
        sort: a.sort.sort(),
        after: None,
        limit: if a.all { MAX_PAGE } else { a.limit },
    };
    let sort = q.effective_sort();
    if let Some(c) = a.after {
        if c.sort != sort {
            return Err(usage(format!(
                "--after: the cursor continues a list in `{}` order, this one is in `{}` order \
                 (pass the same --sort and filters as for the page that printed it)",
                SortArg::name(c.sort),
                SortArg::name(sort)
            )));
        }
        q.after = Some(c.at);
    }
    let page = q.limit as usize;
    let mut rows = Rows::start(out, timeouts)?;
    let next = loop {
        let batch = store.session_page(&q).await?;
        for r in &batch {
            rows.row(r)?;
        }
        let Some(last) = batch.last().map(|r| r.cursor(sort)) else {
            break None;
        };
        q.after = Some(last);
        if batch.len() < page {
            break None;
        }
        if a.all {
            continue;
        }
        // A full page: a cursor only if a row follows it (one more index probe).
        let probe = SessionPageQuery { limit: 1, ..q.clone() };
        break (!store.session_page(&probe).await?.is_empty()).then_some(Cursor { sort, at: last });
    };
    rows.end(next)
}

/// The rows as they are written: a table, or `{"sessions": [...], "next_cursor": ...}` with
/// one row per line.
struct Rows<'a> {
    out: &'a Out,
    timeouts: &'a Timeouts,
    count: usize,
}

impl<'a> Rows<'a> {
    fn start(out: &'a Out, timeouts: &'a Timeouts) -> Result<Self, Failure> {
        if out.json() {
            out.line("{\"sessions\": [")?;
        } else if out.wide() {
            out.header(&format!(
                "{:<36}  {:<7}  {:<24}  {:<24}  {:<24}  {:>7}  last ip",
                "uuid", "status", "created", "last seen", "expires", "uploads"
            ))?;
        } else {
            out.header(&format!(
                "{:<36}  {:<7}  {:<20}  {:<20}  {:>7}  last ip",
                "uuid", "status", "created", "last seen", "uploads"
            ))?;
        }
        Ok(Self {
            out,
            timeouts,
            count: 0,
        })
    }

    fn row(&mut self, r: &SessionSummary) -> Result<(), Failure> {
        self.count += 1;
        let ip = r.last_ip.as_deref().unwrap_or("");
        if self.out.json() {
            let row = serde_json::to_string(&json::session_row(r, self.timeouts)).map_err(|e| e.to_string())?;
            let sep = if self.count > 1 { "," } else { "" };
            return self.out.line(&format!("{sep}{row}"));
        }
        if self.out.wide() {
            let t = |ms| sessiond_core::domain::rfc3339(sessiond_core::domain::from_millis(ms));
            let expires = sessiond_core::domain::rfc3339(json::summary_session(r).expires_at(self.timeouts));
            return self.out.line(&format!(
                "{:<36}  {:<7}  {:<24}  {:<24}  {:<24}  {:>7}  {ip}",
                r.id,
                r.status,
                t(r.created_at),
                t(r.last_seen_at),
                expires,
                r.uploads
            ));
        }
        self.out.line(&format!(
            "{:<36}  {:<7}  {:<20}  {:<20}  {:>7}  {ip}",
            r.id,
            r.status,
            fmt::datetime(r.created_at),
            fmt::datetime(r.last_seen_at),
            r.uploads
        ))
    }

    /// Close the list; in a table the next page's cursor is a hint on stderr.
    fn end(self, next: Option<Cursor>) -> Result<(), Failure> {
        if self.out.json() {
            let next = serde_json::to_string(&next.map(|c| c.encode())).map_err(|e| e.to_string())?;
            return self.out.line(&format!("], \"next_cursor\": {next}}}"));
        }
        if let Some(c) = next {
            self.out.flush()?;
            eprintln!("sessionctl: more sessions follow: add --after {}", c.encode());
        }
        Ok(())
    }
}
