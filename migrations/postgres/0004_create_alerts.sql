-- Alerts raised by the alert_detection job (SPEC §5): one row per (rule, subject) while it is
-- not resolved; a repeat raises count and last_seen_at. Times are Unix milliseconds.
CREATE TABLE alerts (
    id                BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    rule              TEXT    NOT NULL,             -- uuid_probing, rate_limit_abuse, ...
    subject           TEXT    NOT NULL,             -- IP key, dependency name, or '*'
    severity          TEXT    NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    status            TEXT    NOT NULL CHECK (status IN ('open', 'acknowledged', 'resolved')),
    count             BIGINT  NOT NULL,
    first_seen_at     BIGINT  NOT NULL,
    last_seen_at      BIGINT  NOT NULL,
    acknowledged_at   BIGINT,
    acknowledged_by   TEXT,                         -- admin:<name>
    resolved_at       BIGINT,
    last_emailed_at   BIGINT,
    sample_event_ids  JSONB NOT NULL DEFAULT '[]'      -- JSON array of audit event ids
);

-- At most one live alert per (rule, subject).
CREATE UNIQUE INDEX alerts_live_rule_subject ON alerts (rule, subject) WHERE status <> 'resolved';
CREATE INDEX alerts_status_last_seen ON alerts (status, last_seen_at);
