//! The upload service: PDF uploads stored under a session (SPEC §2.3). Bytes are streamed:
//! hashed, type-checked and size-checked as they arrive and spooled to a temporary file, never
//! held whole. All or nothing: the object is stored first, then its row is committed with the
//! `upload.accepted` event in one transaction; a refused row deletes the object again, and a
//! crash between the two leaves an object without a row, which [`upload_gc`] removes.

mod check;
mod gc;

use std::sync::Arc;

use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use uuid::Uuid;

use crate::audit::{EventType, NewEvent, Origin, Severity};
use crate::config::UploadSettings;
use crate::domain::now_millis;
use crate::id::parse_session_id;
use crate::session::{Operation, SessionError, SessionService};
use crate::storage::{ObjectReader, ObjectStore, StorageError, upload_key};
use crate::store::{OpOutcome, UploadOp, UploadRecord, WriteOp};
use crate::writer::WriteError;

pub use check::{DEFAULT_FILENAME, MAX_FILENAME_BYTES, MAX_LEADING_WHITESPACE, Sniff, sanitize_filename};
pub use gc::{GC_PAGE, GcError, GcReport, UPLOAD_GC_AGE, upload_gc, upload_gc_paged};

/// Largest write handed to the spool file at once.
const SPOOL_WRITE_BUFFER: usize = 64 * 1024;

/// The only content type stored.
pub const PDF: &str = "application/pdf";

/// Why an upload operation was refused or failed, in domain words. The daemon maps each to
/// exactly one problem code.
#[derive(Debug, Clone, thiserror::Error)]
pub enum UploadError {
    /// The session is unknown, dead, or the database failed while checking it.
    #[error(transparent)]
    Session(#[from] SessionError),
    /// The file is over `uploads.max_bytes`.
    #[error("the file is over {max} bytes")]
    TooLarge {
        /// The limit.
        max: u64,
    },
    /// The content does not start with `%PDF-`.
    #[error("the file is not a PDF")]
    NotPdf,
    /// The file part is empty.
    #[error("the file is empty")]
    Empty,
    /// The session already holds `uploads.max_per_session` uploads.
    #[error("the session already holds {max} uploads")]
    QuotaExceeded {
        /// The quota.
        max: u32,
    },
    /// No such upload in this session.
    #[error("no such upload")]
    NotFound,
    /// The object store is down.
    #[error("object storage unavailable: {0}")]
    StorageUnavailable(String),
}

impl From<WriteError> for UploadError {
    fn from(e: WriteError) -> Self {
        UploadError::Session(e.into())
    }
}

impl From<crate::store::StoreError> for UploadError {
    fn from(e: crate::store::StoreError) -> Self {
        UploadError::Session(e.into())
    }
}

impl From<StorageError> for UploadError {
    fn from(e: StorageError) -> Self {
        UploadError::StorageUnavailable(e.to_string())
    }
}

/// `upload.rejected` reasons (SPEC §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rejection {
    TooLarge,
    NotPdf,
    Empty,
    Quota,
}

impl Rejection {
    fn as_str(self) -> &'static str {
        match self {
            Rejection::TooLarge => "too_large",
            Rejection::NotPdf => "not_pdf",
            Rejection::Empty => "empty",
            Rejection::Quota => "quota",
        }
    }
}

/// The upload service.
#[derive(Clone)]
pub struct UploadService {
    sessions: SessionService,
    objects: Arc<dyn ObjectStore>,
    max_bytes: u64,
    max_per_session: u32,
}

impl UploadService {
    /// A service storing objects in `objects`, rows through `sessions`' store and writer.
    pub fn new(sessions: SessionService, objects: Arc<dyn ObjectStore>, settings: &UploadSettings) -> Self {
        Self {
            sessions,
            objects,
            max_bytes: settings.max_bytes,
            max_per_session: settings.max_per_session,
        }
    }

    /// The object store.
    pub fn objects(&self) -> &Arc<dyn ObjectStore> {
        &self.objects
    }

