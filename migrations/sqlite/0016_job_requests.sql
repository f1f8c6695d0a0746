-- Runs requested from the console ("run now" in sessionctl's Jobs tab). The console cannot run
-- a job itself (it has neither the object store nor the mailer): it adds a row here, and a
-- daemon with jobs enabled claims it (one conditional update, so exactly one daemon wins),
-- runs the job under its lease like `sessiond run-job`, and records the run on the row.
CREATE TABLE job_requests (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    job           TEXT    NOT NULL,
    requested_by  TEXT    NOT NULL,   -- admin:<os user>
    requested_at  INTEGER NOT NULL,
    claimed_by    TEXT,               -- instance id of the daemon running it
    claimed_at    INTEGER,
    finished_at   INTEGER,
    run_id        INTEGER             -- its job_runs row (NULL: the job was unknown to the daemon)
);

-- The requests no daemon has claimed yet (each daemon polls for them).
CREATE INDEX job_requests_pending ON job_requests (id) WHERE claimed_at IS NULL;
-- A job's latest requests (the console).
CREATE INDEX job_requests_job ON job_requests (job, id);
