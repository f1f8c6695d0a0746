-- The audit trail. AUTOINCREMENT keeps ids monotonic (never reused), so `id` is the cursor
-- of live tails.
CREATE TABLE audit_events (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    occurred_at  INTEGER NOT NULL,
    event_type   TEXT    NOT NULL,
    severity     TEXT    NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    session_id   BLOB,
    ip           TEXT,
    user_agent   TEXT,
    request_id   TEXT,
    actor        TEXT    NOT NULL,
    metadata     TEXT    NOT NULL DEFAULT '{}'
);

CREATE INDEX audit_events_session ON audit_events (session_id, id) WHERE session_id IS NOT NULL;
CREATE INDEX audit_events_ip_time ON audit_events (ip, occurred_at);
CREATE INDEX audit_events_time ON audit_events (occurred_at);
