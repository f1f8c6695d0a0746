-- The email outbox (SPEC §5): rows wait here until the notification_sender job delivers them;
-- failures are retried with backoff, nothing is lost while SMTP is down.
CREATE TABLE notifications (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    kind             TEXT    NOT NULL CHECK (kind IN ('alert', 'digest')),
    alert_id         INTEGER,                        -- for kind = 'alert'
    recipients       TEXT    NOT NULL,             -- comma-separated addresses
    subject_line     TEXT    NOT NULL,
    body             TEXT    NOT NULL,             -- plain text
    status           TEXT    NOT NULL CHECK (status IN ('pending', 'sent', 'failed')),
    attempts         INTEGER  NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER  NOT NULL,
    last_error       TEXT,
    created_at       INTEGER  NOT NULL,
    sent_at          INTEGER
);

CREATE INDEX notifications_status_next ON notifications (status, next_attempt_at);
CREATE INDEX notifications_created ON notifications (created_at);
