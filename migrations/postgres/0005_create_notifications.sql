-- The email outbox (SPEC §5): rows wait here until the notification_sender job delivers them;
-- failures are retried with backoff, nothing is lost while SMTP is down.
CREATE TABLE notifications (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind             TEXT    NOT NULL CHECK (kind IN ('alert', 'digest')),
    alert_id         BIGINT,                        -- for kind = 'alert'
    recipients       TEXT    NOT NULL,             -- comma-separated addresses
    subject_line     TEXT    NOT NULL,
    body             TEXT    NOT NULL,             -- plain text
    status           TEXT    NOT NULL CHECK (status IN ('pending', 'sent', 'failed')),
    attempts         BIGINT  NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT  NOT NULL,
    last_error       TEXT,
    created_at       BIGINT  NOT NULL,
    sent_at          BIGINT
);

CREATE INDEX notifications_status_next ON notifications (status, next_attempt_at);
CREATE INDEX notifications_created ON notifications (created_at);
