//! The console's data layer: its connection to the database, every query the full-screen
//! console runs (each returning a typed result, so the app only routes them to views), and
//! every operation that changes data, shared with the subcommands so a reset or an
//! acknowledgement means the same in both. Resets go through the core `SessionService` (the
//! API's own path); every change is audited with actor `admin:<os user>`. Failures are
//! [`ConsoleError`]s.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use sessiond_core::Settings;
use sessiond_core::audit::{Actor, AuditEvent, AuditQuery, EventType, NewEvent, Origin, Severity};
use sessiond_core::config::StorageBackend;
use sessiond_core::domain::Session;
use sessiond_core::domain::{SessionStatus, Timeouts, now_millis};
use sessiond_core::jobs::{JobName, next_run};
use sessiond_core::session::{SessionError, SessionService};
use sessiond_core::store::alerts::Alert;
use sessiond_core::store::console::{JobLease, SessionPageQuery, SessionSummary, UploadSummary};
use sessiond_core::store::deletions::DeletionBacklog;
use sessiond_core::store::jobs::{JobRun, RunRequest};
use sessiond_core::store::open::{self, OpenError};
use sessiond_core::store::{Backend, StatusCounts, Store, StoreError};
use sessiond_core::writer::{BatchWriter, WriterHandle, WriterOptions};
use tokio::sync::Mutex;
use uuid::Uuid;

/// Refusal for anything that changes data in `--read-only` mode.
pub const READ_ONLY: &str = "read-only mode: actions that change data are disabled";

/// PostgreSQL assigns ids before commit, so a later id can become visible before an earlier
/// one: the tail re-reads this many ids below its cursor (the view skips duplicates).
const PG_LOOKBACK: i64 = 64;
/// Rows of history loaded when the audit view (re)starts.
const AUDIT_HISTORY: u32 = 500;
/// Rows of the tail read per poll; a shorter page means it has caught up.
const AUDIT_TAIL: u32 = 1000;

/// Why a console query or operation failed. The texts are what the operator reads (toasts,
/// stderr).
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// The database could not be opened: what is wrong, then what to do about it.
    #[error("{0}{hint}", hint = open_hint(.0))]
    Open(OpenError),
    /// `--read-only` refuses every change.
    #[error("{READ_ONLY}")]
    ReadOnly,
    /// The filesystem object store's root is not there: the console was started without the
    /// daemon's storage settings.
    #[error(
        "storage.fs.root {} is not a directory: run sessionctl with the daemon's storage settings \
         (the same --config file and SESSIOND_STORAGE__* environment); it is never created here",
        .0.display()
    )]
    StorageRootMissing(std::path::PathBuf),
    /// S3 storage without a bucket: the console was started without the daemon's settings.
    #[error("storage.s3.bucket is not set: run sessionctl with the daemon's storage settings")]
    StorageBucketUnset,
    /// A reset or purge named a session that does not exist.
    #[error("no session {0}")]
    NoSession(Uuid),
    /// A session shown a moment ago is gone (purged meanwhile).
    #[error("session {0} no longer exists")]
    SessionGone(Uuid),
    /// An alert shown a moment ago is gone.
    #[error("alert #{0} no longer exists")]
    AlertGone(i64),
    /// Only open alerts can be acknowledged.
    #[error("alert #{0} is not open")]
    AlertNotOpen(i64),
    /// Only acknowledged alerts can be un-acknowledged.
    #[error("alert #{0} is not acknowledged")]
    AlertNotAcknowledged(i64),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The session service refused or failed.
    #[error(transparent)]
    Session(SessionError),
}

impl ConsoleError {
    /// The database did not answer or refused the work (the console then checks whether it
    /// is lost).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, ConsoleError::Store(StoreError::Unavailable(_)))
    }
}

/// Where the database is chosen, for the hints below.
const DATABASE_URL_FROM: &str = "--database-url, SESSIOND_DATABASE__URL or database.url in the config file \
     (--config / SESSIOND_CONFIG; default ./config/sessiond.toml)";

