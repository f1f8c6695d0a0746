//! The job scheduler: every job of the registry (`sessiond_core::jobs::registry`) on its
//! `jobs.<job>.schedule` (6-field cron, UTC) with tokio-cron-scheduler. A tick whose previous
//! run is still going in this process is skipped; across processes each tick is claimed in
//! the database (`run_tick`), so it runs once in total, and the lease keeps runs apart.
//! Shutdown stops the ticks and waits (bounded) for runs in flight.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sessiond_core::Settings;
use sessiond_core::jobs::{
    JobContext, JobDef, REQUEST_POLL, RunOutcome, registry, run_requested, run_tick, scheduled_tick,
};
use sessiond_core::mailer::Mailer;
use sessiond_core::storage::ObjectStore;
use sessiond_core::store::Store;
use tokio::sync::RwLock;
use tokio_cron_scheduler::{Job, JobScheduler};

use crate::metrics::JobMetrics;

/// How often the job metrics' last-success times are read back from `job_runs`.
const LAST_SUCCESS_REFRESH: Duration = Duration::from_secs(15);

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

/// Build what jobs need from the settings, opening the object store (`sessiond run-job`).
pub async fn job_context(settings: Arc<Settings>, store: Arc<dyn Store>) -> Result<JobContext, JobsError> {
    let objects = sessiond_core::storage::from_settings(&settings.storage)
        .await
        .map_err(|e| JobsError::Objects(e.to_string()))?;
    job_context_with(settings, store, objects)
}

/// Build what jobs need around an object store already open (the daemon shares its own).
pub fn job_context_with(
    settings: Arc<Settings>,
    store: Arc<dyn Store>,
    objects: Arc<dyn ObjectStore>,
) -> Result<JobContext, JobsError> {
    let mailer = if settings.email.enabled {
        Some(Arc::new(
            Mailer::from_settings(&settings.email).map_err(JobsError::Email)?,
        ))
    } else {
        None
    };
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
    refresher: tokio::task::JoinHandle<()>,
    requests: tokio::task::JoinHandle<()>,
}

/// Start the scheduler with every registered job, reporting to `metrics`.
pub async fn start(ctx: JobContext, metrics: JobMetrics) -> Result<Scheduler, JobsError> {
    let sched_err = |e: tokio_cron_scheduler::JobSchedulerError| JobsError::Schedule {
        key: "jobs".into(),
        message: e.to_string(),
    };
    let inner = JobScheduler::new().await.map_err(sched_err)?;
    let in_flight = Arc::new(RwLock::new(()));
    for def in registry() {
        let expr = def.schedule(&ctx.settings.jobs).to_owned();
        let key = format!("jobs.{}.schedule", def.name);
        // Same parser and options as the scheduler: a bad expression names its key.
        sessiond_core::config::parse_cron(&expr).map_err(|message| JobsError::Schedule {
            key: key.clone(),
            message,
        })?;
        metrics.declare(def.name);
        let job = scheduled(def, ctx.clone(), in_flight.clone(), metrics.clone(), &expr).map_err(|e| {
            JobsError::Schedule {
                key: key.clone(),
                message: e.to_string(),
            }
        })?;
        inner.add(job).await.map_err(|e| JobsError::Schedule {
            key,
            message: e.to_string(),
        })?;
    }
    inner.start().await.map_err(sched_err)?;
    let refresher = tokio::spawn(refresh_last_successes(ctx.clone(), metrics.clone()));
    let requests = tokio::spawn(run_requests(ctx.clone(), in_flight.clone(), metrics));
    tracing::info!(holder = %ctx.holder, "job scheduler started");
    Ok(Scheduler {
        inner,
        in_flight,
        refresher,
        requests,
    })
}

