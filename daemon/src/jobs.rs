//! The job scheduler: every job of the registry (`sessiond_core::jobs::registry`) on its
//! `jobs.<job>.schedule` (6-field cron, UTC) with tokio-cron-scheduler. A tick whose previous
//! run is still going in this process is skipped; across processes the lease decides
//! (`run_job`). Shutdown stops the ticks and waits (bounded) for runs in flight.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sessiond_core::Settings;
use sessiond_core::jobs::{JobContext, JobDef, RunOutcome, registry, run_job};
use sessiond_core::mailer::Mailer;
use sessiond_core::store::Store;
use tokio::sync::RwLock;
use tokio_cron_scheduler::{Job, JobScheduler};

/// Why the scheduler could not start.
#[derive(Debug, thiserror::Error)]
pub enum JobsError {
    /// A bad schedule or a scheduler failure.
    #[error("{key}: {message}")]
    Schedule {
        /// The config key.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// `email.*` cannot be used.
    #[error("{0}")]
    Email(String),
    /// Object storage could not be opened.
    #[error("object storage: {0}")]
    Objects(String),
}

/// Build what jobs need from the settings (also used by `sessiond run-job`).
pub async fn job_context(settings: Arc<Settings>, store: Arc<dyn Store>) -> Result<JobContext, JobsError> {
    let mailer = if settings.email.enabled {
        Some(Arc::new(
            Mailer::from_settings(&settings.email).map_err(JobsError::Email)?,
        ))
    } else {
        None
    };
    let objects = sessiond_core::objects::from_settings(&settings)
        .await
        .map_err(|e| JobsError::Objects(e.to_string()))?;
    Ok(JobContext {
        store,
        settings,
        objects,
        mailer,
        holder: sessiond_core::jobs::instance_id(),
    })
}

/// The running scheduler.
pub struct Scheduler {
    inner: JobScheduler,
    /// Each run holds a read guard; shutdown takes the write side to wait for them.
    in_flight: Arc<RwLock<()>>,
}

/// Start the scheduler with every registered job.
pub async fn start(ctx: JobContext) -> Result<Scheduler, JobsError> {
    let sched_err = |e: tokio_cron_scheduler::JobSchedulerError| JobsError::Schedule {
        key: "jobs".into(),
        message: e.to_string(),
    };
    let inner = JobScheduler::new().await.map_err(sched_err)?;
    let in_flight = Arc::new(RwLock::new(()));
    for def in registry() {
        let expr = (def.schedule)(&ctx.settings.jobs).to_owned();
        let key = format!("jobs.{}.schedule", def.name);
        // Same parser and options as the scheduler: a bad expression names its key.
        sessiond_core::config::parse_cron(&expr).map_err(|message| JobsError::Schedule {
            key: key.clone(),
            message,
        })?;
        let job = scheduled(def, ctx.clone(), in_flight.clone(), &expr).map_err(|e| JobsError::Schedule {
            key: key.clone(),
            message: e.to_string(),
        })?;
        inner.add(job).await.map_err(|e| JobsError::Schedule {
            key,
            message: e.to_string(),
        })?;
    }
    inner.start().await.map_err(sched_err)?;
    tracing::info!(holder = %ctx.holder, "job scheduler started");
    Ok(Scheduler { inner, in_flight })
}

fn scheduled(
    def: JobDef,
    ctx: JobContext,
    in_flight: Arc<RwLock<()>>,
    expr: &str,
) -> Result<Job, tokio_cron_scheduler::JobSchedulerError> {
    let running = Arc::new(AtomicBool::new(false));
    Job::new_async(expr, move |_, _| {
        let ctx = ctx.clone();
        let running = running.clone();
        let in_flight = in_flight.clone();
        Box::pin(async move {
            // A slow run is not stacked on by the next tick.
            if running.swap(true, Ordering::AcqRel) {
                tracing::debug!(job = def.name, "previous run still going; tick skipped");
                return;
            }
            let Ok(_guard) = in_flight.try_read() else {
                running.store(false, Ordering::Release);
                return; // shutting down
            };
            match run_job(&ctx, def).await {
                Ok(RunOutcome::Skipped) => tracing::debug!(job = def.name, "lease held elsewhere; skipped"),
                Ok(_) => {}
                Err(e) => tracing::warn!(job = def.name, error = %e, "job could not be run"),
            }
            running.store(false, Ordering::Release);
        })
    })
}

impl Scheduler {
    /// Stop ticking and wait up to `grace` for runs in flight.
    pub async fn shutdown(mut self, grace: Duration) {
        if let Err(e) = self.inner.shutdown().await {
            tracing::warn!(error = %e, "job scheduler shutdown");
        }
        if tokio::time::timeout(grace, self.in_flight.write()).await.is_err() {
            tracing::warn!(
                ?grace,
                "jobs still running at shutdown; they are abandoned (their leases expire)"
            );
        }
    }
}