/// What to do about an [`OpenError`], appended to its text.
fn open_hint(e: &OpenError) -> String {
    match e {
        OpenError::NoDatabase(_) => format!(
            "; sessionctl never creates one: point it at the daemon's database (sqlite:///path/to/sessiond.db) \
             with {DATABASE_URL_FROM}"
        ),
        OpenError::NoSchema(_) => format!(
            "; start sessiond once to create it (`sessiond migrate` creates it and exits), or point \
             sessionctl at the daemon's database with {DATABASE_URL_FROM}"
        ),
        OpenError::Behind { .. } => "; start this version's sessiond once to upgrade it (`sessiond migrate` \
             upgrades it and exits): sessionctl never migrates"
            .to_owned(),
        OpenError::Ahead { .. } => "; a newer sessiond upgraded it: use the sessionctl of that version".to_owned(),
        OpenError::Unreachable { .. } => {
            format!(": is the server running, and are the host and port right? They come from {DATABASE_URL_FROM}")
        }
        OpenError::NoSuchDatabase { name, server, user } => {
            let createdb = match server.rsplit_once(':') {
                Some((host, port)) if port.parse::<u16>().is_ok() => {
                    format!("createdb -h {host} -p {port} -U {user} {name}")
                }
                _ => format!("createdb -U {user} {name}"),
            };
            format!(
                "; create it ({createdb}) and start sessiond once to create its schema, or point \
                 sessionctl at the daemon's database with {DATABASE_URL_FROM}"
            )
        }
        OpenError::Refused { .. } => format!("; check the user and password of {DATABASE_URL_FROM}"),
        OpenError::Replaced(_) => "; this console still has the old one open, and changes nothing in it: \
             restart sessionctl to open the new file"
            .to_owned(),
        OpenError::Failed { .. } => format!("; the database comes from {DATABASE_URL_FROM}"),
    }
}

/// How long a connected console's check waits for the database to answer.
const PING: std::time::Duration = std::time::Duration::from_secs(2);

/// A session with its uploads and audit trail (the Sessions tab's detail pane).
#[derive(Debug, Clone)]
pub struct SessionRecord {
    /// The session row.
    pub session: Session,
    /// Its uploads, newest first (up to 100).
    pub uploads: Vec<UploadSummary>,
    /// What became of the uploads' files.
    pub files: FilesState,
    /// Its audit events, newest first (up to 100).
    pub events: Vec<AuditEvent>,
}

/// What became of a session's uploaded files. A reset or an expiry queues the session's files
/// for deletion (`pending_object_deletions`, in the same transaction) and keeps the upload
/// rows as the record of what was uploaded; the daemon's `object_deletion` job deletes the
/// files and then drops the queue record.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum FilesState {
    /// The session is active: its files are in the object store.
    #[default]
    Stored,
    /// Revoked or expired, and the files are still queued for deletion.
    Queued {
        /// Queued at.
        since: DateTime<Utc>,
        /// Failed attempts so far.
        attempts: i32,
        /// The last failure.
        last_error: Option<String>,
    },
    /// Revoked or expired, and the files are deleted.
    Deleted,
}

/// What the reset dialog states before asking.
#[derive(Debug, Clone)]
pub struct ResetFacts {
    /// The session.
    pub id: Uuid,
    /// Its stored status.
    pub status: SessionStatus,
    /// When it ended (revoked or expired).
    pub ended_at: Option<DateTime<Utc>>,
    /// Who ended it (`client`, `admin:<name>`, `system`).
    pub ended_by: Option<String>,
    /// How many uploads it has (rows; their files go with a reset).
    pub uploads: i64,
}

/// Audit events for the Audit tab, and the cursor the next tail poll starts after.
#[derive(Debug, Clone)]
pub struct AuditPage {
    /// Newest first for a history page, oldest first for a tail.
    pub events: Vec<AuditEvent>,
    /// The highest id seen (or known to exist) when the page was read.
    pub cursor: i64,
}

/// An alert and the sample events that raised it (the Alerts tab's detail pane).
#[derive(Debug, Clone)]
pub struct AlertRecord {
    /// The alert.
    pub alert: Alert,
    /// Its sample events that still exist (up to 20).
    pub events: Vec<AuditEvent>,
}

