//! The session service: generate, validate, read and reset sessions, auditing every operation
//! and every refusal. Used by the daemon's API and by the console (administrator resets).

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

use crate::audit::{EventType, NewEvent, Origin, Severity};
use crate::domain::{Session, SessionStatus, Timeouts, now_millis};
use crate::id::{IdGenerator, RandomIds, parse_session_id};
use crate::storage::ObjectStore;
use crate::store::{OpOutcome, Refusal, Store, StoreError, UploadTotals, WriteOp};
use crate::writer::{BatchWriter, WriteError};

/// How often a colliding generated id is retried before giving up (SPEC §2.2).
pub const MAX_ID_ATTEMPTS: usize = 4;

/// Why a session operation was refused or failed, in domain words. The daemon maps each to
/// exactly one problem code.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SessionError {
    /// Not a canonical UUID v4.
    #[error("not a canonical UUID v4")]
    InvalidFormat,
    /// No such session.
    #[error("no such session")]
    NotFound,
    /// Reset by the client or an administrator.
    #[error("session revoked")]
    Revoked,
    /// Idle or too old.
    #[error("session expired")]
    Expired,
    /// The database is down or refused the write.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The object store is down (a reset could not delete the session's objects).
    #[error("object storage unavailable: {0}")]
    StorageUnavailable(String),
    /// A bug (or an id generator that only collides).
    #[error("internal error: {0}")]
    Internal(String),
    /// The database refused a value of this request (text it cannot store); the request's
    /// own data, so the client's fault, and nobody else's request failed with it.
    #[error("the database refused a value of this request: {0}")]
    Rejected(String),
}

impl From<StoreError> for SessionError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(m) | StoreError::Conflict(m) => SessionError::Unavailable(m),
            StoreError::Internal(m) => SessionError::Internal(m),
            StoreError::Rejected(m) => SessionError::Rejected(m),
        }
    }
}

impl From<WriteError> for SessionError {
    fn from(e: WriteError) -> Self {
        match e {
            WriteError::Store(s) => s.into(),
            WriteError::Closed => SessionError::Unavailable("shutting down".into()),
        }
    }
}

impl SessionError {
    /// The `reason` recorded on a `session.validation_failed` event.
    fn reason(&self) -> Option<&'static str> {
        match self {
            SessionError::InvalidFormat => Some("invalid_format"),
            SessionError::NotFound => Some(Refusal::NotFound.reason()),
            SessionError::Revoked => Some(Refusal::Revoked.reason()),
            SessionError::Expired => Some(Refusal::Expired.reason()),
            _ => None,
        }
    }
}

impl From<Refusal> for SessionError {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::NotFound => SessionError::NotFound,
            Refusal::Revoked => SessionError::Revoked,
            Refusal::Expired => SessionError::Expired,
        }
    }
}

/// A session as answered to a client: stored fields plus the status and expiry as of now.
#[derive(Debug, Clone)]
pub struct SessionView {
    /// The stored row (with `last_seen_at` refreshed after a validation).
    pub session: Session,
    /// Status as of the request.
    pub status: SessionStatus,
    /// The earlier of idle and absolute expiry.
    pub expires_at: DateTime<Utc>,
}

/// The operations a caller can ask for, named in audit metadata (`operation`).
#[derive(Debug, Clone, Copy)]
pub enum Operation {
    /// validate-uuid
    Validate,
    /// GET the session
    Read,
    /// DELETE the session
    Reset,
    /// POST an upload
    Upload,
    /// list, download or delete uploads
    Uploads,
}

impl Operation {
    fn as_str(self) -> &'static str {
        match self {
            Operation::Validate => "validate",
            Operation::Read => "read",
            Operation::Reset => "reset",
            Operation::Upload => "upload",
            Operation::Uploads => "uploads",
        }
    }
}

/// The session service.
#[derive(Clone)]
pub struct SessionService {
    store: Arc<dyn Store>,
    writer: BatchWriter,
    timeouts: Timeouts,
    ids: Arc<dyn IdGenerator>,
    objects: Option<Arc<dyn ObjectStore>>,
    touch_interval: chrono::Duration,
}

impl SessionService {
    /// A service over `store`, writing through `writer`, with ids from the OS CSPRNG.
    pub fn new(store: Arc<dyn Store>, writer: BatchWriter, timeouts: Timeouts) -> Self {
        Self::with_ids(store, writer, timeouts, Arc::new(RandomIds))
    }