    /// `uploads.max_bytes`.
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    async fn audit(
        &self,
        origin: &Origin,
        kind: EventType,
        severity: Severity,
        session: Uuid,
        meta: serde_json::Value,
    ) {
        let event = NewEvent::new(origin, now_millis(), kind, severity, Some(session), meta);
        if let Err(e) = self.sessions.writer().submit(vec![WriteOp::Event(event)]).await {
            tracing::warn!(error = %e, request_id = %origin.request_id, "could not audit an upload refusal");
        }
    }

    async fn reject(
        &self,
        origin: &Origin,
        session: Uuid,
        reason: Rejection,
        mut meta: serde_json::Map<String, serde_json::Value>,
        error: UploadError,
    ) -> UploadError {
        meta.insert("reason".into(), reason.as_str().into());
        let event = NewEvent::new(
            origin,
            now_millis(),
            EventType::UploadRejected,
            Severity::Warning,
            Some(session),
            serde_json::Value::Object(meta),
        );
        // A refusal we could not record is answered 503, like any unrecorded operation.
        match self.sessions.writer().submit(vec![WriteOp::Event(event)]).await {
            Ok(_) => error,
            Err(e) => e.into(),
        }
    }

    /// Start an upload to the session `raw`: it must be live (refusals audited by the session
    /// service) and under its quota. `declared` is the request's `Content-Length`, if any: one
    /// over the limit plus `slack` (multipart framing) is refused before any byte is read.
    pub async fn begin(
        &self,
        origin: &Origin,
        raw: &str,
        declared: Option<u64>,
        slack: u64,
    ) -> Result<IncomingUpload, UploadError> {
        let session = self.sessions.load_active(origin, raw, Operation::Upload).await?;
        if let Some(n) = declared
            && n > self.max_bytes.saturating_add(slack)
        {
            let meta = json!({ "declared_length": n, "max_bytes": self.max_bytes });
            let meta = meta.as_object().cloned().unwrap_or_default();
            let err = UploadError::TooLarge { max: self.max_bytes };
            return Err(self.reject(origin, session.id, Rejection::TooLarge, meta, err).await);
        }
        let count = self.sessions.store().upload_totals(session.id).await?.count;
        if count >= i64::from(self.max_per_session) {
            let meta = json!({ "uploads": count, "max_per_session": self.max_per_session });
            let meta = meta.as_object().cloned().unwrap_or_default();
            let err = UploadError::QuotaExceeded {
                max: self.max_per_session,
            };
            return Err(self.reject(origin, session.id, Rejection::Quota, meta, err).await);
        }
        // File creation may wait on the disk: off the runtime's threads, as `storage/fs.rs` does.
        let dir = self.objects.spool_dir();
        let spool = tokio::task::spawn_blocking(move || {
            tempfile::Builder::new()
                .prefix("upload-")
                .suffix(".part")
                .tempfile_in(dir)
        })
        .await
        .map_err(std::io::Error::other)
        .and_then(|created| created)
        .map_err(|e| UploadError::StorageUnavailable(format!("cannot create a spool file: {e}")))?;
        let (file, path) = spool.into_parts();
        let mut file = tokio::fs::File::from_std(file);
        // Bounded copy buffer per upload (tokio's default is 2 MiB): memory stays flat with
        // many uploads in flight.
        file.set_max_buf_size(SPOOL_WRITE_BUFFER);
        Ok(IncomingUpload {
            service: self.clone(),
            origin: origin.clone(),
            session: session.id,
            id: Uuid::new_v4(),
            file: Some(file),
            path: Some(path),
            hasher: Sha256::new(),
            size: 0,
            sniff: Sniff::default(),
            settled: false,
        })
    }

    /// A session's uploads, newest first.
    pub async fn list(&self, origin: &Origin, raw: &str) -> Result<Vec<UploadRecord>, UploadError> {
        let session = self.sessions.load_active(origin, raw, Operation::Uploads).await?;
        let uploads = self.sessions.store().list_uploads(session.id).await?;
        self.read_event(origin, session.id, json!({ "operation": "list_uploads" }))
            .await?;
        Ok(uploads)
    }