/// The header's figures; each is `None` when its query failed (the header says so).
#[derive(Debug, Clone, Default)]
pub struct HeaderFigures {
    /// Sessions per status, when they were counted this time.
    pub counts: Option<StatusCounts>,
    /// Audit events in each of the last 30 minutes, oldest first.
    pub per_minute: Vec<u64>,
    /// Open alerts.
    pub open_alerts: Option<i64>,
    /// Objects queued for deletion.
    pub pending_deletions: Option<DeletionBacklog>,
}

/// The database, the session service and who is at the keyboard.
pub struct Console {
    /// Loaded settings (the daemon's).
    pub settings: Settings,
    /// The store.
    pub store: Arc<dyn Store>,
    /// The session service (resets). It has no object store: the console never deletes
    /// objects itself, it queues them (`pending_object_deletions`) for the daemon's
    /// `object_deletion` job, which uses the daemon's storage settings.
    pub service: SessionService,
    /// The operator's OS user name.
    pub admin: String,
    /// `--read-only`.
    pub read_only: bool,
    /// The SQLite file opened, to notice another one put at its path.
    file: Option<open::SqliteFile>,
    writer: Mutex<Option<WriterHandle>>,
    /// The audit chain's state, checked once per console session (a walk of the whole chain).
    chain_state: tokio::sync::OnceCell<(String, bool)>,
}

/// The audit trail's health line of the Jobs tab: webhook deliveries and the chain's state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditHealth {
    /// `webhooks 2 pending, 1 dead` (empty without webhooks).
    pub webhooks: String,
    /// Some deliveries are dead-lettered.
    pub webhooks_failing: bool,
    /// `audit chain intact` / `audit chain broken at event N` / `audit chain not checked`.
    pub chain: String,
    /// The chain is broken.
    pub chain_broken: bool,
}

/// Result of a reset.
#[derive(Debug, Clone, Serialize)]
pub struct ResetOutcome {
    /// Session.
    pub id: Uuid,
    /// Status before the reset.
    pub previous_status: SessionStatus,
    /// Uploads whose objects this reset queued for deletion (not deleted yet; 0 when the
    /// session was already revoked).
    pub uploads_queued_for_deletion: i64,
    /// The session was already revoked: nothing was changed and no event was written (its
    /// objects were queued for deletion when it was revoked).
    pub already_revoked: bool,
}

/// Result of a purge.
#[derive(Debug, Clone, Serialize)]
pub struct PurgeOutcome {
    /// The pseudonym now standing in for the session on its audit events.
    pub pseudonym: Uuid,
    /// Upload rows deleted; their objects are queued for deletion (not deleted yet).
    pub uploads_deleted: u64,
    /// Audit events pseudonymized.
    pub events_pseudonymized: u64,
}

