//! Scheduled jobs (SPEC §6): the registry (a job is a name, its schedule key and an async fn)
//! and [`run_job`], which wraps one run in the lease, the `job_runs` record and the
//! `job.completed` / `job.failed` audit event. `sessiond run-job` calls [`run_job`]; the
//! daemon's scheduler calls [`run_tick`], which first claims the scheduled tick in the
//! database so that each tick runs once in total however many daemons share the database.

pub mod context;
mod deletion;
mod expiry;
mod name;
mod retention;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use futures_util::FutureExt;
use serde_json::{Value, json};

use crate::audit::{EventType, NewEvent, Origin, Severity};
use crate::config::JobSettings;
use crate::domain::now_millis;

pub use context::{Counts, JobContext, JobError};
pub use deletion::{delete_pending_objects, delete_pending_with, retry_at};
pub use expiry::expire_sessions;
pub use name::{JobName, UnknownJob};
pub use retention::{anonymize_ip, run_retention};

type JobFuture = Pin<Box<dyn Future<Output = Result<Counts, JobError>> + Send>>;

/// One scheduled job.
#[derive(Clone, Copy)]
pub struct JobDef {
    /// Which job; its name is `jobs.<name>.schedule` in the config and `sessiond run-job <name>`.
    pub job: JobName,
    /// Its name, as stored in leases and run records.
    pub name: &'static str,
    /// The work. `run_id` identifies the run in audit events (`request_id = job:<name>:<id>`).
    pub run: fn(JobContext, i64) -> JobFuture,
}

impl JobDef {
    const fn new(job: JobName, run: fn(JobContext, i64) -> JobFuture) -> Self {
        Self {
            job,
            name: job.as_str(),
            run,
        }
    }

    /// Its cron expression in the config.
    pub fn schedule(self, jobs: &JobSettings) -> &str {
        jobs.schedule(self.job)
    }
}

impl std::fmt::Debug for JobDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobDef").field("name", &self.name).finish()
    }
}

/// Every job, in SPEC §6 order ([`JobName::ALL`]).
pub fn registry() -> Vec<JobDef> {
    JobName::ALL.map(|job| JobDef::new(job, work(job))).to_vec()
}

/// What `job` runs.
fn work(job: JobName) -> fn(JobContext, i64) -> JobFuture {
    match job {
        JobName::SessionExpiry => |ctx, id| Box::pin(async move { expire_sessions(&ctx, id).await }),
        JobName::Retention => |ctx, _| Box::pin(async move { run_retention(&ctx, now_millis()).await }),
        JobName::AlertDetection => {
            |ctx, id| Box::pin(async move { crate::alerts::detect(&ctx, id, now_millis()).await })
        }
        JobName::AlertDigest => |ctx, _| Box::pin(async move { crate::alerts::queue_digest(&ctx, now_millis()).await }),
        JobName::NotificationSender => |ctx, id| {
            Box::pin(async move {
                let now = now_millis();
                let mut counts = crate::mailer::deliver_pending(&ctx, id, now).await?;
                // Webhooks share the outbox job (`crate::webhooks`).
                counts.extend(crate::webhooks::run(&ctx, now).await?);
                Ok(counts)
            })
        },
        JobName::UploadGc => |ctx, _| Box::pin(upload_gc(ctx)),
        JobName::ObjectDeletion => |ctx, _| Box::pin(async move { delete_pending_objects(&ctx).await }),
    }
}

/// Objects without an upload row, older than [`crate::uploads::UPLOAD_GC_AGE`]: leftovers of
/// a crash between storing an object and committing its row.
async fn upload_gc(ctx: JobContext) -> Result<Counts, JobError> {
    let report = crate::uploads::upload_gc(&*ctx.store, &*ctx.objects, crate::uploads::UPLOAD_GC_AGE).await?;
    Ok(Counts::from_iter([
        ("scanned".to_owned(), json!(report.scanned)),
        ("deleted".to_owned(), json!(report.deleted)),
        ("kept_young".to_owned(), json!(report.kept_young)),
        ("spool_deleted".to_owned(), json!(report.spool_deleted)),
    ]))
}

/// The job called `name`.
pub fn find(name: &str) -> Option<JobDef> {
    let job = name.parse::<JobName>().ok()?;
    Some(JobDef::new(job, work(job)))
}

/// How long a lease lasts without renewal; renewed every third of it while the job runs.
pub const LEASE_TTL: Duration = Duration::from_secs(60);

/// How one call of [`run_job`] ended.
#[derive(Debug, Clone, PartialEq)]
pub enum RunOutcome {
    /// Another instance holds the lease; nothing ran.
    Skipped,
    /// Another instance already claimed this scheduled tick (it runs it); nothing ran here.
    TickTaken,
    /// Ran and finished.
    Succeeded {
        /// `job_runs.id`.
        run_id: i64,
        /// What it did.
        counts: Counts,
    },
    /// Ran and failed (or lost its lease).
    Failed {
        /// `job_runs.id`.
        run_id: i64,
        /// The [`JobError`]'s text, as stored in `job_runs.error`.
        error: String,
    },
}