    /// One upload's row and a reader of its bytes.
    pub async fn open(
        &self,
        origin: &Origin,
        raw: &str,
        raw_id: &str,
    ) -> Result<(UploadRecord, ObjectReader), UploadError> {
        let session = self.sessions.load_active(origin, raw, Operation::Uploads).await?;
        let id = parse_session_id(raw_id).ok_or(UploadError::NotFound)?;
        let record = self
            .sessions
            .store()
            .get_upload(session.id, id)
            .await?
            .ok_or(UploadError::NotFound)?;
        let reader = match self.objects.get(&record.object_key).await {
            Ok(r) => r,
            Err(StorageError::NotFound(key)) => {
                tracing::error!(%key, upload = %id, "upload row without its object");
                return Err(UploadError::NotFound);
            }
            Err(e) => return Err(e.into()),
        };
        self.read_event(
            origin,
            session.id,
            json!({ "operation": "download_upload", "upload_id": id.to_string() }),
        )
        .await?;
        Ok((record, reader))
    }

    async fn read_event(&self, origin: &Origin, session: Uuid, meta: serde_json::Value) -> Result<(), UploadError> {
        let event = NewEvent::new(
            origin,
            now_millis(),
            EventType::SessionRead,
            Severity::Info,
            Some(session),
            meta,
        );
        self.sessions.writer().submit(vec![WriteOp::Event(event)]).await?;
        Ok(())
    }

    /// Delete one upload: the row first, with its `upload.deleted` event and its object queued
    /// in `pending_object_deletions`, all in one transaction; then the object, at once if the
    /// store answers within `storage.operation_timeout`, else by the `object_deletion` job. A
    /// failure at any point never leaves a row whose object is gone, and `Ok` means the
    /// upload is no longer served and its object is deleted or queued for deletion.
    pub async fn delete(&self, origin: &Origin, raw: &str, raw_id: &str) -> Result<(), UploadError> {
        let session = self.sessions.load_active(origin, raw, Operation::Uploads).await?;
        let id = parse_session_id(raw_id).ok_or(UploadError::NotFound)?;
        let record = self
            .sessions
            .store()
            .get_upload(session.id, id)
            .await?
            .ok_or(UploadError::NotFound)?;
        let event = NewEvent::new(
            origin,
            now_millis(),
            EventType::UploadDeleted,
            Severity::Info,
            Some(session.id),
            json!({ "upload_id": id.to_string(), "size": record.size, "sha256": record.sha256 }),
        );
        let op = WriteOp::Upload(UploadOp::Delete {
            session: session.id,
            id,
            event,
        });
        match self.sessions.writer().submit(vec![op]).await?.first() {
            Some(OpOutcome::Done) => {}
            // Deleted concurrently by another request.
            _ => return Err(UploadError::NotFound),
        }
        // The answer no longer depends on the store: the row is gone and the object queued.
        // Deleting it now is a courtesy the client does not wait on for longer than the
        // store's own bound.
        self.delete_now_or_leave_queued(&record.object_key).await;
        Ok(())
    }

    /// Delete `key` (already queued in `pending_object_deletions`) and drop its record; on
    /// failure leave the record for the `object_deletion` job.
    async fn delete_now_or_leave_queued(&self, key: &str) {
        match self.objects.delete(key).await {
            Ok(()) => {
                if let Err(e) = self.sessions.store().forget_object_deletions(key).await {
                    tracing::warn!(error = %e, %key, "object deleted; its queue record stays until the object_deletion job drops it");
                }
            }
            Err(e) => tracing::warn!(error = %e, %key, "object not deleted now; the object_deletion job retries"),
        }
    }