/// The OS user running the console (`unknown` if it cannot be determined).
pub fn os_user() -> String {
    whoami::username()
        .ok()
        .or_else(|| std::env::var("USER").ok())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

impl Console {
    /// Connect to the configured database, which must exist with the schema of this version:
    /// the console never creates or migrates a database (that is the daemon's), so a wrong
    /// directory or URL is an error naming the database instead of a new empty one.
    pub async fn open(settings: Settings, read_only: bool) -> Result<Self, ConsoleError> {
        let file = open::SqliteFile::of(&settings.database);
        let store = open::open_existing(&settings.database)
            .await
            .map_err(ConsoleError::Open)?;
        // The console's own writes (resets, acknowledgements, purges) join the audit chain.
        store.set_chain_keys(sessiond_core::audit_chain::ChainKeys::from_settings(&settings.audit));
        // No object store is opened (nor a directory created): see `Console::service`.
        let (writer, handle) = BatchWriter::spawn(store.clone(), WriterOptions::default());
        let timeouts = Timeouts::new(
            settings.session.idle_timeout.get(),
            settings.session.absolute_timeout.get(),
        );
        let service = SessionService::new(store.clone(), writer, timeouts);
        Ok(Self {
            settings,
            store,
            service,
            admin: os_user(),
            read_only,
            file,
            writer: Mutex::new(Some(handle)),
            chain_state: tokio::sync::OnceCell::new(),
        })
    }

    /// Whether the database is still there and answers (the header's refresh asks first). A
    /// SQLite file must still be at its path (connections keep working on a moved or deleted
    /// file). When the pool fails, or with `thorough` (while the console is disconnected, so a
    /// reconnection also needs the schema back), the database is probed on a connection of
    /// its own, as at start, which names the cause.
    pub async fn check_connection(&self, thorough: bool) -> Result<(), OpenError> {
        let database = &self.settings.database;
        if thorough {
            open::probe(database).await?;
        } else {
            open::check_sqlite_file(database)?;
        }
        // A file restored or copied over the path: this console's connections still have the
        // old one, so it stays disconnected (and changes nothing) until restarted.
        self.file.as_ref().map_or(Ok(()), open::SqliteFile::check)?;
        let failure = match tokio::time::timeout(PING, self.store.ping()).await {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(e)) => e,
            Err(_) => StoreError::Unavailable(format!("no answer within {} s", PING.as_secs())),
        };
        if !thorough {
            open::probe(database).await?;
        }
        Err(OpenError::Failed {
            database: self.store.describe(),
            source: failure,
        })
    }

    /// Whether the console may change anything: not with `--read-only`, nor once the SQLite
    /// file it opened was replaced at its path (its writes would land in the old file).
    fn writable(&self) -> Result<(), ConsoleError> {
        if self.read_only {
            return Err(ConsoleError::ReadOnly);
        }
        self.file
            .as_ref()
            .map_or(Ok(()), open::SqliteFile::check)
            .map_err(ConsoleError::Open)
    }

    /// The origin of the operator's actions.
    pub fn origin(&self) -> Origin {
        Origin {
            request_id: format!("sessionctl-{}", Uuid::new_v4().simple()),
            ip: None,
            user_agent: Some(format!("sessionctl/{}", env!("CARGO_PKG_VERSION"))),
            actor: Actor::Admin(self.admin.clone()),
        }
    }

    /// The storage settings must be the daemon's, or the console refuses to touch anything
    /// that has objects: a filesystem root that does not exist (the default `./data/objects`
    /// seen from the wrong directory, a missing `--config`) is refused, never created.
    pub fn check_storage(&self) -> Result<(), ConsoleError> {
        let storage = &self.settings.storage;
        match storage.backend {
            StorageBackend::Fs if !storage.fs.root.is_dir() => {
                Err(ConsoleError::StorageRootMissing(storage.fs.root.clone()))
            }
            StorageBackend::S3 if storage.s3.bucket.as_deref().unwrap_or("").is_empty() => {
                Err(ConsoleError::StorageBucketUnset)
            }
            _ => Ok(()),
        }
    }

    /// Revoke a session through the session service (a `session.reset` event with actor
    /// `admin:<user>` is written, and its objects are queued for deletion in the same
    /// transaction; the daemon's `object_deletion` job deletes them). A session already
    /// revoked is left alone: the service would write another `session.reset` and queue its
    /// prefix again, though its objects were queued when it was revoked and the job works
    /// that record until they are gone, so nothing would change but the audit trail.
    pub async fn reset(&self, id: Uuid) -> Result<ResetOutcome, ConsoleError> {
        self.writable()?;
        let stored = self.store.get_session(id).await?.map(|s| s.status);
        if stored == Some(SessionStatus::Revoked) {
            return Ok(ResetOutcome {
                id,
                previous_status: SessionStatus::Revoked,
                uploads_queued_for_deletion: 0,
                already_revoked: true,
            });
        }
        self.check_storage()?;
        let uploads = self.store.upload_totals(id).await?.count;
        match self.service.reset(&self.origin(), &id.to_string()).await {
            Ok(previous_status) => Ok(ResetOutcome {
                id,
                previous_status,
                uploads_queued_for_deletion: uploads,
                already_revoked: false,
            }),
            Err(SessionError::NotFound) => Err(ConsoleError::NoSession(id)),
            Err(e) => Err(ConsoleError::Session(e)),
        }
    }

    /// Right to erasure: the session row and its upload rows are deleted and its objects
    /// queued for deletion (in the same transaction); its audit events keep their type and time but their session id is replaced by
    /// a fresh random pseudonym (the mapping is not kept anywhere) and their IP and user agent
    /// are cleared. A `session.purged` event under the pseudonym records the purge.
    pub async fn purge(&self, id: Uuid) -> Result<Option<PurgeOutcome>, ConsoleError> {
        self.writable()?;
        self.check_storage()?;
        let uploads = self.store.upload_totals(id).await?.count;
        let pseudonym = Uuid::new_v4();
        let event = NewEvent::new(
            &self.origin(),
            now_millis(),
            EventType::SessionPurged,
            Severity::Info,
            Some(pseudonym),
            json!({ "uploads_deleted": uploads, "reason": "right_to_erasure" }),
        );
        let Some(counts) = self.store.purge_session(id, pseudonym, &event).await? else {
            return Ok(None);
        };
        Ok(Some(PurgeOutcome {
            pseudonym,
            uploads_deleted: counts.uploads,
            events_pseudonymized: counts.events,
        }))
    }

    /// Acknowledge an open alert and audit it (`alert.acknowledged`). False if the alert is
    /// not open.
    pub async fn acknowledge(&self, alert_id: i64) -> Result<bool, ConsoleError> {
        self.writable()?;
        let origin = self.origin();
        let now = now_millis();
        // The acknowledgement and its audit event commit together.
        let event = NewEvent::new(
            &origin,
            now,
            EventType::AlertAcknowledged,
            Severity::Info,
            None,
            json!({}),
        );
        Ok(self
            .store
            .acknowledge_alert(alert_id, &origin.actor.to_stored(), now.timestamp_millis(), &event)
            .await?)
    }

    /// Put an acknowledged alert back to open and audit it (`alert.unacknowledged`, with who
    /// had acknowledged it). False if the alert is not acknowledged.
    pub async fn unacknowledge(&self, alert_id: i64) -> Result<bool, ConsoleError> {
        self.writable()?;
        let event = NewEvent::new(
            &self.origin(),
            now_millis(),
            EventType::AlertUnacknowledged,
            Severity::Info,
            None,
            json!({}),
        );
        Ok(self.store.unacknowledge_alert(alert_id, &event).await?)
    }

    /// Ask the daemons to run `job` now (`job_requests`, audited as `job.requested`): the
    /// console cannot run a job itself (it has neither the object store nor the mailer, by
    /// design), so a daemon with jobs enabled takes the request on its next poll and runs the
    /// job under its lease. Returns the request's id and whether it is new (false: one was
    /// already waiting, and nothing was written).
    pub async fn request_job_run(&self, job: JobName) -> Result<(i64, bool), ConsoleError> {
        self.writable()?;
        let origin = self.origin();
        let now = now_millis();
        let event = NewEvent::new(&origin, now, EventType::JobRequested, Severity::Info, None, json!({}));
        Ok(self
            .store
            .request_run(job.as_str(), &origin.actor.to_stored(), now, &event)
            .await?)
    }

    /// Each job's latest run request.
    pub async fn run_requests(&self) -> Result<Vec<RunRequest>, ConsoleError> {
        Ok(self.store.latest_run_requests().await?)
    }

    /// Webhook deliveries and the audit chain's state (verified once per session, when a key
    /// is configured: `sessionctl audit verify` is the full report).
    pub async fn audit_health(&self) -> Result<AuditHealth, ConsoleError> {
        let counts = self.store.webhook_counts().await?;
        let webhooks = if counts.pending + counts.sent + counts.dead == 0 && self.settings.webhooks.is_empty() {
            String::new()
        } else {
            format!("webhooks {} pending, {} dead", counts.pending, counts.dead)
        };
        let (chain, chain_broken) = self
            .chain_state
            .get_or_init(|| async {
                let keys = sessiond_core::audit_chain::ChainKeys::from_settings(&self.settings.audit);
                if keys.is_none() {
                    return ("audit chain not checked (no audit.hmac_key)".to_owned(), false);
                }
                let report = sessiond_core::audit_verify::verify(self.store.as_ref(), keys.as_deref()).await;
                match report.status {
                    sessiond_core::audit_verify::Status::Intact => ("audit chain intact".to_owned(), false),
                    sessiond_core::audit_verify::Status::Broken => (
                        match report.problem.and_then(|p| p.event_id) {
                            Some(id) => format!("audit chain broken at event {id}"),
                            None => "audit chain broken".to_owned(),
                        },
                        true,
                    ),
                    sessiond_core::audit_verify::Status::CannotCheck => ("audit chain not checked".to_owned(), false),
                }
            })
            .await
            .clone();
        Ok(AuditHealth {
            webhooks,
            webhooks_failing: counts.dead > 0,
            chain,
            chain_broken,
        })
    }

    /// Every job with its schedule, next run, lease and last `runs` runs. The schedule is the
    /// one the daemons recorded with the last tick they claimed (`job_ticks`), which is what
    /// runs; this console's own config only stands in for a job no daemon has scheduled yet.
    /// The next run is the schedule's first time after both `now` and that last tick.
    pub async fn jobs(&self, now: DateTime<Utc>, runs: u32) -> Result<Vec<JobOverview>, ConsoleError> {
        let leases = self.store.job_leases().await?;
        let ticks = self.store.claimed_ticks().await?;
        let mut out = Vec::new();
        for job in JobName::ALL {
            let name = job.as_str();
            let recorded = ticks.iter().find(|(j, _, schedule)| j == name && !schedule.is_empty());
            let (schedule, source, after) = match recorded {
                Some((_, tick, schedule)) => (schedule.as_str(), ScheduleSource::Daemon, now.max(*tick)),
                None => (self.settings.jobs.schedule(job), ScheduleSource::ConsoleConfig, now),
            };
            let recent = self.store.list_runs(Some(name), runs).await?;
            out.push(JobOverview {
                name,
                schedule: schedule.to_owned(),
                schedule_source: source,
                next_run: next_run(schedule, after).map(|t| t.timestamp_millis()),
                enabled: self.settings.jobs.enabled,
                lease: leases.iter().find(|l| l.job == name).cloned(),
                runs: recent,
            });
        }
        Ok(out)
    }

    /// One page of the session list.
    pub async fn session_page(&self, q: &SessionPageQuery) -> Result<Vec<SessionSummary>, ConsoleError> {
        Ok(self.store.session_page(q).await?)
    }

    /// A session with its newest uploads and audit events.
    pub async fn session_record(&self, id: Uuid) -> Result<SessionRecord, ConsoleError> {
        let session = self.store.get_session(id).await?.ok_or(ConsoleError::SessionGone(id))?;
        let uploads = self.store.session_uploads(id, 100).await?;
        let files = self.files_state(&session, !uploads.is_empty()).await?;
        let events = self
            .store
            .list_audit(&AuditQuery {
                session_id: Some(id),
                limit: 100,
                ..Default::default()
            })
            .await?;
        Ok(SessionRecord {
            session,
            uploads,
            files,
            events,
        })
    }

    /// What became of the files of `session`'s uploads (`has_uploads`: it has upload rows).
    pub async fn files_state(&self, session: &Session, has_uploads: bool) -> Result<FilesState, ConsoleError> {
        if session.status == SessionStatus::Active || !has_uploads {
            return Ok(FilesState::Stored);
        }
        let target = sessiond_core::store::deletions::session_target(session.id);
        let pending = self.store.object_deletions_for(&target).await?;
        Ok(match pending.into_iter().next() {
            Some(p) => FilesState::Queued {
                since: p.created_at,
                attempts: p.attempts,
                last_error: p.last_error,
            },
            None => FilesState::Deleted,
        })
    }

    /// What the reset dialog states about `id`.
    pub async fn reset_facts(&self, id: Uuid) -> Result<ResetFacts, ConsoleError> {
        let session = self.store.get_session(id).await?.ok_or(ConsoleError::SessionGone(id))?;
        let uploads = self.store.upload_totals(id).await?.count;
        Ok(ResetFacts {
            id,
            status: session.status,
            ended_at: session.ended_at,
            ended_by: session.ended_by,
            uploads,
        })
    }

    /// The newest events matching `filter` (a query with only filter fields set), and the
    /// highest id that existed when they were read.
    pub async fn audit_history(&self, filter: AuditQuery) -> Result<AuditPage, ConsoleError> {
        let max = self.store.max_audit_id().await?;
        let events = self
            .store
            .list_audit(&AuditQuery {
                before_id: Some(max.saturating_add(1)),
                limit: AUDIT_HISTORY,
                ..filter
            })
            .await?;
        Ok(AuditPage { events, cursor: max })
    }

    /// The events matching `filter` after `cursor`, oldest first, and the next cursor.
    pub async fn audit_tail(&self, filter: AuditQuery, cursor: i64) -> Result<AuditPage, ConsoleError> {
        let lookback = if self.store.backend() == Backend::Postgres {
            PG_LOOKBACK
        } else {
            0
        };
        let max = self.store.max_audit_id().await?;
        let events = self
            .store
            .list_audit(&AuditQuery {
                after_id: Some((cursor - lookback).max(0)),
                limit: AUDIT_TAIL,
                ascending: true,
                ..filter
            })
            .await?;
        let last = events.last().map_or(cursor, |e| e.id);
        // A short page means everything up to `max` was seen (filtered out or not).
        let cursor = if events.len() < AUDIT_TAIL as usize {
            last.max(max)
        } else {
            last
        };
        Ok(AuditPage { events, cursor })
    }

    /// Alerts, live ones first (resolved ones too when asked).
    pub async fn alerts(&self, include_resolved: bool) -> Result<Vec<Alert>, ConsoleError> {
        Ok(self.store.list_alerts(include_resolved, 500).await?)
    }

    /// An alert with its sample events.
    pub async fn alert_record(&self, id: i64) -> Result<AlertRecord, ConsoleError> {
        let alert = self.store.get_alert(id).await?.ok_or(ConsoleError::AlertGone(id))?;
        let mut events = Vec::new();
        for eid in alert.sample_event_ids.iter().take(20) {
            if let Some(e) = self.store.audit_event(*eid).await? {
                events.push(e);
            }
        }
        Ok(AlertRecord { alert, events })
    }

    /// The header's figures at `now`; sessions are counted only when `count_sessions` (the
    /// count reads a whole index).
    pub async fn header_figures(&self, now: DateTime<Utc>, count_sessions: bool) -> HeaderFigures {
        let now = now.timestamp_millis();
        let minute = now / 60_000 * 60_000;
        let since = minute - 29 * 60_000;
        let per = self.store.events_per_minute(since).await.unwrap_or_default();
        let mut per_minute = vec![0u64; 30];
        for (m, n) in per {
            let i = (m - since) / 60_000;
            if (0..30).contains(&i) {
                per_minute[i as usize] = n.max(0) as u64;
            }
        }
        HeaderFigures {
            counts: if count_sessions {
                self.store.count_sessions().await.ok()
            } else {
                None
            },
            per_minute,
            open_alerts: self.store.count_open_alerts().await.ok(),
            pending_deletions: self.store.object_deletion_backlog().await.ok(),
        }
    }

    /// Flush the batch writer and close the pools.
    pub async fn close(&self) {
        if let Some(handle) = self.writer.lock().await.take() {
            handle.shutdown().await;
        }
        self.store.close().await;
    }
}

/// Where a job's schedule shown by the console comes from.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ScheduleSource {
    /// Recorded by a daemon with the last tick it claimed: what actually runs.
    Daemon,
    /// This console's config: no daemon has scheduled the job yet.
    ConsoleConfig,
}

/// A job as the Jobs tab and `jobs list` show it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct JobOverview {
    /// Job name.
    pub name: &'static str,
    /// Cron expression (6 fields).
    pub schedule: String,
    /// Where `schedule` comes from.
    pub schedule_source: ScheduleSource,
    /// Next scheduled time (Unix ms), if the expression has one.
    pub next_run: Option<i64>,
    /// `jobs.enabled`.
    pub enabled: bool,
    /// Who holds its lease.
    pub lease: Option<JobLease>,
    /// Most recent runs, newest first.
    pub runs: Vec<JobRun>,
}
