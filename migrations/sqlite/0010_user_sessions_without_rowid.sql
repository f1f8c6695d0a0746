-- `user_sessions` as a WITHOUT ROWID table: the rows live in the primary key's B-tree, so a
-- validation finds its session in one descent (was two: `sqlite_autoindex_user_sessions_1` by
-- id, then the table by rowid) and a refresh rewrites one B-tree page fewer. The secondary
-- indexes already end in `id`, which is now the key they point with (no rowid beside it).
-- Measured in docs/PERFORMANCE.md ("Sixth pass").
--
-- SQLite cannot change a table's kind in place: the table is rebuilt. The rebuild stays inside
-- the migration's transaction with foreign keys on, so `uploads` (the one table referencing
-- `user_sessions`, ON DELETE CASCADE) is moved aside first: dropping the old table then has no
-- child rows to cascade to, and `uploads` is recreated, exactly as before (rowids kept: its
-- list is ordered by them), against the new table.

CREATE TABLE user_sessions_new (
    id            BLOB    NOT NULL PRIMARY KEY,          -- UUID v4, 16 bytes
    status        TEXT    NOT NULL CHECK (status IN ('active', 'revoked', 'expired')),
    created_at    INTEGER NOT NULL,
    last_seen_at  INTEGER NOT NULL,
    ended_at      INTEGER,
    ended_by      TEXT,                                  -- client | admin:<name> | system
    user_info     TEXT,                                  -- JSON object given at creation
    created_ip    TEXT,
    last_ip       TEXT
) WITHOUT ROWID;

INSERT INTO user_sessions_new (id, status, created_at, last_seen_at, ended_at, ended_by, user_info, created_ip, last_ip)
SELECT id, status, created_at, last_seen_at, ended_at, ended_by, user_info, created_ip, last_ip
FROM user_sessions ORDER BY id;

CREATE TABLE uploads_moving AS SELECT rowid AS moved_rowid, * FROM uploads;
DROP TABLE uploads;
DROP TABLE user_sessions;
ALTER TABLE user_sessions_new RENAME TO user_sessions;

CREATE INDEX user_sessions_status_last_seen_id ON user_sessions (status, last_seen_at, id);
CREATE INDEX user_sessions_status_created_id ON user_sessions (status, created_at, id);
CREATE INDEX user_sessions_created_id ON user_sessions (created_at, id);
CREATE INDEX user_sessions_last_ip ON user_sessions (last_ip, created_at, id);

CREATE TABLE uploads (
    id            BLOB    NOT NULL PRIMARY KEY,          -- UUID v4 chosen by the server
    session_id    BLOB    NOT NULL REFERENCES user_sessions (id) ON DELETE CASCADE,
    object_key    TEXT    NOT NULL UNIQUE,
    filename      TEXT    NOT NULL,
    size          INTEGER NOT NULL,
    sha256        TEXT    NOT NULL,
    content_type  TEXT    NOT NULL,
    created_at    INTEGER NOT NULL
);
INSERT INTO uploads (rowid, id, session_id, object_key, filename, size, sha256, content_type, created_at)
SELECT moved_rowid, id, session_id, object_key, filename, size, sha256, content_type, created_at
FROM uploads_moving ORDER BY moved_rowid;
DROP TABLE uploads_moving;
CREATE INDEX uploads_session ON uploads (session_id, created_at);