    /// As [`UploadService::discard_object`], but only the queueing is awaited; the delete
    /// attempt runs in a task of its own.
    async fn discard_object_in_background(&self, key: &str) {
        let store = self.sessions.store();
        let reason = crate::store::deletions::reason::UPLOAD_ABANDONED;
        match store.queue_object_deletion(key, reason, now_millis()).await {
            Ok(()) => {
                let service = self.clone();
                let key = key.to_owned();
                tokio::spawn(async move { service.delete_now_or_leave_queued(&key).await });
            }
            Err(e) => tracing::warn!(error = %e, %key, "could not queue an abandoned object; upload_gc will find it"),
        }
    }

    /// An object that must not stay (its row was never committed, or was taken back): delete
    /// it now, or queue it for the `object_deletion` job (and, should even that fail,
    /// `upload_gc` finds it: it has no row).
    async fn discard_object(&self, key: &str) {
        let store = self.sessions.store();
        if let Err(e) = store
            .queue_object_deletion(key, crate::store::deletions::reason::UPLOAD_ABANDONED, now_millis())
            .await
        {
            tracing::warn!(error = %e, %key, "could not queue an abandoned object; upload_gc will find it");
            if let Err(e) = self.objects.delete(key).await {
                tracing::warn!(error = %e, %key, "could not delete an abandoned object; upload_gc will");
            }
            return;
        }
        self.delete_now_or_leave_queued(key).await;
    }

    /// Store the spooled file and commit its row. Runs as a task of its own so that the
    /// request being dropped (answered 408, client gone) cannot cut it between the object and
    /// the row; `fate` tells it whether anyone still waits for the outcome (see [`Fate`]).
    async fn commit(
        &self,
        origin: Origin,
        upload: UploadRecord,
        spool: tempfile::TempPath,
        fate: Arc<Fate>,
    ) -> Result<UploadRecord, UploadError> {
        let size = u64::try_from(upload.size).unwrap_or(0);
        if let Err(e) = self.objects.put_file(&upload.object_key, &spool, size).await {
            // A put given up on (timed out) may still land: queue the key so it cannot stay.
            // The client is answered without waiting for the (likely also failing) delete.
            remove_spool(spool).await;
            self.discard_object_in_background(&upload.object_key).await;
            return Err(e.into());
        }
        // Gone already when the filesystem store renamed it into place; S3 read a copy.
        remove_spool(spool).await;
        if !fate.begin_commit() {
            // The request was answered (or dropped) while the object was being stored: no row.
            self.discard_object(&upload.object_key).await;
            let meta = json!({ "upload_id": upload.id.to_string(), "size": upload.size, "reason": "request_ended" });
            self.audit(
                &origin,
                EventType::UploadAborted,
                Severity::Info,
                upload.session_id,
                meta,
            )
            .await;
            return Err(UploadError::StorageUnavailable(
                "the request ended before its upload was stored".into(),
            ));
        }
        let event = NewEvent::new(
            &origin,
            now_millis(),
            EventType::UploadAccepted,
            Severity::Info,
            Some(upload.session_id),
            json!({
                "upload_id": upload.id.to_string(),
                "filename": upload.filename,
                "size": upload.size,
                "sha256": upload.sha256,
            }),
        );
        let op = WriteOp::Upload(UploadOp::Insert {
            upload: upload.clone(),
            max_per_session: i64::from(self.max_per_session),
            event,
        });
        let outcome = self.sessions.writer().submit(vec![op]).await;
        let committed = matches!(outcome.as_ref().map(|o| o.first()), Ok(Some(OpOutcome::Done)));
        if !committed {
            // No row: the object must not stay.
            self.discard_object(&upload.object_key).await;
        } else if !fate.finish_commit() {
            // The client was answered with an error while the row was committing: take it back,
            // so the outcome it was told stays true.
            self.take_back(&origin, &upload).await;
            return Err(UploadError::StorageUnavailable(
                "the request ended before its upload was committed".into(),
            ));
        }
        match outcome?.first() {
            Some(OpOutcome::Done) => Ok(upload),
            _ => Err(self.refused_at_commit(&origin, &upload).await),
        }
    }

