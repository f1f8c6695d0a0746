-- The id of the last event linked. On PostgreSQL linked events take their ids from here
-- (`last_id + 1`, …) instead of the identity sequence, so a batch knows its ids, and can
-- compute its link, before its one statement (core/src/store/postgres.rs, commit_chained).
ALTER TABLE audit_chain_head ADD COLUMN last_id BIGINT NOT NULL DEFAULT 0;
UPDATE audit_chain_head SET last_id = (SELECT coalesce(max(id), 0) FROM audit_events) WHERE id = 1;
