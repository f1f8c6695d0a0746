//! Command line: the full-screen console by default, and subcommands for scripts with table,
//! wide or JSON output (`-o`). Destructive subcommands (`sessions reset|purge`) ask for
//! confirmation on a terminal and require `--yes` otherwise. `out` is where they write,
//! `json` the shape of every JSON row, `sessions` the paged session list.

pub(crate) mod json;
mod out;
mod sessions;

use std::ffi::OsStr;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, CommandFactory, Parser, Subcommand};
use serde_json::json;
use sessiond_core::audit::{AuditEvent, AuditQuery, Severity};
use sessiond_core::domain::{Timeouts, rfc3339};
use uuid::Uuid;

use crate::fmt;
use crate::ops::{Console, ConsoleError};
use crate::theme::ThemeKind;

pub use crate::export::ExportFormat;
pub use out::{Format, Out, report};
pub use sessions::{Cursor, ListArgs, SortArg};

/// The end of `--help`: exit codes and environment variables.
const AFTER_LONG_HELP: &str = "\
Exit codes:
  0  success
  1  failure: not found, database error, read-only refusal
     (audit verify: the chain is broken)
  2  usage: bad flag or value, configuration error, destructive action refused
     without --yes or cancelled (audit verify: the chain cannot be checked)

With -o json, a failure is also a JSON object on stderr:
  {\"error\": {\"code\": \"usage\", \"message\": \"...\", \"exit_code\": 2}}

Environment:
  SESSIOND_CONFIG            config file, as --config
  SESSIOND_DATABASE__URL     database URL, as --database-url
  SESSIOND_<SECTION>__<KEY>  any config key (the daemon's), e.g.
                             SESSIOND_STORAGE__FS__ROOT, SESSIOND_AUDIT__HMAC_KEY
  SESSIONCTL_TRACE           console only: append start-up and page timings to this file

More: `sessionctl man` (manual page), `sessionctl completions bash|zsh|fish`, docs/console.md.";

/// The end of `-h`.
const AFTER_HELP: &str =
    "Exit codes: 0 ok, 1 failure, 2 usage or configuration (--help lists them and the environment).";

/// `sessionctl`.
#[derive(Debug, Parser)]
#[command(
    name = "sessionctl",
    version,
    about = "Admin console for sessiond (full-screen without a subcommand)",
    after_help = AFTER_HELP,
    after_long_help = AFTER_LONG_HELP
)]
pub struct Cli {
    /// Config file (default: ./config/sessiond.toml when it exists, else built-in defaults).
    #[arg(long, global = true, help_heading = "Global options", env = "SESSIOND_CONFIG")]
    pub config: Option<PathBuf>,
    /// Database URL, overriding `database.url` (sqlite://… or postgres://…).
    #[arg(long, global = true, help_heading = "Global options")]
    pub database_url: Option<String>,
    /// Disable every action that changes data.
    #[arg(long, global = true, help_heading = "Global options")]
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
    /// Output of the subcommands: table, wide (more columns, full times) or json.
    #[arg(
        short = 'o',
        long,
        global = true,
        help_heading = "Global options",
        value_enum,
        ignore_case = true
    )]
    pub output: Option<Format>,
    /// Same as `-o json`.
    #[arg(long, global = true, help_heading = "Global options", conflicts_with = "output")]
    pub json: bool,
    /// Tables without their header line.
    #[arg(long, global = true, help_heading = "Global options")]
    pub no_headers: bool,
    /// What to do (default: the full-screen console).
    #[command(subcommand)]
    pub command: Option<Command>,
}

impl Cli {
    /// The chosen output format.
    pub fn format(&self) -> Format {
        if self.json {
            Format::Json
        } else {
            self.output.unwrap_or_default()
        }
    }

    /// Whether raw `args` ask for JSON output: for reporting a failure clap found before the
    /// arguments could be parsed.
    pub fn wants_json<S: AsRef<OsStr>>(args: &[S]) -> bool {
        let args: Vec<String> = args
            .iter()
            .filter_map(|a| a.as_ref().to_str())
            .map(str::to_ascii_lowercase)
            .collect();
        args.iter().enumerate().any(|(i, a)| {
            matches!(a.as_str(), "--json" | "-ojson" | "-o=json" | "--output=json")
                || (matches!(a.as_str(), "-o" | "--output") && args.get(i + 1).is_some_and(|v| v == "json"))
        })
    }
}

