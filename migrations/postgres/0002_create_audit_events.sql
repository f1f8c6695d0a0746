-- The audit trail; `id` is the cursor of live tails.
CREATE TABLE audit_events (
    id           BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    occurred_at  BIGINT  NOT NULL,
    event_type   TEXT    NOT NULL,
    severity     TEXT    NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    session_id   UUID,
    ip           TEXT,
    user_agent   TEXT,
    request_id   TEXT,
    actor        TEXT    NOT NULL,
    metadata     JSONB   NOT NULL DEFAULT '{}'
);

CREATE INDEX audit_events_session ON audit_events (session_id, id) WHERE session_id IS NOT NULL;
CREATE INDEX audit_events_ip_time ON audit_events (ip, occurred_at);
CREATE INDEX audit_events_time ON audit_events (occurred_at);