    /// Delete a row committed after its client was answered with an error (an
    /// `upload.deleted` event with `reason: request_ended`), and its object.
    async fn take_back(&self, origin: &Origin, upload: &UploadRecord) {
        let event = NewEvent::new(
            origin,
            now_millis(),
            EventType::UploadDeleted,
            Severity::Warning,
            Some(upload.session_id),
            json!({ "upload_id": upload.id.to_string(), "size": upload.size, "sha256": upload.sha256,
                    "reason": "request_ended" }),
        );
        let op = WriteOp::Upload(UploadOp::Delete {
            session: upload.session_id,
            id: upload.id,
            event,
        });
        match self.sessions.writer().submit(vec![op]).await {
            Ok(_) => self.delete_now_or_leave_queued(&upload.object_key).await,
            Err(e) => tracing::error!(error = %e, upload = %upload.id,
                "an upload committed after its request ended could not be taken back"),
        }
    }

    /// The row was refused at commit: the session died meanwhile or its quota filled up.
    async fn refused_at_commit(&self, origin: &Origin, upload: &UploadRecord) -> UploadError {
        let raw = upload.session_id.to_string();
        match self.sessions.load_active(origin, &raw, Operation::Upload).await {
            Err(e) => e.into(),
            Ok(_) => {
                let meta =
                    json!({ "size": upload.size, "sha256": upload.sha256, "max_per_session": self.max_per_session });
                let meta = meta.as_object().cloned().unwrap_or_default();
                let err = UploadError::QuotaExceeded {
                    max: self.max_per_session,
                };
                self.reject(origin, upload.session_id, Rejection::Quota, meta, err)
                    .await
            }
        }
    }
}

/// An upload whose bytes are arriving. Feed it with [`IncomingUpload::write`], then
/// [`IncomingUpload::finish`]. Dropped unfinished (the client went away, the request timed
/// out), it removes its spool file and records `upload.aborted`.
pub struct IncomingUpload {
    service: UploadService,
    origin: Origin,
    session: Uuid,
    id: Uuid,
    file: Option<tokio::fs::File>,
    path: Option<tempfile::TempPath>,
    hasher: Sha256,
    size: u64,
    sniff: Sniff,
    /// Accepted, rejected or explicitly aborted: nothing left for `Drop` to record.
    settled: bool,
}

impl IncomingUpload {
    /// The session uploaded to.
    pub fn session(&self) -> Uuid {
        self.session
    }

