-- At most one open (unclaimed) request per job (see the PostgreSQL migration of the same name:
-- there two consoles could race; SQLite serializes writers, but the schemas say the same).
UPDATE job_requests
SET claimed_by = 'merged', claimed_at = requested_at, finished_at = requested_at
WHERE claimed_at IS NULL
  AND EXISTS (SELECT 1 FROM job_requests AS o
              WHERE o.job = job_requests.job AND o.claimed_at IS NULL AND o.id < job_requests.id);

CREATE UNIQUE INDEX job_requests_one_open ON job_requests (job) WHERE claimed_at IS NULL;
