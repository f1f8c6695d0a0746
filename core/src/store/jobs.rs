//! Job leases, tick claims and the record of job runs (SPEC §6). A lease is one row per job;
//! taking it is a single statement (insert, or take over a row whose lease has expired), so
//! among several daemons on one database exactly one holds a job at a time. A tick claim is
//! one row per job holding the last scheduled tick claimed; claiming only moves it forward,
//! so each scheduled tick is claimed (and run) once in total, however many daemons tick.

use chrono::{DateTime, Utc};

use crate::domain::from_millis;
use crate::store::StoreError;

/// Where a job run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Started, not finished (or its process died mid-run).
    Running,
    /// Finished without error.
    Succeeded,
    /// Finished with an error.
    Failed,
}

impl RunStatus {
    /// The stored form.
    pub const fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
        }
    }

    /// Parse the stored form.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "running" => Some(RunStatus::Running),
            "succeeded" => Some(RunStatus::Succeeded),
            "failed" => Some(RunStatus::Failed),
            _ => None,
        }
    }
}

impl std::fmt::Display for RunStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `pad`, not `write_str`: tables align these with `{:<9}`.
        f.pad(self.as_str())
    }
}

/// One recorded run of a job: the one read model of a `job_runs` row. Times serialize as Unix
/// milliseconds, as they are stored (`sessionctl` prints its own RFC 3339 shape,
/// tui/src/cli/json.rs).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct JobRun {
    /// Row id (also in the run's audit events, `request_id = job:<name>:<id>`).
    pub id: i64,
    /// The job ([`crate::jobs::JobName`] spelling; kept as text so runs of a job a newer
    /// version added still load).
    pub job: String,
    /// Instance id of the daemon (or `run-job` process) that ran it.
    pub holder: String,
    /// When the run started.
    #[serde(with = "chrono::serde::ts_milliseconds")]
    pub started_at: DateTime<Utc>,
    /// End (none while running, or when the process died mid-run).
    #[serde(with = "chrono::serde::ts_milliseconds_option")]
    pub finished_at: Option<DateTime<Utc>>,
    /// Where the run is.
    pub status: RunStatus,
    /// What it did, e.g. `{"expired": 3}`.
    pub counts: serde_json::Value,
    /// Why it failed.
    pub error: Option<String>,
    /// The scheduled tick this run was for (none for `sessiond run-job`).
    #[serde(with = "chrono::serde::ts_milliseconds_option")]
    pub scheduled_for: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct JobRunRow {
    id: i64,
    job: String,
    holder: String,
    started_at: i64,
    finished_at: Option<i64>,
    status: String,
    counts: sqlx::types::Json<serde_json::Value>,
    error: Option<String>,
    scheduled_for: Option<i64>,
}

impl TryFrom<JobRunRow> for JobRun {
    type Error = StoreError;
    fn try_from(r: JobRunRow) -> Result<Self, StoreError> {
        Ok(JobRun {
            id: r.id,
            job: r.job,
            holder: r.holder,
            started_at: from_millis(r.started_at),
            finished_at: r.finished_at.map(from_millis),
            status: RunStatus::parse(&r.status)
                .ok_or_else(|| StoreError::Internal(format!("unknown job run status `{}`", r.status)))?,
            counts: r.counts.0,
            error: r.error,
            scheduled_for: r.scheduled_for.map(from_millis),
        })
    }
}

/// A run requested from the console ("run now"): the one read model of a `job_requests` row.
/// A daemon with jobs enabled claims it, runs the job under its lease and records the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRequest {
    /// Row id.
    pub id: i64,
    /// The job ([`crate::jobs::JobName`] spelling).
    pub job: String,
    /// Who asked (`admin:<name>`).
    pub requested_by: String,
    /// When.
    pub requested_at: DateTime<Utc>,
    /// Instance id of the daemon that took it.
    pub claimed_by: Option<String>,
    /// When it was taken.
    pub claimed_at: Option<DateTime<Utc>>,
    /// When its run ended.
    pub finished_at: Option<DateTime<Utc>>,
    /// Its `job_runs` row once run (none when the daemon did not know the job).
    pub run_id: Option<i64>,
}

#[derive(sqlx::FromRow)]
struct RunRequestRow {
    id: i64,
    job: String,
    requested_by: String,
    requested_at: i64,
    claimed_by: Option<String>,
    claimed_at: Option<i64>,
    finished_at: Option<i64>,
    run_id: Option<i64>,
}