    /// As [`SessionService::new`] with another id source (tests inject collisions).
    pub fn with_ids(store: Arc<dyn Store>, writer: BatchWriter, timeouts: Timeouts, ids: Arc<dyn IdGenerator>) -> Self {
        Self {
            store,
            writer,
            timeouts,
            ids,
            objects: None,
            touch_interval: chrono::Duration::zero(),
        }
    }

    /// Rewrite `last_seen_at` on a validation only when the stored value is at least
    /// `interval` old or the client's IP changed (`session.touch_interval`; zero, the default
    /// here, rewrites it every time). The audit event is written on every validation either way.
    pub fn with_touch_interval(mut self, interval: std::time::Duration) -> Self {
        self.touch_interval = chrono::Duration::from_std(interval).unwrap_or(chrono::Duration::MAX);
        self
    }

    /// Delete a session's objects through `objects` right after a reset. Without it (the
    /// default) a reset only queues them in `pending_object_deletions` (which it always does,
    /// in the revoking transaction) for the `object_deletion` job.
    pub fn with_objects(mut self, objects: Arc<dyn ObjectStore>) -> Self {
        self.objects = Some(objects);
        self
    }

    /// The store behind the service.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The writer behind the service.
    pub fn writer(&self) -> &BatchWriter {
        &self.writer
    }

    /// The timeouts in force.
    pub fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    fn view(&self, session: Session, now: DateTime<Utc>) -> SessionView {
        SessionView {
            status: session.effective_status(now, &self.timeouts),
            expires_at: session.expires_at(&self.timeouts),
            session,
        }
    }

    /// Create a session. A colliding id is retried with a fresh one; after
    /// [`MAX_ID_ATTEMPTS`] collisions the call fails as internal.
    pub async fn generate(
        &self,
        origin: &Origin,
        user_info: Option<serde_json::Value>,
    ) -> Result<SessionView, SessionError> {
        for _ in 0..MAX_ID_ATTEMPTS {
            let now = now_millis();
            let session = Session {
                id: self.ids.next_id(),
                status: SessionStatus::Active,
                created_at: now,
                last_seen_at: now,
                ended_at: None,
                ended_by: None,
                user_info: user_info.clone(),
                created_ip: origin.ip.clone(),
                last_ip: origin.ip.clone(),
            };
            let event = NewEvent::new(
                origin,
                now,
                EventType::SessionGenerated,
                Severity::Info,
                Some(session.id),
                json!({}),
            );
            let outcome = self
                .writer
                .submit(vec![WriteOp::CreateSession {
                    session: session.clone(),
                    event,
                }])
                .await?;
            match outcome.first() {
                Some(OpOutcome::Done) => return Ok(self.view(session, now)),
                Some(OpOutcome::Collision) => {
                    tracing::warn!(request_id = %origin.request_id, "generated session id collided; retrying");
                }
                other => return Err(SessionError::Internal(format!("unexpected create outcome {other:?}"))),
            }
        }
        Err(SessionError::Internal(format!(
            "session id collided {MAX_ID_ATTEMPTS} times"
        )))
    }

    /// Is `raw` a live session? Looked up, judged and audited in one group-commit batch; the
    /// stored `last_seen_at` is refreshed (sliding idle expiry) when it is at least the touch
    /// interval old or the client's IP changed, and the answer carries what is stored.
    pub async fn validate(&self, origin: &Origin, raw: &str) -> Result<SessionView, SessionError> {
        let now = now_millis();
        let Some(id) = parse_session_id(raw) else {
            return Err(self
                .refuse(origin, None, Operation::Validate, SessionError::InvalidFormat, now)
                .await);
        };
        let op = WriteOp::Validate {
            id,
            at: now,
            ip: origin.ip.clone(),
            timeouts: self.timeouts,
            touch_interval: self.touch_interval,
            event: NewEvent::new(
                origin,
                now,
                EventType::SessionValidated,
                Severity::Info,
                Some(id),
                json!({}),
            ),
        };
        match self.writer.submit(vec![op]).await?.pop() {
            Some(OpOutcome::Validated { session, .. }) => Ok(self.view(*session, now)),
            Some(OpOutcome::Refused(why)) => Err(why.into()),
            other => Err(SessionError::Internal(format!("unexpected validate outcome {other:?}"))),
        }
    }

    /// The session's view without touching `last_seen_at`; with its upload totals.
    pub async fn get(&self, origin: &Origin, raw: &str) -> Result<(SessionView, UploadTotals), SessionError> {
        let now = now_millis();
        let session = self.load_live(origin, raw, Operation::Read, now).await?;
        let totals = self.store.upload_totals(session.id).await?;
        let event = NewEvent::new(
            origin,
            now,
            EventType::SessionRead,
            Severity::Info,
            Some(session.id),
            json!({}),
        );
        self.writer.submit(vec![WriteOp::Event(event)]).await?;
        Ok((self.view(session, now), totals))
    }