    /// Bytes received so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    async fn reject(&mut self, reason: Rejection, error: UploadError, sha256: Option<String>) -> UploadError {
        self.settled = true;
        self.discard().await;
        let mut meta = serde_json::Map::new();
        meta.insert("size".into(), self.size.into());
        if let Some(sha) = sha256 {
            meta.insert("sha256".into(), sha.into());
        }
        if let UploadError::TooLarge { max } = &error {
            meta.insert("max_bytes".into(), (*max).into());
        }
        self.service
            .reject(&self.origin, self.session, reason, meta, error)
            .await
    }

    /// Close and remove the spool file.
    async fn discard(&mut self) {
        self.file = None;
        if let Some(path) = self.path.take() {
            remove_spool(path).await;
        }
    }

    /// Take the next chunk of the file. A chunk that makes the file not a PDF or too large
    /// ends the upload: the refusal is recorded and returned, and no more should be read.
    pub async fn write(&mut self, chunk: &[u8]) -> Result<(), UploadError> {
        self.sniff.feed(chunk);
        if self.sniff == Sniff::NotPdf {
            return Err(self.reject(Rejection::NotPdf, UploadError::NotPdf, None).await);
        }
        let max = self.service.max_bytes;
        if self.size.saturating_add(chunk.len() as u64) > max {
            self.size = self.size.saturating_add(chunk.len() as u64);
            return Err(self
                .reject(Rejection::TooLarge, UploadError::TooLarge { max }, None)
                .await);
        }
        self.size += chunk.len() as u64;
        self.hasher.update(chunk);
        let Some(file) = self.file.as_mut() else {
            return Err(UploadError::StorageUnavailable("spool file already closed".into()));
        };
        if let Err(e) = file.write_all(chunk).await {
            self.settled = true;
            self.discard().await;
            return Err(UploadError::StorageUnavailable(format!(
                "cannot write the spool file: {e}"
            )));
        }
        Ok(())
    }

    /// Give up without recording an upload event (the request itself was malformed; the
    /// daemon records that refusal).
    pub async fn abandon(mut self) {
        self.settled = true;
        self.discard().await;
    }

    /// The client went away (or sent a broken body) mid-file: drop what arrived and record
    /// `upload.aborted`.
    pub async fn abort(mut self, why: &str) {
        self.settled = true;
        self.discard().await;
        let meta = json!({ "upload_id": self.id.to_string(), "size": self.size, "reason": why });
        self.service
            .audit(
                &self.origin,
                EventType::UploadAborted,
                Severity::Info,
                self.session,
                meta,
            )
            .await;
    }

    /// The whole file has arrived: check it, store it, commit its row and `upload.accepted`.
    /// `filename` is the client's, sanitized here.
    pub async fn finish(mut self, filename: Option<&str>) -> Result<UploadRecord, UploadError> {
        let sha256 = hex::encode(std::mem::take(&mut self.hasher).finalize());
        if self.size == 0 {
            return Err(self.reject(Rejection::Empty, UploadError::Empty, Some(sha256)).await);
        }
        if self.sniff != Sniff::Pdf {
            return Err(self.reject(Rejection::NotPdf, UploadError::NotPdf, Some(sha256)).await);
        }
        let flushed = match self.file.take() {
            // Flushed, not synced: the filesystem store syncs before its rename, and S3 reads
            // the file back from the page cache.
            Some(mut f) => f.flush().await,
            None => Err(std::io::Error::other("spool file already closed")),
        };
        self.settled = true;
        let Some(path) = self.path.take() else {
            return Err(UploadError::StorageUnavailable("spool file already removed".into()));
        };
        flushed.map_err(|e| UploadError::StorageUnavailable(format!("cannot write the spool file: {e}")))?;
        let record = UploadRecord {
            id: self.id,
            session_id: self.session,
            object_key: upload_key(self.session, self.id),
            filename: sanitize_filename(filename),
            size: i64::try_from(self.size).unwrap_or(i64::MAX),
            sha256,
            content_type: PDF.to_owned(),
            created_at: now_millis(),
        };
        let service = self.service.clone();
        let origin = self.origin.clone();
        let fate = Arc::new(Fate::default());
        // Dropped unfinished (the request was answered 408 or the client left), the guard
        // tells the commit task nobody waits for it any more.
        let guard = FateGuard(Some(fate.clone()));
        let result = tokio::spawn(async move { service.commit(origin, record, path, fate).await })
            .await
            .map_err(|e| UploadError::Session(SessionError::Internal(format!("upload commit task failed: {e}"))));
        guard.disarm();
        result?
    }
}

/// Whether anyone still waits for an upload's commit: the request's handler and the commit
/// task race on it, so that an upload is committed only if its client can be told so. The
/// task moves it `WAITING → COMMITTING → DONE`; a handler dropped before the outcome (the
/// request answered `408`, the connection gone) moves it to `ABANDONED`. Abandoned before
/// the row is submitted, no row is written; abandoned while it commits, the row is taken back.
#[derive(Debug, Default)]
pub struct Fate(std::sync::atomic::AtomicU8);

const WAITING: u8 = 0;
const COMMITTING: u8 = 1;
const DONE: u8 = 2;
const ABANDONED: u8 = 3;