impl From<RunRequestRow> for RunRequest {
    fn from(r: RunRequestRow) -> Self {
        RunRequest {
            id: r.id,
            job: r.job,
            requested_by: r.requested_by,
            requested_at: from_millis(r.requested_at),
            claimed_by: r.claimed_by,
            claimed_at: r.claimed_at.map(from_millis),
            finished_at: r.finished_at.map(from_millis),
            run_id: r.run_id,
        }
    }
}

/// Leases and run records.
#[async_trait::async_trait]
pub trait JobStore: Send + Sync {
    /// Take the lease of `job` for `holder` until `until`, if nobody holds an unexpired one
    /// at `now`. One statement; true when taken.
    async fn acquire_lease(
        &self,
        job: &str,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Extend a lease `holder` still holds; false when it was lost.
    async fn renew_lease(&self, job: &str, holder: &str, until: DateTime<Utc>) -> Result<bool, StoreError>;
    /// Give the lease up (only if `holder` still holds it).
    async fn release_lease(&self, job: &str, holder: &str) -> Result<(), StoreError>;
    /// Claim the scheduled tick `tick` of `job` for `holder`: true when no daemon has claimed
    /// this tick (or a later one) yet. One statement; `schedule` is recorded for the console.
    async fn claim_tick(
        &self,
        job: &str,
        tick: DateTime<Utc>,
        holder: &str,
        now: DateTime<Utc>,
        schedule: &str,
    ) -> Result<bool, StoreError>;
    /// The last claimed tick of every job that has one: (job, tick, schedule).
    async fn claimed_ticks(&self) -> Result<Vec<(String, DateTime<Utc>, String)>, StoreError>;
    /// When each of `jobs` last finished successfully (on any daemon): (job, finished_at),
    /// for the jobs that ever did.
    async fn last_successes(&self, jobs: &[&str]) -> Result<Vec<(String, DateTime<Utc>)>, StoreError>;
    /// Record the start of a run (for the scheduled tick `scheduled_for`, if any); returns
    /// its id.
    async fn start_run(
        &self,
        job: &str,
        holder: &str,
        at: DateTime<Utc>,
        scheduled_for: Option<DateTime<Utc>>,
    ) -> Result<i64, StoreError>;
    /// Record the end of a run.
    async fn finish_run(
        &self,
        id: i64,
        at: DateTime<Utc>,
        succeeded: bool,
        counts: &serde_json::Value,
        error: Option<&str>,
    ) -> Result<(), StoreError>;
    /// The newest runs (of one job, or of all), newest first (by start, then id).
    async fn list_runs(&self, job: Option<&str>, limit: u32) -> Result<Vec<JobRun>, StoreError>;
    /// Ask the daemons to run `job` now: add a request and write `event` (`job.requested`,
    /// its metadata completed with `job` and `request_id`) in one transaction. When the job
    /// already has a request no daemon has taken yet, nothing is written and that request's
    /// id is returned with `false`.
    async fn request_run(
        &self,
        job: &str,
        by: &str,
        at: DateTime<Utc>,
        event: &crate::audit::NewEvent,
    ) -> Result<(i64, bool), StoreError>;
    /// Requests no daemon has taken yet, oldest first.
    async fn pending_run_requests(&self, limit: u32) -> Result<Vec<RunRequest>, StoreError>;
    /// Take request `id` for `holder`: one conditional update, true for exactly one caller.
    async fn claim_run_request(&self, id: i64, holder: &str, at: DateTime<Utc>) -> Result<bool, StoreError>;
    /// Give a taken request back (its job was running elsewhere), for a later poll.
    async fn release_run_request(&self, id: i64, holder: &str) -> Result<(), StoreError>;
    /// Record the end of a request's run (`run_id` none: nothing could be run).
    async fn finish_run_request(&self, id: i64, run_id: Option<i64>, at: DateTime<Utc>) -> Result<(), StoreError>;
    /// A job's newest requests, newest first.
    async fn run_requests(&self, job: &str, limit: u32) -> Result<Vec<RunRequest>, StoreError>;
    /// Each job's latest request (one query, for the console's refresh).
    async fn latest_run_requests(&self) -> Result<Vec<RunRequest>, StoreError>;
}

macro_rules! job_store_impl {
    ($store:ty, $sql:path) => {
        #[async_trait::async_trait]
        impl crate::store::jobs::JobStore for $store {
            async fn acquire_lease(
                &self,
                job: &str,
                holder: &str,
                now: chrono::DateTime<chrono::Utc>,
                until: chrono::DateTime<chrono::Utc>,
            ) -> Result<bool, crate::store::StoreError> {
                use $sql as q;
                let _gate = self.write_gate().await;
                let n = sqlx::query(q::ACQUIRE_LEASE)
                    .bind(job)
                    .bind(holder)
                    .bind(until.timestamp_millis())
                    .bind(now.timestamp_millis())
                    .execute(&self.write_pool)
                    .await?
                    .rows_affected();
                Ok(n == 1)
            }

            async fn renew_lease(
                &self,
                job: &str,
                holder: &str,
                until: chrono::DateTime<chrono::Utc>,
            ) -> Result<bool, crate::store::StoreError> {
                use $sql as q;
                let _gate = self.write_gate().await;
                let n = sqlx::query(q::RENEW_LEASE)
                    .bind(until.timestamp_millis())
                    .bind(job)
                    .bind(holder)
                    .execute(&self.write_pool)
                    .await?
                    .rows_affected();
                Ok(n == 1)
            }

            async fn release_lease(&self, job: &str, holder: &str) -> Result<(), crate::store::StoreError> {
                use $sql as q;
                let _gate = self.write_gate().await;
                sqlx::query(q::RELEASE_LEASE)
                    .bind(job)
                    .bind(holder)
                    .execute(&self.write_pool)
                    .await?;
                Ok(())
            }

            async fn claim_tick(
                &self,
                job: &str,
                tick: chrono::DateTime<chrono::Utc>,
                holder: &str,
                now: chrono::DateTime<chrono::Utc>,
                schedule: &str,
            ) -> Result<bool, crate::store::StoreError> {
                use $sql as q;
                let _gate = self.write_gate().await;
                let n = sqlx::query(q::CLAIM_TICK)
                    .bind(job)
                    .bind(tick.timestamp_millis())
                    .bind(holder)
                    .bind(now.timestamp_millis())
                    .bind(schedule)
                    .execute(&self.write_pool)
                    .await?
                    .rows_affected();
                Ok(n == 1)
            }

            async fn claimed_ticks(
                &self,
            ) -> Result<Vec<(String, chrono::DateTime<chrono::Utc>, String)>, crate::store::StoreError> {
                use $sql as q;
                let rows: Vec<(String, i64, String)> = sqlx::query_as(q::CLAIMED_TICKS).fetch_all(&self.pool).await?;
                Ok(rows
                    .into_iter()
                    .map(|(job, tick, schedule)| (job, crate::domain::from_millis(tick), schedule))
                    .collect())
            }

            async fn last_successes(
                &self,
                jobs: &[&str],
            ) -> Result<Vec<(String, chrono::DateTime<chrono::Utc>)>, crate::store::StoreError> {
                use $sql as q;
                let mut out = Vec::new();
                // One index look-up per job name (job_runs_job_started), not a scan of the runs.
                for job in jobs {
                    let at: Option<i64> = sqlx::query_scalar(q::LAST_SUCCESS)
                        .bind(*job)
                        .fetch_optional(&self.pool)
                        .await?
                        .flatten();
                    if let Some(at) = at {
                        out.push(((*job).to_owned(), crate::domain::from_millis(at)));
                    }
                }
                Ok(out)
            }

            async fn start_run(
                &self,
                job: &str,
                holder: &str,
                at: chrono::DateTime<chrono::Utc>,
                scheduled_for: Option<chrono::DateTime<chrono::Utc>>,
            ) -> Result<i64, crate::store::StoreError> {
                use $sql as q;
                let _gate = self.write_gate().await;
                let id: i64 = sqlx::query_scalar(q::START_RUN)
                    .bind(job)
                    .bind(holder)
                    .bind(at.timestamp_millis())
                    .bind(scheduled_for.map(|t| t.timestamp_millis()))
                    .fetch_one(&self.write_pool)
                    .await?;
                Ok(id)
            }

            async fn finish_run(
                &self,
                id: i64,
                at: chrono::DateTime<chrono::Utc>,
                succeeded: bool,
                counts: &serde_json::Value,
                error: Option<&str>,
            ) -> Result<(), crate::store::StoreError> {
                use $sql as q;
                let _gate = self.write_gate().await;
                sqlx::query(q::FINISH_RUN)
                    .bind(at.timestamp_millis())
                    .bind(if succeeded { "succeeded" } else { "failed" })
                    .bind(sqlx::types::Json(counts))
                    .bind(error)
                    .bind(id)
                    .execute(&self.write_pool)
                    .await?;
                Ok(())
            }

            async fn list_runs(
                &self,
                job: Option<&str>,
                limit: u32,
            ) -> Result<Vec<crate::store::jobs::JobRun>, crate::store::StoreError> {
                use $sql as q;
                let rows: Vec<crate::store::jobs::JobRunRow> = sqlx::query_as(q::LIST_RUNS)
                    .bind(job)
                    .bind(i64::from(limit.clamp(1, 100_000)))
                    .fetch_all(&self.pool)
                    .await?;
                rows.into_iter().map(TryInto::try_into).collect()
            }

            async fn request_run(
                &self,
                job: &str,
                by: &str,
                at: chrono::DateTime<chrono::Utc>,
                event: &crate::audit::NewEvent,
            ) -> Result<(i64, bool), crate::store::StoreError> {
                use $sql as q;
                // Another console's request may be committed between the look-up and the
                // insert (on PostgreSQL the insert waits for it): the insert then does nothing,
                // on the index `job_requests_one_open`, and the next round finds that request.
                for _ in 0..3 {
                    let mut tx = self.begin_write().await?;
                    let open: Option<i64> = sqlx::query_scalar(q::OPEN_REQUEST)
                        .bind(job)
                        .fetch_optional(&mut *tx)
                        .await?;
                    if let Some(id) = open {
                        return Ok((id, false));
                    }
                    let inserted: Option<i64> = sqlx::query_scalar(q::INSERT_REQUEST)
                        .bind(job)
                        .bind(by)
                        .bind(at.timestamp_millis())
                        .fetch_optional(&mut *tx)
                        .await?;
                    let Some(id) = inserted else {
                        continue;
                    };
                    let mut meta = match &event.metadata {
                        serde_json::Value::Object(m) => m.clone(),
                        _ => serde_json::Map::new(),
                    };
                    meta.insert("job".into(), job.into());
                    meta.insert("request_id".into(), id.into());
                    Self::insert_event(&mut tx, event, &serde_json::Value::Object(meta)).await?;
                    tx.commit().await?;
                    return Ok((id, true));
                }
                // Each round found the open request gone (claimed by a daemon) and another in
                // its place: nothing was written, and asking again is safe.
                Err(crate::store::StoreError::Conflict(format!(
                    "run requests for {job} keep changing"
                )))
            }

            async fn pending_run_requests(
                &self,
                limit: u32,
            ) -> Result<Vec<crate::store::jobs::RunRequest>, crate::store::StoreError> {
                use $sql as q;
                let rows: Vec<crate::store::jobs::RunRequestRow> = sqlx::query_as(q::PENDING_REQUESTS)
                    .bind(i64::from(limit.clamp(1, 1000)))
                    .fetch_all(&self.pool)
                    .await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn claim_run_request(
                &self,
                id: i64,
                holder: &str,
                at: chrono::DateTime<chrono::Utc>,
            ) -> Result<bool, crate::store::StoreError> {
                use $sql as q;
                let _gate = self.write_gate().await;
                let n = sqlx::query(q::CLAIM_REQUEST)
                    .bind(holder)
                    .bind(at.timestamp_millis())
                    .bind(id)
                    .execute(&self.write_pool)
                    .await?
                    .rows_affected();
                Ok(n == 1)
            }

            async fn release_run_request(&self, id: i64, holder: &str) -> Result<(), crate::store::StoreError> {
                use $sql as q;
                let _gate = self.write_gate().await;
                sqlx::query(q::RELEASE_REQUEST)
                    .bind(id)
                    .bind(holder)
                    .execute(&self.write_pool)
                    .await?;
                Ok(())
            }

            async fn finish_run_request(
                &self,
                id: i64,
                run_id: Option<i64>,
                at: chrono::DateTime<chrono::Utc>,
            ) -> Result<(), crate::store::StoreError> {
                use $sql as q;
                let _gate = self.write_gate().await;
                sqlx::query(q::FINISH_REQUEST)
                    .bind(at.timestamp_millis())
                    .bind(run_id)
                    .bind(id)
                    .execute(&self.write_pool)
                    .await?;
                Ok(())
            }

            async fn run_requests(
                &self,
                job: &str,
                limit: u32,
            ) -> Result<Vec<crate::store::jobs::RunRequest>, crate::store::StoreError> {
                use $sql as q;
                let rows: Vec<crate::store::jobs::RunRequestRow> = sqlx::query_as(q::LIST_REQUESTS)
                    .bind(job)
                    .bind(i64::from(limit.clamp(1, 1000)))
                    .fetch_all(&self.pool)
                    .await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn latest_run_requests(
                &self,
            ) -> Result<Vec<crate::store::jobs::RunRequest>, crate::store::StoreError> {
                use $sql as q;
                let rows: Vec<crate::store::jobs::RunRequestRow> =
                    sqlx::query_as(q::LATEST_REQUESTS).fetch_all(&self.pool).await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }
        }
    };
}

job_store_impl!(crate::store::SqliteStore, sqlite_sql);
job_store_impl!(crate::store::PgStore, pg_sql);

mod sqlite_sql {
    pub const ACQUIRE_LEASE: &str = "INSERT INTO job_leases (job, holder, expires_at) VALUES (?1, ?2, ?3) \
        ON CONFLICT (job) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at \
        WHERE job_leases.expires_at <= ?4";
    pub const RENEW_LEASE: &str = "UPDATE job_leases SET expires_at = ?1 WHERE job = ?2 AND holder = ?3";
    pub const RELEASE_LEASE: &str = "DELETE FROM job_leases WHERE job = ?1 AND holder = ?2";
    pub const CLAIM_TICK: &str = "INSERT INTO job_ticks (job, tick, holder, claimed_at, schedule) \
        VALUES (?1, ?2, ?3, ?4, ?5) \
        ON CONFLICT (job) DO UPDATE SET tick = excluded.tick, holder = excluded.holder, \
        claimed_at = excluded.claimed_at, schedule = excluded.schedule \
        WHERE job_ticks.tick < excluded.tick";
    pub const CLAIMED_TICKS: &str = "SELECT job, tick, schedule FROM job_ticks ORDER BY job";
    pub const LAST_SUCCESS: &str = "SELECT finished_at FROM job_runs \
        WHERE job = ?1 AND status = 'succeeded' ORDER BY started_at DESC LIMIT 1";
    pub const START_RUN: &str = "INSERT INTO job_runs (job, holder, started_at, status, scheduled_for) \
        VALUES (?1, ?2, ?3, 'running', ?4) RETURNING id";
    pub const FINISH_RUN: &str = "UPDATE job_runs SET finished_at = ?1, status = ?2, counts = ?3, error = ?4 \
        WHERE id = ?5";
    pub const LIST_RUNS: &str = "SELECT id, job, holder, started_at, finished_at, status, counts, error, scheduled_for \
        FROM job_runs WHERE (?1 IS NULL OR job = ?1) ORDER BY started_at DESC, id DESC LIMIT ?2";
    pub const OPEN_REQUEST: &str = "SELECT id FROM job_requests WHERE job = ?1 AND claimed_at IS NULL \
        ORDER BY id LIMIT 1";
    pub const INSERT_REQUEST: &str = "INSERT INTO job_requests (job, requested_by, requested_at) \
        VALUES (?1, ?2, ?3) ON CONFLICT (job) WHERE claimed_at IS NULL DO NOTHING RETURNING id";
    pub const PENDING_REQUESTS: &str = "SELECT id, job, requested_by, requested_at, claimed_by, claimed_at, \
        finished_at, run_id FROM job_requests WHERE claimed_at IS NULL ORDER BY id LIMIT ?1";
    pub const CLAIM_REQUEST: &str = "UPDATE job_requests SET claimed_by = ?1, claimed_at = ?2 \
        WHERE id = ?3 AND claimed_at IS NULL";
    pub const RELEASE_REQUEST: &str = "UPDATE job_requests SET claimed_by = NULL, claimed_at = NULL \
        WHERE id = ?1 AND claimed_by = ?2 AND finished_at IS NULL";
    pub const FINISH_REQUEST: &str = "UPDATE job_requests SET finished_at = ?1, run_id = ?2 WHERE id = ?3";
    pub const LIST_REQUESTS: &str = "SELECT id, job, requested_by, requested_at, claimed_by, claimed_at, \
        finished_at, run_id FROM job_requests WHERE job = ?1 ORDER BY id DESC LIMIT ?2";
    pub const LATEST_REQUESTS: &str = "SELECT id, job, requested_by, requested_at, claimed_by, claimed_at, \
        finished_at, run_id FROM job_requests \
        WHERE id IN (SELECT max(id) FROM job_requests GROUP BY job) ORDER BY job";
}

mod pg_sql {
    pub const ACQUIRE_LEASE: &str = "INSERT INTO job_leases (job, holder, expires_at) VALUES ($1, $2, $3) \
        ON CONFLICT (job) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at \
        WHERE job_leases.expires_at <= $4";
    pub const RENEW_LEASE: &str = "UPDATE job_leases SET expires_at = $1 WHERE job = $2 AND holder = $3";
    pub const RELEASE_LEASE: &str = "DELETE FROM job_leases WHERE job = $1 AND holder = $2";
    pub const CLAIM_TICK: &str = "INSERT INTO job_ticks (job, tick, holder, claimed_at, schedule) \
        VALUES ($1, $2, $3, $4, $5) \
        ON CONFLICT (job) DO UPDATE SET tick = excluded.tick, holder = excluded.holder, \
        claimed_at = excluded.claimed_at, schedule = excluded.schedule \
        WHERE job_ticks.tick < excluded.tick";
    pub const CLAIMED_TICKS: &str = "SELECT job, tick, schedule FROM job_ticks ORDER BY job";
    pub const LAST_SUCCESS: &str = "SELECT finished_at FROM job_runs \
        WHERE job = $1 AND status = 'succeeded' ORDER BY started_at DESC LIMIT 1";
    pub const START_RUN: &str = "INSERT INTO job_runs (job, holder, started_at, status, scheduled_for) \
        VALUES ($1, $2, $3, 'running', $4) RETURNING id";
    pub const FINISH_RUN: &str = "UPDATE job_runs SET finished_at = $1, status = $2, counts = $3, error = $4 \
        WHERE id = $5";
    pub const LIST_RUNS: &str = "SELECT id, job, holder, started_at, finished_at, status, counts, error, scheduled_for \
        FROM job_runs WHERE ($1::text IS NULL OR job = $1) ORDER BY started_at DESC, id DESC LIMIT $2";
    pub const OPEN_REQUEST: &str = "SELECT id FROM job_requests WHERE job = $1 AND claimed_at IS NULL \
        ORDER BY id LIMIT 1 FOR UPDATE";
    pub const INSERT_REQUEST: &str = "INSERT INTO job_requests (job, requested_by, requested_at) \
        VALUES ($1, $2, $3) ON CONFLICT (job) WHERE claimed_at IS NULL DO NOTHING RETURNING id";
    pub const PENDING_REQUESTS: &str = "SELECT id, job, requested_by, requested_at, claimed_by, claimed_at, \
        finished_at, run_id FROM job_requests WHERE claimed_at IS NULL ORDER BY id LIMIT $1";
    pub const CLAIM_REQUEST: &str = "UPDATE job_requests SET claimed_by = $1, claimed_at = $2 \
        WHERE id = $3 AND claimed_at IS NULL";
    pub const RELEASE_REQUEST: &str = "UPDATE job_requests SET claimed_by = NULL, claimed_at = NULL \
        WHERE id = $1 AND claimed_by = $2 AND finished_at IS NULL";
    pub const FINISH_REQUEST: &str = "UPDATE job_requests SET finished_at = $1, run_id = $2 WHERE id = $3";
    pub const LIST_REQUESTS: &str = "SELECT id, job, requested_by, requested_at, claimed_by, claimed_at, \
        finished_at, run_id FROM job_requests WHERE job = $1 ORDER BY id DESC LIMIT $2";
    pub const LATEST_REQUESTS: &str = "SELECT id, job, requested_by, requested_at, claimed_by, claimed_at, \
        finished_at, run_id FROM job_requests \
        WHERE id IN (SELECT max(id) FROM job_requests GROUP BY job) ORDER BY job";
}
