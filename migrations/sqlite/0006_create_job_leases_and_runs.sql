-- Scheduled jobs (SPEC §6): a lease per job so exactly one daemon runs it at a time, and a
-- record of every run for the console.
CREATE TABLE job_leases (
    job         TEXT   NOT NULL PRIMARY KEY,
    holder      TEXT   NOT NULL,                   -- instance id of the daemon holding it
    expires_at  INTEGER NOT NULL
);

CREATE TABLE job_runs (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    job          TEXT   NOT NULL,
    holder       TEXT   NOT NULL,
    started_at   INTEGER NOT NULL,
    finished_at  INTEGER,
    status       TEXT   NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
    counts       TEXT NOT NULL DEFAULT '{}',   -- JSON object, e.g. {"expired": 3}
    error        TEXT
);

CREATE INDEX job_runs_job_started ON job_runs (job, started_at);
