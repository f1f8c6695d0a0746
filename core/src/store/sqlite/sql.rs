//! The SQLite statements of the shared store code (`shared_impl!`) and of the batch
//! connection. A leaf: plain constants.

pub const PROBE_WRITE: &str =
    "INSERT INTO write_probe (id, at) VALUES (1, ?1) ON CONFLICT (id) DO UPDATE SET at = excluded.at";
pub const INSERT_EVENT: &str = "INSERT INTO audit_events \
    (occurred_at, event_type, severity, session_id, ip, user_agent, request_id, actor, metadata) \
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)";
// The writer's statements, one row each (cached on the batch connection).
pub const INSERT_SESSION: &str = "INSERT INTO user_sessions \
    (id, status, created_at, last_seen_at, user_info, created_ip, last_ip) \
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (id) DO NOTHING";
pub const TOUCH_SESSION: &str = "UPDATE user_sessions \
    SET last_seen_at = max(last_seen_at, ?2), last_ip = coalesce(?3, last_ip) WHERE id = ?1";
pub const SESSION_STATUS: &str = "SELECT status FROM user_sessions WHERE id = ?";
pub const REVOKE_SESSION: &str = "UPDATE user_sessions \
    SET status = 'revoked', ended_at = ?, ended_by = ? WHERE id = ?";
pub const GET_SESSION: &str = "SELECT id, status, created_at, last_seen_at, ended_at, ended_by, \
    user_info, created_ip, last_ip FROM user_sessions WHERE id = ?";
pub const UPLOAD_TOTALS: &str = "SELECT count(*), coalesce(sum(size), 0) FROM uploads WHERE session_id = ?";
pub const COUNT_SESSIONS: &str = "SELECT status, count(*) FROM user_sessions GROUP BY status";