/// `--watch` and its bound.
#[derive(Debug, Clone, Args)]
pub struct WatchArgs {
    /// Print the list again every INTERVAL (seconds, or e.g. 500ms, 1m; default 2s) until
    /// interrupted; on a terminal the screen is cleared first, with JSON one document each time.
    #[arg(
        short = 'w',
        long,
        value_name = "INTERVAL",
        num_args = 0..=1,
        default_missing_value = "2",
        value_parser = interval
    )]
    pub watch: Option<Duration>,
    /// Stop after this many refreshes.
    #[arg(long, hide = true, requires = "watch")]
    pub watch_count: Option<u64>,
}

/// A `--watch` interval: whole seconds, or a humantime duration; at least 100 ms.
fn interval(text: &str) -> Result<Duration, String> {
    let d = match text.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => humantime::parse_duration(text).map_err(|e| format!("`{text}`: {e} (e.g. 2, 500ms, 1m)"))?,
    };
    if d < Duration::from_millis(100) {
        return Err(format!("`{text}`: at least 100ms"));
    }
    Ok(d)
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
    /// Print a shell completion script (e.g. `sessionctl completions bash >
    /// /etc/bash_completion.d/sessionctl`).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff; `sessionctl man | man -l -`), or with --dir write one page
    /// per subcommand there.
    Man {
        /// Write sessionctl.1, sessionctl-sessions.1, … into this directory.
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

/// `sessions …`
#[derive(Debug, Subcommand)]
pub enum SessionsCmd {
    /// List sessions: one keyset page, a cursor for the next, or --all of them.
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
        #[arg(short = 'y', long)]
        yes: bool,
    },
    /// Right to erasure: delete the session, its uploads and objects; pseudonymize its audit
    /// events (random pseudonym, IP and user agent cleared).
    Purge {
        /// Session UUID.
        id: Uuid,
        /// Do not ask (required when stdin is not a terminal).
        #[arg(short = 'y', long)]
        yes: bool,
    },
}

/// `audit …`
#[derive(Debug, Subcommand)]
pub enum AuditCmd {
    /// Print the latest events, oldest first; with --follow keep printing new ones.
    Tail {
        /// Keep printing new events (every 250 ms) until interrupted.
        #[arg(short = 'f', long)]
        follow: bool,
        /// Events printed before following, 1 to 10000.
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=10_000))]
        limit: u32,
        /// Only this event type (e.g. session.reset; any case).
        #[arg(long = "type", value_parser = crate::filter::arg::event_type)]
        event_type: Option<String>,
        /// Only this severity: info, warning (WARN), critical (CRIT); any case.
        #[arg(long, value_parser = crate::filter::arg::severity)]
        severity: Option<Severity>,
        /// Only this session.
        #[arg(long)]
        session: Option<Uuid>,
        /// Only this IP address.
        #[arg(long, value_parser = crate::filter::arg::ip)]
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
        /// Only these event types (repeatable; any case).
        #[arg(long = "type", value_parser = crate::filter::arg::event_type)]
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
        #[command(flatten)]
        watch: WatchArgs,
    },
    /// Acknowledge an open alert (audited).
    Ack {
        /// Alert id.
        id: i64,
    },
    /// Put an acknowledged alert back to open (audited), as `u` in the console.
    Unack {
        /// Alert id.
        id: i64,
    },
}

/// `jobs …`
#[derive(Debug, Subcommand)]
pub enum JobsCmd {
    /// Every job: schedule, next run, last run and outcome.
    List {
        #[command(flatten)]
        watch: WatchArgs,
    },
    /// Ask the daemons to run a job now, as `r` in the console's Jobs tab: a daemon with jobs
    /// enabled takes the request within seconds and runs it under the job's lease (audited
    /// `job.requested`; a request already waiting is not doubled).
    Run {
        /// The job.
        #[arg(value_parser = clap::builder::PossibleValuesParser::new(sessiond_core::jobs::JobName::ALL.map(|j| j.as_str())))]
        job: String,
    },
}

