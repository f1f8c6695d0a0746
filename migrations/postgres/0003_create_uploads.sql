-- PDF uploads stored under a session. The object lives at `object_key` in the object store;
-- the row is committed only after the object is stored.
CREATE TABLE uploads (
    id            UUID    NOT NULL PRIMARY KEY,          -- UUID v4 chosen by the server
    session_id    UUID    NOT NULL REFERENCES user_sessions (id) ON DELETE CASCADE,
    object_key    TEXT    NOT NULL UNIQUE,
    filename      TEXT    NOT NULL,
    size          BIGINT  NOT NULL,
    sha256        TEXT    NOT NULL,
    content_type  TEXT    NOT NULL,
    created_at    BIGINT  NOT NULL
);

CREATE INDEX uploads_session ON uploads (session_id, created_at);