/// Every [`REQUEST_POLL`], run the jobs operators asked for from the console ("run now",
/// `job_requests`); each request is taken by exactly one daemon and runs under the job's lease.
async fn run_requests(ctx: JobContext, in_flight: Arc<RwLock<()>>, metrics: JobMetrics) {
    let mut every = tokio::time::interval(REQUEST_POLL);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let Ok(_guard) = in_flight.try_read() else {
            return; // shutting down
        };
        let started = std::time::Instant::now();
        match run_requested(&ctx).await {
            Ok(runs) => {
                for r in runs {
                    let Some(name) = registry().into_iter().map(|j| j.name).find(|n| *n == r.job) else {
                        continue;
                    };
                    match r.outcome {
                        Some(RunOutcome::Succeeded { .. }) => {
                            metrics.observe_run(name, true, started.elapsed().as_secs_f64());
                            metrics.set_last_success(name, chrono::Utc::now());
                        }
                        Some(RunOutcome::Failed { .. }) => {
                            metrics.observe_run(name, false, started.elapsed().as_secs_f64())
                        }
                        // Given back while the job runs elsewhere; not a skipped tick.
                        Some(RunOutcome::Skipped | RunOutcome::TickTaken) | None => {}
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "requested job runs: cannot read or run them"),
        }
    }
}

/// Keep `sessiond_job_last_success_timestamp_seconds` current from the shared `job_runs`.
async fn refresh_last_successes(ctx: JobContext, metrics: JobMetrics) {
    let jobs = registry();
    let names: Vec<&'static str> = jobs.iter().map(|j| j.name).collect();
    let mut every = tokio::time::interval(LAST_SUCCESS_REFRESH);
    loop {
        every.tick().await;
        match ctx.store.last_successes(&names).await {
            Ok(found) => {
                for (job, at) in found {
                    if let Some(name) = names.iter().find(|n| **n == job) {
                        metrics.set_last_success(name, at);
                    }
                }
            }
            Err(e) => tracing::debug!(error = %e, "job metrics: cannot read the last successes"),
        }
    }
}

fn scheduled(
    def: JobDef,
    ctx: JobContext,
    in_flight: Arc<RwLock<()>>,
    metrics: JobMetrics,
    expr: &str,
) -> Result<Job, tokio_cron_scheduler::JobSchedulerError> {
    let running = RunningFlag::default();
    let expr_owned = expr.to_owned();
    Job::new_async(expr, move |_, _| {
        // The tick this wake-up is for, fixed before anything that could delay it.
        let tick = scheduled_tick(&expr_owned, chrono::Utc::now());
        let ctx = ctx.clone();
        let running = running.clone();
        let in_flight = in_flight.clone();
        let metrics = metrics.clone();
        Box::pin(async move {
            let Some(tick) = tick else {
                tracing::warn!(job = def.name, "no scheduled tick at or before now; skipped");
                return;
            };
            // A slow run is not stacked on by the next tick.
            let Some(_running) = running.claim() else {
                tracing::debug!(job = def.name, "previous run still going; tick skipped");
                metrics.observe_skip(def.name, "still_running");
                return;
            };
            let Ok(_guard) = in_flight.try_read() else {
                return; // shutting down
            };
            let started = std::time::Instant::now();
            match run_tick(&ctx, def, tick).await {
                Ok(RunOutcome::TickTaken) => {
                    tracing::debug!(job = def.name, %tick, "tick claimed by another instance; skipped");
                    metrics.observe_skip(def.name, "tick_taken");
                }
                Ok(RunOutcome::Skipped) => {
                    tracing::debug!(job = def.name, "lease held elsewhere; skipped");
                    metrics.observe_skip(def.name, "lease_held");
                }
                Ok(RunOutcome::Succeeded { .. }) => {
                    metrics.observe_run(def.name, true, started.elapsed().as_secs_f64());
                    metrics.set_last_success(def.name, chrono::Utc::now());
                }
                Ok(RunOutcome::Failed { .. }) => {
                    metrics.observe_run(def.name, false, started.elapsed().as_secs_f64());
                }
                Err(e) => {
                    tracing::warn!(job = def.name, error = %e, "job could not be run");
                    metrics.observe_run(def.name, false, started.elapsed().as_secs_f64());
                }
            }
        })
    })
}

/// "A run of this job is going in this process". Claimed for a run and released when the
/// claim drops, also when the run panics and its task unwinds: a panic must not leave the
/// flag set, or the job would never run again in this process.
#[derive(Clone, Default)]
struct RunningFlag(Arc<AtomicBool>);

/// A claimed [`RunningFlag`]; dropping it releases the flag.
struct RunningClaim(Arc<AtomicBool>);

impl RunningFlag {
    /// Claim the flag, or `None` while a run holds it.
    fn claim(&self) -> Option<RunningClaim> {
        (!self.0.swap(true, Ordering::AcqRel)).then(|| RunningClaim(self.0.clone()))
    }
}

impl Drop for RunningClaim {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

impl Scheduler {
    /// Stop ticking and wait up to `grace` for runs in flight.
    pub async fn shutdown(mut self, grace: Duration) {
        self.refresher.abort();
        if let Err(e) = self.inner.shutdown().await {
            tracing::warn!(error = %e, "job scheduler shutdown");
        }
        let drained = tokio::time::timeout(grace, self.in_flight.write()).await;
        if drained.is_err() {
            tracing::warn!(
                ?grace,
                "jobs still running at shutdown; they are abandoned (their leases expire)"
            );
        }
        // A requested run in flight holds a read guard like a scheduled one; with the write
        // side held, no new one starts before the poller is stopped.
        self.requests.abort();
        drop(drained);
    }
}

#[cfg(test)]
mod tests {
    use super::RunningFlag;

    #[tokio::test]
    async fn a_run_that_panics_releases_the_flag() {
        let flag = RunningFlag::default();
        let claim = flag.claim();
        assert!(claim.is_some());
        assert!(flag.claim().is_none(), "one run at a time");
        drop(claim);

        let in_task = flag.clone();
        let run = tokio::spawn(async move {
            let _claim = in_task.claim();
            panic!("the job failed badly");
        });
        assert!(run.await.is_err_and(|e| e.is_panic()));
        assert!(flag.claim().is_some(), "the job runs again after a panic");
    }
}
