-- Sessions (the original system's 0001_create_user_sessions). Timestamps are Unix epoch
-- milliseconds (UTC) in both databases, so one Rust code path serves both.
CREATE TABLE user_sessions (
    id            BLOB    NOT NULL PRIMARY KEY,          -- UUID v4, 16 bytes
    status        TEXT    NOT NULL CHECK (status IN ('active', 'revoked', 'expired')),
    created_at    INTEGER NOT NULL,
    last_seen_at  INTEGER NOT NULL,
    ended_at      INTEGER,
    ended_by      TEXT,                                  -- client | admin:<name> | system
    user_info     TEXT,                                  -- JSON object given at creation
    created_ip    TEXT,
    last_ip       TEXT
);

-- Expiry scan: active sessions by idle time, and by age.
CREATE INDEX user_sessions_status_last_seen ON user_sessions (status, last_seen_at);
CREATE INDEX user_sessions_status_created ON user_sessions (status, created_at);
