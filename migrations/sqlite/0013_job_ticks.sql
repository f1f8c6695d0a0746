-- One run per scheduled tick (SPEC §6): the last tick each job was claimed for. A daemon
-- claims a tick with one upsert that only moves `tick` forward, so among any number of
-- daemons exactly one wins each tick; the loser (or a late daemon) skips it.
CREATE TABLE job_ticks (
    job         TEXT    NOT NULL PRIMARY KEY,
    tick        INTEGER NOT NULL,   -- scheduled time (Unix ms) of the last claimed tick
    holder      TEXT    NOT NULL,   -- instance id of the daemon that claimed it
    claimed_at  INTEGER NOT NULL,
    schedule    TEXT    NOT NULL    -- the cron expression that daemon runs the job on
);

-- The tick a scheduled run was for (NULL for `sessiond run-job`).
ALTER TABLE job_runs ADD COLUMN scheduled_for INTEGER;
