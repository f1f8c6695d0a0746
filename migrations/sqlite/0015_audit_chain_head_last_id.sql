-- The id of the last event linked (PostgreSQL draws linked events' ids from it; SQLite keeps
-- it for the same schema and lets the table pick ids).
ALTER TABLE audit_chain_head ADD COLUMN last_id INTEGER NOT NULL DEFAULT 0;
UPDATE audit_chain_head SET last_id = (SELECT coalesce(max(id), 0) FROM audit_events) WHERE id = 1;
