-- At most one open (unclaimed) request per job. `request_run` looked for an open request before
-- adding one, but two consoles pressing "run now" at once on PostgreSQL could both find none
-- and both insert, and the job then ran twice. The insert now does nothing on this index and
-- the console is given the open request instead.
-- Requests already duplicated: the newer ones are closed as merged into the oldest (claimed
-- and finished by no daemon, no run), so the index can be built.
UPDATE job_requests AS r
SET claimed_by = 'merged', claimed_at = r.requested_at, finished_at = r.requested_at
WHERE r.claimed_at IS NULL
  AND EXISTS (SELECT 1 FROM job_requests AS o WHERE o.job = r.job AND o.claimed_at IS NULL AND o.id < r.id);

CREATE UNIQUE INDEX job_requests_one_open ON job_requests (job) WHERE claimed_at IS NULL;