/// An instance id for lease holding: unique per process start.
pub fn instance_id() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "sessiond".into());
    format!(
        "{host}:{}:{}",
        std::process::id(),
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

/// The scheduled tick a scheduler wake-up at `now` belongs to: the latest time at or before
/// `now` (whole seconds) that `schedule` matches. The scheduler fires at or shortly after a
/// tick, so every daemon woken for one tick computes the same instant, whatever its delay
/// below the schedule's period; `None` for an expression that does not parse.
pub fn scheduled_tick(schedule: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let cron = crate::config::parse_cron(schedule).ok()?;
    let now = now.trunc_subsecs(0);
    cron.find_previous_occurrence(&now, true).ok()
}

/// The next time `schedule` fires after `now`, parsed exactly as the scheduler parses it
/// ([`crate::config::parse_cron`]: a schedule restricting both day of month and weekday fires
/// only on days matching both); `None` for an expression that does not parse.
pub fn next_run(schedule: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let cron = crate::config::parse_cron(schedule).ok()?;
    cron.find_next_occurrence(&now, false).ok()
}

/// Run the scheduled tick `tick` of `job` if no daemon has claimed it yet: claim it (one
/// statement, so exactly one daemon wins), then [`run_job`] under the lease. A daemon that
/// was down at a tick never replays it: it only claims the tick it was woken for.
pub async fn run_tick(
    ctx: &JobContext,
    job: JobDef,
    tick: DateTime<Utc>,
) -> Result<RunOutcome, crate::store::StoreError> {
    let schedule = job.schedule(&ctx.settings.jobs);
    if !ctx
        .store
        .claim_tick(job.name, tick, &ctx.holder, Utc::now(), schedule)
        .await?
    {
        return Ok(RunOutcome::TickTaken);
    }
    run(ctx, job, Some(tick)).await
}

/// Run `job` once now if this instance can take its lease (`sessiond run-job`: no tick is
/// claimed, so it runs even right after a scheduled run): record the run, renew the lease
/// while it runs, audit the outcome, release the lease.
pub async fn run_job(ctx: &JobContext, job: JobDef) -> Result<RunOutcome, crate::store::StoreError> {
    run(ctx, job, None).await
}

/// What happened to one run requested from the console ([`run_requested`]).
#[derive(Debug, Clone, PartialEq)]
pub struct RequestedRun {
    /// `job_requests.id`.
    pub request_id: i64,
    /// The job's name as requested.
    pub job: String,
    /// How the run ended; `None` when the job is unknown to this daemon (the request is closed
    /// without a run).
    pub outcome: Option<RunOutcome>,
}

/// How often a daemon looks for runs requested from the console.
pub const REQUEST_POLL: Duration = Duration::from_secs(2);

/// Run what operators asked for from the console ("run now", `job_requests`): take each
/// pending request (one conditional update, so exactly one daemon takes it), run its job now
/// under the lease exactly as `sessiond run-job` does, and record the run on the request. A
/// request whose job is running elsewhere (lease held) is given back and runs on a later poll,
/// after that run. One request per job per call.
pub async fn run_requested(ctx: &JobContext) -> Result<Vec<RequestedRun>, crate::store::StoreError> {
    let store = &ctx.store;
    let mut done = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for request in store.pending_run_requests(100).await? {
        if !seen.insert(request.job.clone()) {
            continue;
        }
        if !store.claim_run_request(request.id, &ctx.holder, Utc::now()).await? {
            continue; // another daemon took it
        }
        let Some(job) = find(&request.job) else {
            tracing::warn!(job = %request.job, request = request.id, "run requested for an unknown job");
            store.finish_run_request(request.id, None, Utc::now()).await?;
            done.push(RequestedRun {
                request_id: request.id,
                job: request.job,
                outcome: None,
            });
            continue;
        };
        let outcome = match run(ctx, job, None).await {
            Ok(o) => o,
            Err(e) => {
                let _ = store.release_run_request(request.id, &ctx.holder).await;
                return Err(e);
            }
        };
        match &outcome {
            RunOutcome::Succeeded { run_id, .. } | RunOutcome::Failed { run_id, .. } => {
                store.finish_run_request(request.id, Some(*run_id), Utc::now()).await?;
            }
            RunOutcome::Skipped | RunOutcome::TickTaken => {
                store.release_run_request(request.id, &ctx.holder).await?;
            }
        }
        tracing::info!(job = job.name, request = request.id, by = %request.requested_by, ?outcome, "requested run");
        done.push(RequestedRun {
            request_id: request.id,
            job: request.job,
            outcome: Some(outcome),
        });
    }
    Ok(done)
}

async fn run(
    ctx: &JobContext,
    job: JobDef,
    tick: Option<DateTime<Utc>>,
) -> Result<RunOutcome, crate::store::StoreError> {
    let store = &ctx.store;
    let now = Utc::now();
    let ttl = chrono::Duration::from_std(LEASE_TTL).unwrap_or(chrono::Duration::seconds(60));
    if !store.acquire_lease(job.name, &ctx.holder, now, now + ttl).await? {
        return Ok(RunOutcome::Skipped);
    }
    let started = now_millis();
    let run_id = match store.start_run(job.name, &ctx.holder, started, tick).await {
        Ok(id) => id,
        Err(e) => {
            let _ = store.release_lease(job.name, &ctx.holder).await;
            return Err(e);
        }
    };
    // A panicking job is a failed run like any other: recorded, audited, its lease released.
    let work = std::panic::AssertUnwindSafe((job.run)(ctx.clone(), run_id)).catch_unwind();
    let renew = async {
        loop {
            tokio::time::sleep(LEASE_TTL / 3).await;
            match store.renew_lease(job.name, &ctx.holder, Utc::now() + ttl).await {
                Ok(true) => {}
                Ok(false) => return JobError::LeaseLost,
                // A blip is survivable while the lease has time left; the next renewal retries.
                Err(e) => tracing::warn!(job = job.name, error = %e, "lease renewal failed"),
            }
        }
    };
    let result = tokio::select! {
        r = work => r.unwrap_or_else(|panic| Err(JobError::Panicked(panic_message(&*panic)))),
        lost = renew => Err(lost),
    };
    let finished = now_millis();
    let elapsed_ms = (finished - started).num_milliseconds();
    let (succeeded, counts, error) = match &result {
        Ok(c) => (true, Value::Object(c.clone()), None),
        Err(e) => (false, json!({}), Some(e.to_string())),
    };
    let recorded = store
        .finish_run(run_id, finished, succeeded, &counts, error.as_deref())
        .await;
    let origin = Origin::system(format!("job:{}:{run_id}", job.name));
    let event = NewEvent::new(
        &origin,
        finished,
        if succeeded {
            EventType::JobCompleted
        } else {
            EventType::JobFailed
        },
        if succeeded { Severity::Info } else { Severity::Warning },
        None,
        json!({ "job": job.name, "run_id": run_id, "holder": ctx.holder, "duration_ms": elapsed_ms,
                "counts": counts, "error": error, "scheduled_for": tick.map(|t| t.to_rfc3339()) }),
    );
    let audited = store.commit_batch(&[crate::store::WriteOp::Event(event)]).await;
    let _ = store.release_lease(job.name, &ctx.holder).await;
    recorded?;
    audited?;
    match result {
        Ok(counts) => {
            tracing::info!(job = job.name, run_id, elapsed_ms, counts = %serde_json::Value::Object(counts.clone()), "job completed");
            Ok(RunOutcome::Succeeded { run_id, counts })
        }
        Err(error) => {
            tracing::warn!(job = job.name, run_id, elapsed_ms, %error, "job failed");
            Ok(RunOutcome::Failed {
                run_id,
                error: error.to_string(),
            })
        }
    }
}

/// The text of a panic's payload (`panic!` gives a `&str` or a `String`).
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".to_owned())
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::next_run;

    #[test]
    fn next_run_follows_six_field_cron() {
        let now = Utc.with_ymd_and_hms(2026, 1, 8, 10, 2, 7).single().expect("time");
        let next = next_run("0 */5 * * * *", now).expect("next");
        assert_eq!(next, Utc.with_ymd_and_hms(2026, 1, 8, 10, 5, 0).single().expect("time"));
        let daily = next_run("0 15 3 * * *", now).expect("next");
        assert_eq!(
            daily,
            Utc.with_ymd_and_hms(2026, 1, 9, 3, 15, 0).single().expect("time")
        );
        assert!(next_run("not cron", now).is_none());
    }

    #[test]
    fn next_run_needs_both_day_of_month_and_weekday_like_the_scheduler() {
        // Thursday 8 January 2026: "midnight on a Friday the 13th" is 13 February, not
        // Friday 9 January (weekday only) nor Tuesday 13 January (day of month only).
        let now = Utc.with_ymd_and_hms(2026, 1, 8, 10, 2, 7).single().expect("time");
        let next = next_run("0 0 0 13 * FRI", now).expect("next");
        assert_eq!(next, Utc.with_ymd_and_hms(2026, 2, 13, 0, 0, 0).single().expect("time"));
        assert_eq!(
            super::scheduled_tick("0 0 0 13 * FRI", next + chrono::Duration::seconds(1)),
            Some(next)
        );
    }
}
