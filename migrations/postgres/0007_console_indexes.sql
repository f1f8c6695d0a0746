-- Indexes for the console (sessionctl): keyset pagination over sessions in every sort order
-- the Sessions tab offers, and the IP filter. The two status indexes of 0001 are replaced by
-- supersets that end in `id` (the keyset tie-breaker); the expiry scan uses them the same way.
DROP INDEX user_sessions_status_last_seen;
DROP INDEX user_sessions_status_created;
CREATE INDEX user_sessions_status_last_seen_id ON user_sessions (status, last_seen_at, id);
CREATE INDEX user_sessions_status_created_id ON user_sessions (status, created_at, id);
CREATE INDEX user_sessions_created_id ON user_sessions (created_at, id);
CREATE INDEX user_sessions_last_seen_id ON user_sessions (last_seen_at, id);
CREATE INDEX user_sessions_last_ip ON user_sessions (last_ip, created_at, id);