impl Fate {
    fn advance(&self, from: u8, to: u8) -> bool {
        use std::sync::atomic::Ordering;
        self.0
            .compare_exchange(from, to, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// The task is about to submit the row; false when the request already ended.
    fn begin_commit(&self) -> bool {
        self.advance(WAITING, COMMITTING)
    }

    /// The row committed; false when the request ended meanwhile.
    fn finish_commit(&self) -> bool {
        self.advance(COMMITTING, DONE)
    }

    /// The request ended without waiting for the outcome.
    fn abandon(&self) {
        use std::sync::atomic::Ordering;
        let _ = self.0.fetch_update(Ordering::AcqRel, Ordering::Acquire, |s| {
            (s == WAITING || s == COMMITTING).then_some(ABANDONED)
        });
    }
}

/// Abandons its [`Fate`] when dropped, unless disarmed once the outcome is in hand.
struct FateGuard(Option<Arc<Fate>>);

impl FateGuard {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for FateGuard {
    fn drop(&mut self) {
        if let Some(fate) = &self.0 {
            fate.abandon();
        }
    }
}

impl Drop for IncomingUpload {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        // Cancelled mid-body (connection closed, deadline): from a task of its own, since Drop
        // cannot wait, the spool file goes first (off the runtime's threads), then the abort
        // is recorded.
        self.file = None;
        let path = self.path.take();
        let service = self.service.clone();
        let origin = self.origin.clone();
        let session = self.session;
        let meta = json!({ "upload_id": self.id.to_string(), "size": self.size, "reason": "cancelled" });
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn(async move {
                    if let Some(path) = path {
                        remove_spool(path).await;
                    }
                    service
                        .audit(&origin, EventType::UploadAborted, Severity::Info, session, meta)
                        .await;
                });
            }
            // No runtime (the process is ending): remove it here, nothing can be recorded.
            Err(_) => drop(path),
        }
    }
}

/// Remove a spool file off the runtime's threads (an unlink may wait on a busy disk). A file
/// already moved into place by the store is simply not there any more.
async fn remove_spool(path: tempfile::TempPath) {
    let removed = tokio::task::spawn_blocking(move || path.close()).await;
    match removed {
        Ok(Ok(())) => {}
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => {}
        Ok(Err(e)) => tracing::warn!(error = %e, "could not remove a spool file; upload_gc sweeps it"),
        Err(e) => tracing::warn!(error = %e, "spool clean-up task failed; upload_gc sweeps the file"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_commit_nobody_waits_for_never_starts_or_is_taken_back() {
        // Answered in time: the row stands.
        let f = Fate::default();
        assert!(f.begin_commit());
        assert!(f.finish_commit());
        f.abandon();
        assert_eq!(f.0.load(std::sync::atomic::Ordering::Acquire), DONE);

        // The request ended while the object was being stored: no row is submitted.
        let f = Fate::default();
        f.abandon();
        assert!(!f.begin_commit());

        // The request ended while the row committed: the row is taken back.
        let f = Fate::default();
        assert!(f.begin_commit());
        f.abandon();
        assert!(!f.finish_commit());
    }

    #[test]
    fn a_dropped_guard_abandons_and_a_disarmed_one_does_not() {
        let f = Arc::new(Fate::default());
        drop(FateGuard(Some(f.clone())));
        assert!(!f.begin_commit());
        let f = Arc::new(Fate::default());
        FateGuard(Some(f.clone())).disarm();
        assert!(f.begin_commit());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn spool_files_are_removed_off_the_runtime_even_when_moved_away() {
        let dir = tempfile::tempdir().expect("tempdir");
        let spool = tempfile::Builder::new().tempfile_in(dir.path()).expect("spool");
        let path = spool.into_temp_path();
        let kept = path.to_path_buf();
        remove_spool(path).await;
        assert!(!kept.exists(), "the spool file is gone");

        // The filesystem store renamed it into place: nothing left to remove, no error.
        let spool = tempfile::Builder::new().tempfile_in(dir.path()).expect("spool");
        let path = spool.into_temp_path();
        let object = dir.path().join("object.pdf");
        std::fs::rename(&path, &object).expect("rename");
        remove_spool(path).await;
        assert!(object.exists(), "the object is not touched");
    }
}