/// A subcommand failure: message, exit code and, for `-o json`, a stable code.
#[derive(Debug)]
pub struct Failure {
    /// For stderr (empty: nothing to add, e.g. a report already printed).
    pub message: String,
    /// Process exit code.
    pub code: u8,
    /// `error.code` of the JSON report: `usage`, `config`, `not_found`, `read_only`,
    /// `conflict`, `database`, `storage_config`, `cancelled`, `failed`.
    pub kind: &'static str,
}

impl Failure {
    /// A failure of `kind` with exit code `code`.
    pub fn new(kind: &'static str, code: u8, message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            code,
            kind,
        }
    }

    /// Stdout could not be written: a closed pipe (`| head`) ends the command quietly and
    /// successfully; anything else is a failure.
    fn from_stdout(e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            Self::new("closed", 0, "")
        } else {
            Self::new("failed", 1, format!("cannot write to stdout: {e}"))
        }
    }
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Self::new("failed", 1, message)
    }
}

impl From<sessiond_core::store::StoreError> for Failure {
    fn from(e: sessiond_core::store::StoreError) -> Self {
        Self::new("database", 1, e.to_string())
    }
}

impl From<ConsoleError> for Failure {
    fn from(e: ConsoleError) -> Self {
        let kind = match &e {
            ConsoleError::ReadOnly => "read_only",
            ConsoleError::NoSession(_) | ConsoleError::SessionGone(_) | ConsoleError::AlertGone(_) => "not_found",
            ConsoleError::AlertNotOpen(_) => "conflict",
            ConsoleError::StorageRootMissing(_) | ConsoleError::StorageBucketUnset => "storage_config",
            ConsoleError::Open(_) | ConsoleError::Store(_) => "database",
            _ => "failed",
        };
        Self::new(kind, 1, e.to_string())
    }
}

fn usage(message: impl Into<String>) -> Failure {
    Failure::new("usage", 2, message)
}

/// A command line clap refused: its message (in JSON with `-o json`) and exit code 2; help
/// and version go to stdout as clap prints them.
pub fn parse_failure(e: clap::Error, json: bool) -> ExitCode {
    use clap::error::ErrorKind;
    let code = u8::try_from(e.exit_code()).unwrap_or(2);
    if !json || matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        let _ = e.print();
        return ExitCode::from(code);
    }
    let text = e.render().to_string();
    let message = text
        .split("\n\n")
        .next()
        .unwrap_or_default()
        .trim()
        .trim_start_matches("error: ")
        .to_owned();
    report(&Failure::new("usage", code, message), true);
    ExitCode::from(code)
}

impl Cli {
    /// The command line, every subcommand's help ending with the exit codes and environment as
    /// the top level's does (`sessionctl sessions reset --help`, and each subcommand's man page).
    pub fn full_command() -> clap::Command {
        fn with_exit_codes(cmd: clap::Command) -> clap::Command {
            cmd.after_help(AFTER_HELP)
                .after_long_help(AFTER_LONG_HELP)
                .mut_subcommands(with_exit_codes)
        }
        Cli::command().mut_subcommands(with_exit_codes)
    }

    /// Parse `args` (the program name first) with [`Cli::full_command`].
    pub fn try_parse_args(args: &[std::ffi::OsString]) -> Result<Self, clap::Error> {
        use clap::FromArgMatches;
        let matches = Self::full_command().try_get_matches_from(args)?;
        Self::from_arg_matches(&matches)
    }
}

/// `sessionctl completions SHELL`.
pub fn completions(shell: clap_complete::Shell) -> ExitCode {
    let mut cmd = Cli::full_command();
    clap_complete::generate(shell, &mut cmd, "sessionctl", &mut std::io::stdout());
    ExitCode::SUCCESS
}

/// `sessionctl man [--dir DIR]`.
pub fn man(dir: Option<&Path>) -> ExitCode {
    let cmd = Cli::full_command();
    let written = match dir {
        Some(dir) => clap_mangen::generate_to(cmd, dir),
        None => clap_mangen::Man::new(cmd).render(&mut std::io::stdout()),
    };
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sessionctl: cannot write the manual page: {e}");
            ExitCode::FAILURE
        }
    }
}

