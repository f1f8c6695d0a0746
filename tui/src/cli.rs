//! Command line: the full-screen console by default, and subcommands for scripts with table
//! or `--json` output. Destructive subcommands (`sessions reset|purge`) ask for confirmation
//! on a terminal and require `--yes` otherwise.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use serde_json::json;
use sessiond_core::audit::{AuditEvent, AuditQuery, Severity};
use sessiond_core::domain::{SessionStatus, rfc3339};
use sessiond_core::store::console::{SessionFilter, SessionPageQuery, SessionSort, SessionSummary, UuidRange};
use uuid::Uuid;

use crate::fmt;
use crate::ops::Console;
use crate::theme::ThemeKind;

pub use crate::export::ExportFormat;

/// `sessionctl`.
#[derive(Debug, Parser)]
#[command(
    name = "sessionctl",
    version,
    about = "Admin console for sessiond (full-screen without a subcommand)"
)]
pub struct Cli {
    /// Config file (default: ./config/sessiond.toml when it exists, else built-in defaults).
    #[arg(long, global = true, env = "SESSIOND_CONFIG")]
    pub config: Option<PathBuf>,
    /// Database URL, overriding `database.url` (sqlite://… or postgres://…).
    #[arg(long, global = true)]
    pub database_url: Option<String>,
    /// Disable every action that changes data.
    #[arg(long, global = true)]
    pub read_only: bool,
    /// Do not capture the mouse (keeps the terminal's own selection working).
    #[arg(long)]
    pub no_mouse: bool,
    /// Colour palette.
    #[arg(long, value_enum, default_value_t = ThemeKind::Dark)]
    pub theme: ThemeKind,
    /// Show the console's times in UTC (default: the zone of `TZ`, else the system's).
    #[arg(long)]
    pub utc: bool,
    /// Machine-readable output (JSON; `audit tail` prints one JSON object per line).
    #[arg(long, global = true)]
    pub json: bool,
    /// What to do (default: the full-screen console).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Sessions.
    #[command(subcommand)]
    Sessions(SessionsCmd),
    /// Audit trail.
    #[command(subcommand)]
    Audit(AuditCmd),
    /// Alerts.
    #[command(subcommand)]
    Alerts(AlertsCmd),
    /// Scheduled jobs.
    #[command(subcommand)]
    Jobs(JobsCmd),
    /// Copy the SQLite database to FILE while daemons keep running (online backup API, one
    /// consistent instant, integrity-checked). PostgreSQL: use `pg_dump` (docs/deployment.md).
    Backup {
        /// The new backup file (never overwritten).
        file: std::path::PathBuf,
    },
}

/// `sessions …`
#[derive(Debug, Subcommand)]
pub enum SessionsCmd {
    /// List sessions (one keyset page).
    List(ListArgs),
    /// One session with its uploads and audit trail.
    Show {
        /// Session UUID.
        id: Uuid,
    },
    /// Revoke a session and queue its objects for deletion (audited as admin:<os user>).
    Reset {
        /// Session UUID.
        id: Uuid,
        /// Do not ask (required when stdin is not a terminal).
        #[arg(long)]
        yes: bool,
    },
    /// Right to erasure: delete the session, its uploads and objects; pseudonymize its audit
    /// events (random pseudonym, IP and user agent cleared).
    Purge {
        /// Session UUID.
        id: Uuid,
        /// Do not ask (required when stdin is not a terminal).
        #[arg(long)]
        yes: bool,
    },
}

/// `sessions list` options.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only this status (active, revoked, expired).
    #[arg(long)]
    pub status: Option<String>,
    /// Only sessions whose UUID starts with this hex prefix (sorted by UUID).
    #[arg(long)]
    pub prefix: Option<String>,
    /// Only sessions last seen from this IP.
    #[arg(long)]
    pub ip: Option<String>,
    /// created, created-asc, last-seen, last-seen-asc, id.
    #[arg(long, default_value = "created")]
    pub sort: String,
    /// Rows (at most 1000).
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
}