    /// Revoke a session (client reset or administrator reset, by `origin.actor`). Idempotent:
    /// an already revoked or expired session is answered as success. Returns the status the
    /// session had before.
    pub async fn reset(&self, origin: &Origin, raw: &str) -> Result<SessionStatus, SessionError> {
        let now = now_millis();
        let Some(id) = parse_session_id(raw) else {
            return Err(self
                .refuse(origin, None, Operation::Reset, SessionError::InvalidFormat, now)
                .await);
        };
        self.reset_id(origin, id, now).await
    }

    async fn reset_id(&self, origin: &Origin, id: Uuid, now: DateTime<Utc>) -> Result<SessionStatus, SessionError> {
        let event = NewEvent::new(
            origin,
            now,
            EventType::SessionReset,
            Severity::Info,
            Some(id),
            json!({}),
        );
        let op = WriteOp::Revoke {
            id,
            at: now,
            by: origin.actor.to_stored(),
            event,
        };
        match self.writer.submit(vec![op]).await?.first() {
            Some(OpOutcome::Revoked { previous }) => {
                // The session is revoked and its objects queued for deletion in one transaction,
                // so no new upload can land while they go and nothing is forgotten: the reset
                // has succeeded whatever the object store does now. Deleting them at once is a
                // courtesy; when the store is down the `object_deletion` job retries.
                if let Some(objects) = &self.objects {
                    self.delete_objects_now(objects.as_ref(), id).await;
                }
                Ok(*previous)
            }
            Some(OpOutcome::NotFound) => Err(self
                .refuse(origin, Some(id), Operation::Reset, SessionError::NotFound, now)
                .await),
            other => Err(SessionError::Internal(format!("unexpected revoke outcome {other:?}"))),
        }
    }

    /// Delete a revoked session's objects (already queued) and drop their queue record; on
    /// failure leave the record for the `object_deletion` job.
    async fn delete_objects_now(&self, objects: &dyn ObjectStore, id: Uuid) {
        let target = crate::store::deletions::session_target(id);
        match objects.delete_session_objects(id).await {
            Ok(_) => {
                if let Err(e) = self.store.forget_object_deletions(&target).await {
                    tracing::warn!(error = %e, session = %id, "objects deleted; the object_deletion job drops their record");
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, session = %id, "objects not deleted now; the object_deletion job retries")
            }
        }
    }

    /// Parse and load a session that must be live, for `op` (the upload endpoints); every
    /// refusal is audited as `session.validation_failed`, exactly as for the session endpoints.
    pub async fn load_active(&self, origin: &Origin, raw: &str, op: Operation) -> Result<Session, SessionError> {
        self.load_live(origin, raw, op, now_millis()).await
    }

    /// Parse and load a session that must be live; every refusal is audited.
    async fn load_live(
        &self,
        origin: &Origin,
        raw: &str,
        op: Operation,
        now: DateTime<Utc>,
    ) -> Result<Session, SessionError> {
        let Some(id) = parse_session_id(raw) else {
            return Err(self.refuse(origin, None, op, SessionError::InvalidFormat, now).await);
        };
        let Some(session) = self.store.get_session(id).await? else {
            return Err(self.refuse(origin, Some(id), op, SessionError::NotFound, now).await);
        };
        let refusal = match session.effective_status(now, &self.timeouts) {
            SessionStatus::Active => return Ok(session),
            SessionStatus::Revoked => SessionError::Revoked,
            SessionStatus::Expired => SessionError::Expired,
        };
        Err(self.refuse(origin, Some(id), op, refusal, now).await)
    }

    /// Audit a refusal and hand it back; if the audit write itself fails, that failure wins
    /// (a refusal we could not record is answered 503, like any unrecorded operation).
    async fn refuse(
        &self,
        origin: &Origin,
        id: Option<Uuid>,
        op: Operation,
        refusal: SessionError,
        now: DateTime<Utc>,
    ) -> SessionError {
        let reason = refusal.reason().unwrap_or("other");
        let event = NewEvent::new(
            origin,
            now,
            EventType::SessionValidationFailed,
            Severity::Warning,
            id,
            json!({ "reason": reason, "operation": op.as_str() }),
        );
        match self.writer.submit(vec![WriteOp::Event(event)]).await {
            Ok(_) => refusal,
            Err(e) => e.into(),
        }
    }
}