fn event_line(e: &AuditEvent, wide: bool) -> String {
    let line = format!(
        "{:>8}  {}  {:<8} {:<26} {:<36} {:<15} {} {}",
        e.id,
        rfc3339(e.occurred_at),
        e.severity,
        e.event_type,
        e.session_id.map(|s| s.to_string()).unwrap_or_else(|| "-".into()),
        e.ip.clone().unwrap_or_else(|| "-".into()),
        e.actor,
        e.metadata
    );
    if !wide {
        return line;
    }
    format!(
        "{line} request_id={} user_agent={}",
        e.request_id.as_deref().unwrap_or("-"),
        serde_json::Value::from(e.user_agent.as_deref().unwrap_or("-"))
    )
}

/// Ask on the terminal, or require `--yes` when stdin is not one.
fn confirm(question: &str, yes: bool) -> Result<(), Failure> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(Failure::new(
            "confirmation_required",
            2,
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
        Err(Failure::new("cancelled", 2, "cancelled: nothing was changed"))
    }
}

/// Run `once`, or with `--watch` again and again (until `--watch-count` refreshes).
async fn watch<F, Fut>(w: &WatchArgs, out: &Out, mut once: F) -> Result<(), Failure>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), Failure>>,
{
    let Some(every) = w.watch else {
        return once().await;
    };
    let mut done = 0u64;
    loop {
        out.refresh(every)?;
        once().await?;
        out.flush()?;
        done += 1;
        if w.watch_count.is_some_and(|n| done >= n) {
            return Ok(());
        }
        tokio::time::sleep(every).await;
    }
}

fn timeouts(console: &Console) -> Timeouts {
    Timeouts::new(
        console.settings.session.idle_timeout.get(),
        console.settings.session.absolute_timeout.get(),
    )
}

/// Run a subcommand (`completions` and `man` need no database: `main` runs them before).
pub async fn run(console: &Console, command: Command, out: &Out) -> Result<(), Failure> {
    let result = dispatch(console, command, out).await;
    // The command's own failure wins over one of writing out the rest.
    let flushed = out.flush();
    result.and(flushed)
}