/// `audit …`
#[derive(Debug, Subcommand)]
pub enum AuditCmd {
    /// Print the latest events, oldest first; with --follow keep printing new ones.
    Tail {
        /// Keep printing new events (every 250 ms) until interrupted.
        #[arg(long)]
        follow: bool,
        /// Events printed before following.
        #[arg(long, default_value_t = 20)]
        limit: u32,
        /// Only this event type.
        #[arg(long = "type")]
        event_type: Option<String>,
        /// Only this severity.
        #[arg(long)]
        severity: Option<Severity>,
        /// Only this session.
        #[arg(long)]
        session: Option<Uuid>,
        /// Only this IP.
        #[arg(long)]
        ip: Option<String>,
    },
    /// Check the tamper-evident chain (needs `audit.hmac_key`); exit 0 intact, 1 broken (the
    /// first broken event and what is wrong), 2 cannot check.
    Verify,
    /// Write events to stdout, oldest first, streaming (constant memory).
    Export {
        /// Only events at or after this time (RFC 3339, e.g. 2026-12-01T00:00:00Z).
        #[arg(long)]
        since: Option<String>,
        /// Only events before this time (RFC 3339).
        #[arg(long)]
        until: Option<String>,
        /// Only these event types (repeatable).
        #[arg(long = "type")]
        event_types: Vec<String>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = ExportFormat::Jsonl)]
        format: ExportFormat,
    },
}

/// `alerts …`
#[derive(Debug, Subcommand)]
pub enum AlertsCmd {
    /// Open and acknowledged alerts (with --all, resolved too).
    List {
        /// Include resolved alerts.
        #[arg(long)]
        all: bool,
    },
    /// Acknowledge an open alert (audited).
    Ack {
        /// Alert id.
        id: i64,
    },
}

/// `jobs …`
#[derive(Debug, Subcommand)]
pub enum JobsCmd {
    /// Every job: schedule, next run, last run and outcome.
    List,
}

/// A subcommand failure: message and exit code.
#[derive(Debug)]
pub struct Failure {
    /// For stderr.
    pub message: String,
    /// Process exit code.
    pub code: u8,
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Self { message, code: 1 }
    }
}

impl From<sessiond_core::store::StoreError> for Failure {
    fn from(e: sessiond_core::store::StoreError) -> Self {
        e.to_string().into()
    }
}

impl From<crate::ops::ConsoleError> for Failure {
    fn from(e: crate::ops::ConsoleError) -> Self {
        e.to_string().into()
    }
}

fn usage(message: impl Into<String>) -> Failure {
    Failure {
        message: message.into(),
        code: 2,
    }
}

fn session_json(s: &SessionSummary) -> serde_json::Value {
    json!({
        "id": s.id,
        "status": s.status,
        "created_at": rfc3339(sessiond_core::domain::from_millis(s.created_at)),
        "last_seen_at": rfc3339(sessiond_core::domain::from_millis(s.last_seen_at)),
        "uploads": s.uploads,
        "last_ip": s.last_ip,
    })
}

fn event_line(e: &AuditEvent) -> String {
    format!(
        "{:>8}  {}  {:<8} {:<26} {:<36} {:<15} {} {}",
        e.id,
        rfc3339(e.occurred_at),
        e.severity,
        e.event_type,
        e.session_id.map(|s| s.to_string()).unwrap_or_else(|| "-".into()),
        e.ip.clone().unwrap_or_else(|| "-".into()),
        e.actor,
        e.metadata
    )
}

fn print_json(v: &impl serde::Serialize) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(v).map_err(|e| e.to_string())?;
    println!("{text}");
    Ok(())
}

/// Ask on the terminal, or require `--yes` when stdin is not one.
fn confirm(question: &str, yes: bool) -> Result<(), Failure> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(usage(
            "refusing a destructive action without --yes (stdin is not a terminal)",
        ));
    }
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| e.to_string())?;
    if answer.trim().eq_ignore_ascii_case("y") || answer.trim().eq_ignore_ascii_case("yes") {
        Ok(())
    } else {
        Err(usage("cancelled: nothing was changed"))
    }
}

