-- Objects that must go (issue 16, points 4-5): written in the same transaction as the change
-- that makes them garbage (a session revoked or expired or purged with uploads, an upload row
-- deleted, an upload refused after its object was stored), and removed by the
-- `object_deletion` job once the objects are gone. A failure of the object store at any point
-- leaves the record, and the job retries it with backoff.
CREATE TABLE pending_object_deletions (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    target           TEXT    NOT NULL,   -- an object key, or a prefix ending in '/' (a session)
    reason           TEXT    NOT NULL,   -- session_reset, session_expired, session_purged,
                                         -- upload_deleted, upload_abandoned
    created_at       BIGINT  NOT NULL,   -- Unix ms
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT  NOT NULL,   -- Unix ms; due when <= now
    last_error       TEXT
);

CREATE INDEX pending_object_deletions_due ON pending_object_deletions (next_attempt_at);