async fn dispatch(console: &Console, command: Command, out: &Out) -> Result<(), Failure> {
    let store = &console.store;
    match command {
        Command::Sessions(SessionsCmd::List(a)) => {
            let t = timeouts(console);
            watch(&a.watch, out, || sessions::list(store.as_ref(), &t, &a, out)).await
        }
        Command::Sessions(SessionsCmd::Show { id }) => {
            let s = store
                .get_session(id)
                .await?
                .ok_or_else(|| Failure::new("not_found", 1, format!("no session {id}")))?;
            let totals = store.upload_totals(id).await?;
            let uploads = store.session_uploads(id, 1000).await?;
            let events = store
                .list_audit(&AuditQuery {
                    session_id: Some(id),
                    limit: 100,
                    ..Default::default()
                })
                .await?;
            let t = timeouts(console);
            if out.json() {
                return out.document(&json::session_detail(&s, &t, &totals, &uploads, &events));
            }
            let lines = [
                format!("uuid        {}", s.id),
                format!("status      {}", s.status.as_str()),
                format!("created     {}", rfc3339(s.created_at)),
                format!("last seen   {}", rfc3339(s.last_seen_at)),
                format!("expires     {}", rfc3339(s.expires_at(&t))),
                format!("ended       {}", s.ended_at.map(rfc3339).unwrap_or_else(|| "-".into())),
                format!("ended by    {}", s.ended_by.as_deref().unwrap_or("-")),
                format!("created ip  {}", s.created_ip.as_deref().unwrap_or("-")),
                format!("last ip     {}", s.last_ip.as_deref().unwrap_or("-")),
                format!("uploads     {} ({} bytes)", totals.count, totals.bytes),
            ];
            for l in &lines {
                out.line(l)?;
            }
            for u in &uploads {
                out.line(&format!(
                    "  {}  {}  {:>9} B  {}",
                    u.id,
                    fmt::datetime(u.created_at),
                    u.size,
                    u.filename
                ))?;
            }
            out.line(&format!("events      {} most recent", events.len()))?;
            for e in &events {
                out.line(&format!("  {}", event_line(e, out.wide())))?;
            }
            Ok(())
        }
        Command::Sessions(SessionsCmd::Reset { id, yes }) => {
            let uploads = store.upload_totals(id).await?.count;
            // An already revoked session is left as it is (see `Console::reset`): no question.
            let revoked = store
                .get_session(id)
                .await?
                .is_some_and(|s| s.status == sessiond_core::domain::SessionStatus::Revoked);
            if !revoked {
                confirm(&format!("Reset session {id} and delete its {uploads} upload(s)?"), yes)?;
            }
            let o = console.reset(id).await?;
            if out.json() {
                return out.document(&json::reset(&o));
            }
            if o.already_revoked {
                return out.line(&format!(
                    "session {id} was already revoked: nothing changed, no event written (its objects were \
                     queued for deletion when it was revoked)"
                ));
            }
            out.line(&format!(
                "session {id} reset (was {}); {} upload(s) queued for deletion (the daemon's \
                 object_deletion job removes them; `sessiond run-job object_deletion` does it now)",
                o.previous_status.as_str(),
                o.uploads_queued_for_deletion
            ))
        }
        Command::Sessions(SessionsCmd::Purge { id, yes }) => {
            confirm(
                &format!("Erase session {id} completely (row, uploads, objects; audit events pseudonymized)?"),
                yes,
            )?;
            let o = console
                .purge(id)
                .await?
                .ok_or_else(|| Failure::new("not_found", 1, format!("no session {id}")))?;
            if out.json() {
                return out.document(&serde_json::to_value(&o).map_err(|e| e.to_string())?);
            }
            out.line(&format!(
                "session purged: {} upload row(s) deleted and their objects queued for deletion (the daemon's \
                 object_deletion job removes them), {} audit event(s) now under pseudonym {}",
                o.uploads_deleted, o.events_pseudonymized, o.pseudonym
            ))
        }
        Command::Audit(AuditCmd::Verify) => {
            let keys = sessiond_core::audit_chain::ChainKeys::from_settings(&console.settings.audit);
            let report = sessiond_core::audit_verify::verify(store.as_ref(), keys.as_deref()).await;
            if out.json() {
                out.document(&serde_json::to_value(&report).map_err(|e| e.to_string())?)?;
            } else {
                out.line(&report.summary())?;
            }
            match report.exit_code() {
                0 => Ok(()),
                code => Err(Failure::new(
                    if code == 1 { "chain_broken" } else { "cannot_check" },
                    u8::try_from(code).unwrap_or(1),
                    "",
                )),
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
                    limit,
                    ..filter.clone()
                })
                .await?;
            rows.reverse();
            let print = |e: &AuditEvent| -> Result<(), Failure> {
                if out.json() {
                    out.compact(&json::event(e))
                } else {
                    out.line(&event_line(e, out.wide()))
                }
            };
            for e in &rows {
                print(e)?;
            }
            out.flush()?;
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
                out.flush()?;
                let last = new.last().map_or(cursor, |e| e.id);
                cursor = if new.len() < 1000 { last.max(top) } else { last };
            }
        }
        Command::Alerts(AlertsCmd::List { all, watch: w }) => {
            watch(&w, out, || async {
                let rows = store.list_alerts(all, 10_000).await?;
                if out.json() {
                    return out.document(&json!({ "alerts": rows.iter().map(json::alert).collect::<Vec<_>>() }));
                }
                if out.wide() {
                    out.header(&format!(
                        "{:>5}  {:<12}  {:<8}  {:<16}  {:<20}  {:>7}  {:<24}  {:<24}  acknowledged by",
                        "id", "status", "severity", "rule", "subject", "count", "first seen", "last seen"
                    ))?;
                } else {
                    out.header(&format!(
                        "{:>5}  {:<12}  {:<8}  {:<16}  {:<20}  {:>7}  last seen",
                        "id", "status", "severity", "rule", "subject", "count"
                    ))?;
                }
                for a in &rows {
                    let line = format!(
                        "{:>5}  {:<12}  {:<8}  {:<16}  {:<20}  {:>7}",
                        a.id, a.status, a.severity, a.rule, a.subject, a.count
                    );
                    out.line(&if out.wide() {
                        format!(
                            "{line}  {:<24}  {:<24}  {}",
                            rfc3339(a.first_seen_at),
                            rfc3339(a.last_seen_at),
                            a.acknowledged_by.as_deref().unwrap_or("-")
                        )
                    } else {
                        format!("{line}  {}", fmt::datetime(a.last_seen_at.timestamp_millis()))
                    })?;
                }
                Ok(())
            })
            .await
        }
        Command::Alerts(AlertsCmd::Ack { id }) => {
            if !console.acknowledge(id).await? {
                return Err(Failure::new(
                    "conflict",
                    1,
                    format!("alert #{id} does not exist or is not open"),
                ));
            }
            if out.json() {
                return out.document(&json!({
                    "id": id,
                    "status": "acknowledged",
                    "acknowledged_by": format!("admin:{}", console.admin),
                }));
            }
            out.line(&format!("alert #{id} acknowledged"))
        }
        Command::Alerts(AlertsCmd::Unack { id }) => {
            if !console.unacknowledge(id).await? {
                return Err(Failure::new(
                    "conflict",
                    1,
                    format!("alert #{id} does not exist or is not acknowledged"),
                ));
            }
            if out.json() {
                return out.document(&json!({ "id": id, "status": "open" }));
            }
            out.line(&format!("alert #{id} open again"))
        }
        Command::Jobs(JobsCmd::Run { job }) => {
            let name: sessiond_core::jobs::JobName = job
                .parse()
                .map_err(|e: sessiond_core::jobs::UnknownJob| usage(e.to_string()))?;
            let (request, new) = console.request_job_run(name).await?;
            if out.json() {
                return out.document(&json!({ "job": name, "request_id": request, "new": new }));
            }
            out.line(&if new {
                format!("{name}: run requested (request #{request}); a daemon with jobs enabled runs it within seconds")
            } else {
                format!("{name}: a run request is already waiting (request #{request}); nothing added")
            })
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
            if out.json() {
                return out.document(&serde_json::to_value(&report).map_err(|e| e.to_string())?);
            }
            out.line(&format!(
                "backup written to {} ({} bytes, {} pages, integrity ok)",
                report.path.display(),
                report.bytes,
                report.pages
            ))
        }
        Command::Jobs(JobsCmd::List { watch: w }) => {
            watch(&w, out, || async {
                let jobs = console.jobs(chrono::Utc::now(), 5).await?;
                if out.json() {
                    return out.document(&json!({ "jobs": jobs.iter().map(json::job).collect::<Vec<_>>() }));
                }
                let wide = out.wide();
                out.header(&format!(
                    "{:<20}  {:<16}  {:<20}  {:<20}  {:<9}{}",
                    "job",
                    "schedule",
                    "next run",
                    "last run",
                    "outcome",
                    if wide { "  schedule from   lease holder" } else { "" }
                ))?;
                for j in &jobs {
                    let last = j.runs.first();
                    let mut line = format!(
                        "{:<20}  {:<16}  {:<20}  {:<20}  {:<9}",
                        j.name,
                        j.schedule,
                        j.next_run.map(fmt::datetime).unwrap_or_else(|| "-".into()),
                        last.map(|r| fmt::datetime(r.started_at.timestamp_millis()))
                            .unwrap_or_else(|| "never".into()),
                        last.map(|r| r.status.as_str()).unwrap_or("-")
                    );
                    if wide {
                        let source = match j.schedule_source {
                            crate::ops::ScheduleSource::Daemon => "daemon",
                            crate::ops::ScheduleSource::ConsoleConfig => "console config",
                        };
                        let holder = j.lease.as_ref().map_or("-", |l| l.holder.as_str());
                        line.push_str(&format!("  {source:<14}  {holder}"));
                    }
                    out.line(line.trim_end())?;
                }
                Ok(())
            })
            .await
        }
        Command::Completions { .. } | Command::Man { .. } => Ok(()),
    }
}