/// Run a subcommand.
pub async fn run(console: &Console, command: Command, json_out: bool) -> Result<(), Failure> {
    let store = &console.store;
    match command {
        Command::Sessions(SessionsCmd::List(a)) => {
            let status = match a.status.as_deref() {
                None => None,
                Some(s) => {
                    Some(SessionStatus::parse(s).ok_or_else(|| usage(format!("--status: unknown status `{s}`")))?)
                }
            };
            let id_range = match a.prefix.as_deref() {
                None => None,
                Some(p) => Some(UuidRange::from_prefix(p).ok_or_else(|| usage(format!("--prefix: `{p}` is not hex")))?),
            };
            let sort =
                SessionSort::parse(&a.sort).ok_or_else(|| usage(format!("--sort: unknown order `{}`", a.sort)))?;
            let rows = store
                .session_page(&SessionPageQuery {
                    filter: SessionFilter {
                        status,
                        id_range,
                        last_ip: a.ip,
                    },
                    sort,
                    after: None,
                    limit: a.limit.clamp(1, 1000),
                })
                .await?;
            if json_out {
                return print_json(&rows.iter().map(session_json).collect::<Vec<_>>());
            }
            println!(
                "{:<36}  {:<7}  {:<19}  {:<19}  {:>7}  last ip",
                "uuid", "status", "created", "last seen", "uploads"
            );
            for r in &rows {
                println!(
                    "{:<36}  {:<7}  {:<19}  {:<19}  {:>7}  {}",
                    r.id,
                    r.status,
                    fmt::datetime(r.created_at),
                    fmt::datetime(r.last_seen_at),
                    r.uploads,
                    r.last_ip.clone().unwrap_or_default()
                );
            }
            Ok(())
        }
        Command::Sessions(SessionsCmd::Show { id }) => {
            let s = store
                .get_session(id)
                .await
                .map_err(|e| e.to_string())?
                .ok_or_else(|| Failure::from(format!("no session {id}")))?;
            let uploads = store.session_uploads(id, 1000).await?;
            let events = store
                .list_audit(&AuditQuery {
                    session_id: Some(id),
                    limit: 100,
                    ..Default::default()
                })
                .await?;
            if json_out {
                return print_json(&json!({
                    "id": s.id,
                    "status": s.status,
                    "created_at": rfc3339(s.created_at),
                    "last_seen_at": rfc3339(s.last_seen_at),
                    "ended_at": s.ended_at.map(rfc3339),
                    "ended_by": s.ended_by,
                    "user_info": s.user_info,
                    "created_ip": s.created_ip,
                    "last_ip": s.last_ip,
                    "uploads": uploads,
                    "events": events,
                }));
            }
            println!("id          {}", s.id);
            println!("status      {}", s.status.as_str());
            println!("created     {}", rfc3339(s.created_at));
            println!("last seen   {}", rfc3339(s.last_seen_at));
            println!("ended       {}", s.ended_at.map(rfc3339).unwrap_or_else(|| "-".into()));
            println!("ended by    {}", s.ended_by.unwrap_or_else(|| "-".into()));
            println!("created ip  {}", s.created_ip.unwrap_or_else(|| "-".into()));
            println!("last ip     {}", s.last_ip.unwrap_or_else(|| "-".into()));
            println!("uploads     {}", uploads.len());
            for u in &uploads {
                println!(
                    "  {}  {}  {:>9} B  {}",
                    u.id,
                    fmt::datetime(u.created_at),
                    u.size,
                    u.filename
                );
            }
            println!("events      {} most recent", events.len());
            for e in &events {
                println!("  {}", event_line(e));
            }
            Ok(())
        }
        Command::Sessions(SessionsCmd::Reset { id, yes }) => {
            let uploads = store.upload_totals(id).await?.count;
            // An already revoked session is left as it is (see `Console::reset`): no question.
            let revoked = store
                .get_session(id)
                .await?
                .is_some_and(|s| s.status == SessionStatus::Revoked);
            if !revoked {
                confirm(&format!("Reset session {id} and delete its {uploads} upload(s)?"), yes)?;
            }
            let o = console.reset(id).await?;
            if json_out {
                return print_json(&o);
            }
            if o.already_revoked {
                println!(
                    "session {id} was already revoked: nothing changed, no event written (its objects were \
                     queued for deletion when it was revoked)"
                );
                return Ok(());
            }
            println!(
                "session {id} reset (was {}); {} upload(s) queued for deletion (the daemon's \
                 object_deletion job removes them; `sessiond run-job object_deletion` does it now)",
                o.previous_status.as_str(),
                o.uploads_queued_for_deletion
            );
            Ok(())
        }
        Command::Sessions(SessionsCmd::Purge { id, yes }) => {
            confirm(
                &format!("Erase session {id} completely (row, uploads, objects; audit events pseudonymized)?"),
                yes,
            )?;
            let o = console
                .purge(id)
                .await?
                .ok_or_else(|| Failure::from(format!("no session {id}")))?;
            if json_out {
                return print_json(&o);
            }
            println!(
                "session purged: {} upload row(s) deleted and their objects queued for deletion (the daemon's \
                 object_deletion job removes them), {} audit event(s) now under pseudonym {}",
                o.uploads_deleted, o.events_pseudonymized, o.pseudonym
            );
            Ok(())
        }
        Command::Audit(AuditCmd::Verify) => {
            let keys = sessiond_core::audit_chain::ChainKeys::from_settings(&console.settings.audit);
            let report = sessiond_core::audit_verify::verify(store.as_ref(), keys.as_deref()).await;
            if json_out {
                print_json(&report)?;
            } else {
                println!("{}", report.summary());
            }
            match report.exit_code() {
                0 => Ok(()),
                code => Err(Failure {
                    message: String::new(),
                    code: u8::try_from(code).unwrap_or(1),
                }),
            }
        }
        Command::Audit(AuditCmd::Export {
            since,
            until,
            event_types,
            format,
        }) => crate::export::run(store.as_ref(), since.as_deref(), until.as_deref(), &event_types, format)
            .await
            .map_err(usage),
        Command::Audit(AuditCmd::Tail {
            follow,
            limit,
            event_type,
            severity,
            session,
            ip,
        }) => {
            let filter = AuditQuery {
                session_id: session,
                ip,
                event_type,
                severity,
                ..Default::default()
            };
            let max = store.max_audit_id().await?;
            let mut rows = store
                .list_audit(&AuditQuery {
                    before_id: Some(max.saturating_add(1)),
                    limit: limit.clamp(1, 10_000),
                    ..filter.clone()
                })
                .await?;
            rows.reverse();
            let print = |e: &AuditEvent| -> Result<(), Failure> {
                let line = if json_out {
                    serde_json::to_string(e).map_err(|e| e.to_string())?
                } else {
                    event_line(e)
                };
                let mut out = std::io::stdout().lock();
                // A closed pipe (`| head`) ends the tail quietly.
                if writeln!(out, "{line}").and_then(|_| out.flush()).is_err() {
                    return Err(Failure {
                        message: String::new(),
                        code: 0,
                    });
                }
                Ok(())
            };
            for e in &rows {
                print(e)?;
            }
            if !follow {
                return Ok(());
            }
            let mut cursor = max.max(rows.last().map_or(0, |e| e.id));
            loop {
                tokio::time::sleep(Duration::from_millis(250)).await;
                let top = store.max_audit_id().await?;
                let new = store
                    .list_audit(&AuditQuery {
                        after_id: Some(cursor),
                        limit: 1000,
                        ascending: true,
                        ..filter.clone()
                    })
                    .await?;
                for e in &new {
                    print(e)?;
                }
                let last = new.last().map_or(cursor, |e| e.id);
                cursor = if new.len() < 1000 { last.max(top) } else { last };
            }
        }
        Command::Alerts(AlertsCmd::List { all }) => {
            let rows = store.list_alerts(all, 10_000).await?;
            if json_out {
                return print_json(&rows);
            }
            println!(
                "{:>5}  {:<12}  {:<8}  {:<16}  {:<20}  {:>7}  last seen",
                "id", "status", "severity", "rule", "subject", "count"
            );
            for a in &rows {
                println!(
                    "{:>5}  {:<12}  {:<8}  {:<16}  {:<20}  {:>7}  {}",
                    a.id,
                    a.status,
                    a.severity,
                    a.rule,
                    a.subject,
                    a.count,
                    fmt::datetime(a.last_seen_at.timestamp_millis())
                );
            }
            Ok(())
        }
        Command::Alerts(AlertsCmd::Ack { id }) => {
            if !console.acknowledge(id).await? {
                return Err(Failure::from(format!("alert #{id} does not exist or is not open")));
            }
            if json_out {
                return print_json(
                    &json!({ "id": id, "status": "acknowledged", "by": format!("admin:{}", console.admin) }),
                );
            }
            println!("alert #{id} acknowledged");
            Ok(())
        }
        Command::Backup { file } => {
            if store.backend() != sessiond_core::store::Backend::Sqlite {
                return Err(usage(
                    "backup copies a SQLite database; back PostgreSQL up with `pg_dump --format=custom` \
                     (docs/deployment.md, \"Backups\")",
                ));
            }
            let url = console.settings.database.url.clone();
            let report = tokio::task::spawn_blocking(move || sessiond_core::store::backup::sqlite_backup(&url, &file))
                .await
                .map_err(|e| e.to_string())??;
            if json_out {
                return print_json(&report);
            }
            println!(
                "backup written to {} ({} bytes, {} pages, integrity ok)",
                report.path.display(),
                report.bytes,
                report.pages
            );
            Ok(())
        }
        Command::Jobs(JobsCmd::List) => {
            let jobs = console.jobs(chrono::Utc::now(), 5).await?;
            if json_out {
                return print_json(&jobs);
            }
            println!(
                "{:<20}  {:<16}  {:<19}  {:<19}  outcome",
                "job", "schedule", "next run", "last run"
            );
            for j in &jobs {
                let last = j.runs.first();
                println!(
                    "{:<20}  {:<16}  {:<19}  {:<19}  {}",
                    j.name,
                    j.schedule,
                    j.next_run.map(fmt::datetime).unwrap_or_else(|| "-".into()),
                    last.map(|r| fmt::datetime(r.started_at.timestamp_millis()))
                        .unwrap_or_else(|| "never".into()),
                    last.map(|r| r.status.as_str()).unwrap_or("-")
                );
            }
            Ok(())
        }
    }
}
