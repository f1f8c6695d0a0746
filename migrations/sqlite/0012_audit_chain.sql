-- Tamper evidence for the audit trail (docs/audit.md). One link per transaction that wrote
-- audit events: a keyed MAC over the previous link's MAC and the events it covers, in id order.
-- `seq` is the chain's order; `tags` holds, per event, the id delta and one byte per field so
-- that `sessionctl audit verify` can name what changed.
CREATE TABLE audit_chain (
    seq             INTEGER PRIMARY KEY,
    first_id        INTEGER NOT NULL,
    last_id         INTEGER NOT NULL,
    event_count     INTEGER NOT NULL,
    max_occurred_at INTEGER NOT NULL,
    key_id          TEXT    NOT NULL,
    key_check       BLOB    NOT NULL,
    prev_mac        BLOB    NOT NULL,
    mac             BLOB    NOT NULL,
    tags            BLOB    NOT NULL,
    created_at      INTEGER NOT NULL
);

-- The chain's head, locked (PostgreSQL) or read under the write lock (SQLite) by every
-- transaction that links events, so the chain stays one order across writers.
CREATE TABLE audit_chain_head (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL,
    mac BLOB    NOT NULL
);
INSERT INTO audit_chain_head (id, seq, mac) VALUES (1, 0, zeroblob(32));

-- Where retention cut the chain: links up to `seq` and events up to `through_id` were
-- deleted; the next link's `prev_mac` is `resume_mac`. Signed with the key.
CREATE TABLE audit_chain_checkpoint (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    seq         INTEGER NOT NULL,
    through_id  INTEGER NOT NULL,
    resume_mac  BLOB    NOT NULL,
    key_id      TEXT    NOT NULL,
    mac         BLOB    NOT NULL,
    created_at  INTEGER NOT NULL
);

-- Legitimate pseudonymization (IP anonymization, `sessions purge`): the keyed digest of the
-- original value(s) of a field group, and a MAC binding it to the value now stored.
CREATE TABLE audit_redactions (
    event_id    INTEGER NOT NULL,
    field       TEXT    NOT NULL CHECK (field IN ('ip', 'su')),
    digest      BLOB    NOT NULL,
    key_id      TEXT    NOT NULL,
    mac         BLOB    NOT NULL,
    PRIMARY KEY (event_id, field)
) WITHOUT ROWID;

-- Webhook outbox (SPEC §5, docs/audit.md): one row per (endpoint, event), delivered by the
-- notification_sender job with backoff; `dead` after `max_attempts` failures.
CREATE TABLE webhook_deliveries (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    endpoint         TEXT    NOT NULL,
    event_id         INTEGER NOT NULL,
    payload          TEXT    NOT NULL,
    status           TEXT    NOT NULL CHECK (status IN ('pending', 'sent', 'dead')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER NOT NULL,
    last_error       TEXT,
    created_at       INTEGER NOT NULL,
    sent_at          INTEGER,
    UNIQUE (endpoint, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);

-- How far each endpoint has been fed from the audit trail.
CREATE TABLE webhook_cursors (
    endpoint       TEXT    PRIMARY KEY,
    last_event_id  INTEGER NOT NULL
);
