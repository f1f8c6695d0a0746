//! The console's connection to the database and every operation that changes data, shared by
//! the full-screen console and the subcommands so a reset or an acknowledgement means the same
//! in both. Resets go through the core `SessionService` (the API's own path); every change is
//! audited with actor `admin:<os user>`.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use sessiond_core::Settings;
use sessiond_core::audit::{Actor, EventType, NewEvent, Origin, Severity};
use sessiond_core::config::StorageBackend;
use sessiond_core::domain::{SessionStatus, Timeouts, now_millis};
use sessiond_core::jobs::{JobName, next_run};
use sessiond_core::session::{SessionError, SessionService};
use sessiond_core::store::console::JobLease;
use sessiond_core::store::jobs::JobRun;
use sessiond_core::store::{self, Store};
use sessiond_core::writer::{AuditWriter, WriterHandle, WriterOptions};
use tokio::sync::Mutex;
use uuid::Uuid;

/// Refusal for anything that changes data in `--read-only` mode.
pub const READ_ONLY: &str = "read-only mode: actions that change data are disabled";

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
    /// Uploads the session has; their objects are queued for deletion (not deleted yet).
    pub uploads_queued_for_deletion: i64,
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
    /// Connect to the configured database and apply pending migrations (so a fresh database
    /// works). In read-only mode nothing is migrated.
    pub async fn open(settings: Settings, read_only: bool) -> Result<Self, String> {
        let store = store::connect(&settings.database)
            .await
            .map_err(|e| format!("cannot open {}: {e}", settings.database.url.redacted()))?;
        // The console's own writes (resets, acknowledgements, purges) join the audit chain.
        store.set_chain_keys(sessiond_core::audit_chain::ChainKeys::from_settings(&settings.audit));
        if !read_only {
            store
                .migrate()
                .await
                .map_err(|e| format!("cannot migrate {}: {e}", store.describe()))?;
        }
        // No object store is opened (nor a directory created): see `Console::service`.
        let (writer, handle) = AuditWriter::spawn(store.clone(), WriterOptions::default());
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
            writer: Mutex::new(Some(handle)),
            chain_state: tokio::sync::OnceCell::new(),
        })
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
    pub fn check_storage(&self) -> Result<(), String> {
        let storage = &self.settings.storage;
        match storage.backend {
            StorageBackend::Fs if !storage.fs.root.is_dir() => Err(format!(
                "storage.fs.root {} is not a directory: run sessionctl with the daemon's storage settings \
                 (the same --config file and SESSIOND_STORAGE__* environment); it is never created here",
                storage.fs.root.display()
            )),
            StorageBackend::S3 if storage.s3.bucket.as_deref().unwrap_or("").is_empty() => {
                Err("storage.s3.bucket is not set: run sessionctl with the daemon's storage settings".into())
            }
            _ => Ok(()),
        }
    }

    /// Revoke a session through the session service (a `session.reset` event with actor
    /// `admin:<user>` is written, and its objects are queued for deletion in the same
    /// transaction; the daemon's `object_deletion` job deletes them).
    pub async fn reset(&self, id: Uuid) -> Result<ResetOutcome, String> {
        if self.read_only {
            return Err(READ_ONLY.into());
        }
        self.check_storage()?;
        let uploads = self.store.upload_totals(id).await.map_err(|e| e.to_string())?.count;
        match self.service.reset(&self.origin(), &id.to_string()).await {
            Ok(previous_status) => Ok(ResetOutcome {
                id,
                previous_status,
                uploads_queued_for_deletion: uploads,
            }),
            Err(SessionError::NotFound) => Err(format!("no session {id}")),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Right to erasure: the session row and its upload rows are deleted and its objects
    /// queued for deletion (in the same transaction); its audit events keep their type and time but their session id is replaced by
    /// a fresh random pseudonym (the mapping is not kept anywhere) and their IP and user agent
    /// are cleared. A `session.purged` event under the pseudonym records the purge.
    pub async fn purge(&self, id: Uuid) -> Result<Option<PurgeOutcome>, String> {
        if self.read_only {
            return Err(READ_ONLY.into());
        }
        self.check_storage()?;
        let uploads = self.store.upload_totals(id).await.map_err(|e| e.to_string())?.count;
        let pseudonym = Uuid::new_v4();
        let event = NewEvent::new(
            &self.origin(),
            now_millis(),
            EventType::SessionPurged,
            Severity::Info,
            Some(pseudonym),
            json!({ "uploads_deleted": uploads, "reason": "right_to_erasure" }),
        );
        let Some(counts) = self
            .store
            .purge_session(id, pseudonym, &event)
            .await
            .map_err(|e| e.to_string())?
        else {
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
    pub async fn acknowledge(&self, alert_id: i64) -> Result<bool, String> {
        if self.read_only {
            return Err(READ_ONLY.into());
        }
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
        self.store
            .acknowledge_alert(alert_id, &origin.actor.to_stored(), now.timestamp_millis(), &event)
            .await
            .map_err(|e| e.to_string())
    }

    /// Webhook deliveries and the audit chain's state (verified once per session, when a key
    /// is configured: `sessionctl audit verify` is the full report).
    pub async fn audit_health(&self) -> Result<AuditHealth, String> {
        let counts = self.store.webhook_counts().await.map_err(|e| e.to_string())?;
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

    /// Every job with its schedule, next run, lease and last `runs` runs.
    pub async fn jobs(&self, now: DateTime<Utc>, runs: u32) -> Result<Vec<JobOverview>, String> {
        let leases = self.store.job_leases().await.map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        for job in JobName::ALL {
            let name = job.as_str();
            let schedule = self.settings.jobs.schedule(job);
            let recent = self
                .store
                .list_runs(Some(name), runs)
                .await
                .map_err(|e| e.to_string())?;
            out.push(JobOverview {
                name,
                schedule: schedule.to_owned(),
                next_run: next_run(schedule, now).map(|t| t.timestamp_millis()),
                enabled: self.settings.jobs.enabled,
                lease: leases.iter().find(|l| l.job == name).cloned(),
                runs: recent,
            });
        }
        Ok(out)
    }

    /// Flush the audit writer and close the pools.
    pub async fn close(&self) {
        if let Some(handle) = self.writer.lock().await.take() {
            handle.shutdown().await;
        }
        self.store.close().await;
    }
}

/// A job as the Jobs tab and `jobs list` show it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct JobOverview {
    /// Job name.
    pub name: &'static str,
    /// Cron expression (6 fields).
    pub schedule: String,
    /// Next scheduled time (Unix ms), if the expression has one.
    pub next_run: Option<i64>,
    /// `jobs.enabled`.
    pub enabled: bool,
    /// Who holds its lease.
    pub lease: Option<JobLease>,
    /// Most recent runs, newest first.
    pub runs: Vec<JobRun>,
}
