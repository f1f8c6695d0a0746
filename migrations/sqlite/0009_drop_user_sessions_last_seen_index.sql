-- One index on `last_seen_at`, not two. A validation that refreshes a session moves it in every
-- index on `last_seen_at`; the console's last-seen sort over all statuses now merges the
-- newest (or oldest) page of each status from `user_sessions_status_last_seen_id`
-- (`store/console.rs`, `page_sql_each_status!`), so `(last_seen_at, id)` has no reader left.
DROP INDEX user_sessions_last_seen_id;
