-- Audit events by session, without a random index write per event (SQLite only; PostgreSQL
-- keeps `audit_events_session`).
--
-- Session ids are random, so the `(session_id, id)` index of 0002 put every new event on a
-- random leaf page: one extra page written to the log per event, most of the writer's work under
-- load. Instead, the events are indexed by segment: the ids of segment `n` are
-- `[n << segment_bits, (n + 1) << segment_bits)`. Once a segment is complete (the id sequence
-- has passed its end) the daemon's writer copies its `(session_id, id)` pairs here sorted by
-- session, a few hundred per batch (`store/sqlite_audit_index.rs`). The key starts with the
-- segment, so these inserts append at the end of the tree instead of landing on random pages.
--
-- A session's events are then: a look-up of `(segment, session_id)` in every segment below
-- `sealed`, plus a scan of the events from `sealed << segment_bits` on (at most a segment or two
-- of rows, by id range). `store/sqlite_audit_index.rs` (`session_event_ids!`) writes that query once.
DROP INDEX audit_events_session;

CREATE TABLE audit_session_index (
    segment     INTEGER NOT NULL,
    session_id  BLOB    NOT NULL,
    event_id    INTEGER NOT NULL,
    PRIMARY KEY (segment, session_id, event_id)
) WITHOUT ROWID;

-- One row: the segment size, and the first segment not (fully) indexed yet.
CREATE TABLE audit_session_index_state (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    segment_bits  INTEGER NOT NULL CHECK (segment_bits BETWEEN 1 AND 40),
    sealed        INTEGER NOT NULL
);

-- Segments of 32 768 events. Everything already complete is indexed now.
INSERT INTO audit_session_index_state (id, segment_bits, sealed)
VALUES (1, 15, (coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'audit_events'), 0) + 1) >> 15);

INSERT INTO audit_session_index (segment, session_id, event_id)
SELECT id >> 15, session_id, id FROM audit_events
WHERE session_id IS NOT NULL AND id < (SELECT sealed << 15 FROM audit_session_index_state)
ORDER BY id >> 15, session_id, id;
