-- Tamper evidence for the audit trail (docs/audit.md). One link per transaction that wrote
-- audit events: a keyed MAC over the previous link's MAC and the events it covers, in id order.
-- `seq` is the chain's order; `tags` holds, per event, the id delta and one byte per field so
-- that `sessionctl audit verify` can name what changed.
CREATE TABLE audit_chain (
    seq             BIGINT PRIMARY KEY,
    first_id        BIGINT  NOT NULL,
    last_id         BIGINT  NOT NULL,
    event_count     BIGINT  NOT NULL,
    max_occurred_at BIGINT  NOT NULL,
    key_id          TEXT    NOT NULL,
    key_check       BYTEA   NOT NULL,
    prev_mac        BYTEA   NOT NULL,
    mac             BYTEA   NOT NULL,
    tags            BYTEA   NOT NULL,
    created_at      BIGINT  NOT NULL
);

-- The chain's head, locked (PostgreSQL) or read under the write lock (SQLite) by every
-- transaction that links events, so the chain stays one order across writers.
CREATE TABLE audit_chain_head (
    id  SMALLINT PRIMARY KEY CHECK (id = 1),
    seq BIGINT  NOT NULL,
    mac BYTEA   NOT NULL
);
INSERT INTO audit_chain_head (id, seq, mac) VALUES (1, 0, decode(repeat('00', 32), 'hex'));

-- Where retention cut the chain: links up to `seq` and events up to `through_id` were
-- deleted; the next link's `prev_mac` is `resume_mac`. Signed with the key.
CREATE TABLE audit_chain_checkpoint (
    id          SMALLINT PRIMARY KEY CHECK (id = 1),
    seq         BIGINT  NOT NULL,
    through_id  BIGINT  NOT NULL,
    resume_mac  BYTEA   NOT NULL,
    key_id      TEXT    NOT NULL,
    mac         BYTEA   NOT NULL,
    created_at  BIGINT  NOT NULL
);

-- Legitimate pseudonymization (IP anonymization, `sessions purge`): the keyed digest of the
-- original value(s) of a field group, and a MAC binding it to the value now stored.
CREATE TABLE audit_redactions (
    event_id    BIGINT  NOT NULL,
    field       TEXT    NOT NULL CHECK (field IN ('ip', 'su')),
    digest      BYTEA   NOT NULL,
    key_id      TEXT    NOT NULL,
    mac         BYTEA   NOT NULL,
    PRIMARY KEY (event_id, field)
);

-- Webhook outbox (SPEC §5, docs/audit.md): one row per (endpoint, event), delivered by the
-- notification_sender job with backoff; `dead` after `max_attempts` failures.
CREATE TABLE webhook_deliveries (
    id               BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    endpoint         TEXT    NOT NULL,
    event_id         BIGINT  NOT NULL,
    payload          TEXT    NOT NULL,
    status           TEXT    NOT NULL CHECK (status IN ('pending', 'sent', 'dead')),
    attempts         BIGINT  NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT  NOT NULL,
    last_error       TEXT,
    created_at       BIGINT  NOT NULL,
    sent_at          BIGINT,
    UNIQUE (endpoint, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);

-- How far each endpoint has been fed from the audit trail.
CREATE TABLE webhook_cursors (
    endpoint       TEXT    PRIMARY KEY,
    last_event_id  BIGINT  NOT NULL
);
