//! The upload endpoints (SPEC §2.3): multipart parsing and streaming in, streamed downloads
//! out. The checks, storage and audit live in `sessiond_core::uploads`; this file only speaks
//! HTTP.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::{Stream, StreamExt, TryStreamExt};
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Body as _, Frame};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Value, json};
use sessiond_core::domain::rfc3339;
use sessiond_core::id::parse_session_id;
use sessiond_core::store::UploadRecord;
use sessiond_core::uploads::{IncomingUpload, UploadError};

use crate::body::{Body, BoxError, empty, json_response};
use crate::problem::ApiError;
use crate::request_body::RequestBody;
use crate::state::{AppState, RequestContext};

/// Room for multipart framing (boundaries, part headers) over `uploads.max_bytes` in an
/// announced `Content-Length` (SPEC §2.3).
pub const MULTIPART_SLACK: u64 = 64 * 1024;

/// The name of the one file part.
const FILE_PART: &str = "file";

/// Bytes a body may hold before the file's data (preamble, boundary, the part's headers), and
/// again after it (the closing boundary, an epilogue). Multipart parsers buffer these until
/// they find the delimiter they wait for, so without a bound an endless preamble or part header
/// in a chunked body grows memory for as long as the client sends.
pub const FRAMING_ALLOWANCE: u64 = 16 * 1024;

impl From<UploadError> for ApiError {
    fn from(e: UploadError) -> Self {
        match e {
            UploadError::Session(s) => s.into(),
            UploadError::TooLarge { max } => ApiError::FileTooLarge(max),
            UploadError::NotPdf => ApiError::UnsupportedFileType,
            UploadError::Empty => ApiError::EmptyFile,
            UploadError::QuotaExceeded { max } => ApiError::UploadQuotaExceeded(max),
            UploadError::NotFound => ApiError::UploadNotFound,
            UploadError::StorageUnavailable(cause) => {
                tracing::warn!(%cause, "object storage unavailable");
                ApiError::StorageUnavailable
            }
        }
    }
}

/// `{"id", "session_uuid", "filename", "size", "sha256", "content_type", "created_at"}`
fn upload_json(u: &UploadRecord) -> Value {
    json!({
        "id": u.id.to_string(),
        "session_uuid": u.session_id.to_string(),
        "filename": u.filename,
        "size": u.size,
        "sha256": u.sha256,
        "content_type": u.content_type,
        "created_at": rfc3339(u.created_at),
    })
}

/// `POST /api/session/{uuid}/uploads`
pub async fn upload(
    state: &AppState,
    ctx: &RequestContext,
    raw: &str,
    req: Request<RequestBody>,
) -> Result<Response<Body>, ApiError> {
    let uploads = &state.uploads;
    let boundary = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .filter(|ct| {
            let essence = ct.split(';').next().unwrap_or("").trim();
            essence.eq_ignore_ascii_case("multipart/form-data")
        })
        .and_then(|ct| multer::parse_boundary(ct).ok())
        .ok_or(ApiError::NotMultipart)?;
    let declared: Option<u64> = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let mut incoming = uploads.begin(&ctx.origin, raw, declared, MULTIPART_SLACK).await?;

    // Only the `file` part is allowed; anything else ends the request as malformed.
    let constraints = multer::Constraints::new().allowed_fields(vec![FILE_PART]);
    let body = BudgetedBody::new(req.into_body(), FRAMING_ALLOWANCE);
    // Part headers reach the parser without control characters (see `part_headers`).
    let parsed = crate::part_headers::scrub(body.clone(), &boundary);
    let mut multipart = multer::Multipart::with_constraints(parsed, boundary, constraints);
    let mut filename: Option<Option<String>> = None;
    loop {
        let mut field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(e) => return Err(broken(incoming, e).await),
        };
        if filename.is_some() {
            incoming.abandon().await;
            return Err(ApiError::InvalidMultipart("send exactly one part named `file`".into()));
        }
        filename = Some(field.file_name().map(str::to_owned));
        // The file's data is bounded by the upload limit (checked as it is written).
        body.allow_more(uploads.max_bytes() + MULTIPART_SLACK);
        loop {
            match field.chunk().await {
                Ok(Some(chunk)) => incoming.write(&chunk).await?,
                Ok(None) => break,
                Err(e) => return Err(broken(incoming, e).await),
            }
        }
        body.allow_more(FRAMING_ALLOWANCE);
    }
    drop(multipart);
    let Some(filename) = filename else {
        incoming.abandon().await;
        return Err(ApiError::InvalidMultipart("no part named `file`".into()));
    };
    // The closing boundary is not the end of the request: a body that stops short of its
    // length (or its last chunk) is incomplete, and an incomplete request never commits.
    if let Err(e) = body.read_to_end().await {
        return Err(broken_off(incoming, e).await);
    }
    let record = incoming.finish(filename.as_deref()).await?;
    let mut res = json_response(StatusCode::CREATED, &upload_json(&record));
    if let Ok(loc) = HeaderValue::from_str(&format!("/api/session/{}/uploads/{}", record.session_id, record.id)) {
        res.headers_mut().insert(header::LOCATION, loc);
    }
    Ok(res)
}

/// The body broke off mid-part (the client went away) or is not valid multipart.
async fn broken(incoming: IncomingUpload, e: multer::Error) -> ApiError {
    match e {
        multer::Error::UnknownField { .. } => {
            incoming.abandon().await;
            ApiError::InvalidMultipart("send exactly one part named `file`".into())
        }
        multer::Error::StreamReadFailed(cause) => broken_off(incoming, cause).await,
        other => {
            incoming.abort("malformed").await;
            ApiError::InvalidMultipart(format!("the multipart body is malformed: {other}"))
        }
    }
}

/// Reading the body failed: the client went away, or the body overran its framing allowance.
async fn broken_off(incoming: IncomingUpload, cause: BoxError) -> ApiError {
    if cause.downcast_ref::<Overrun>().is_some() {
        incoming.abort("malformed").await;
        return ApiError::InvalidMultipart(format!(
            "the multipart framing around the file (preamble, part headers, epilogue) is over {FRAMING_ALLOWANCE} bytes"
        ));
    }
    tracing::debug!(%cause, "upload body broke off");
    incoming.abort("disconnected").await;
    ApiError::InvalidMultipart("the request body could not be read to its end".into())
}

/// The body read past what its current phase allows.
#[derive(Debug, thiserror::Error)]
#[error("the request body is over its allowance")]
struct Overrun;

/// The request body on a budget, as the multipart parser reads it. The parser (multer) pulls
/// every piece that is ready before it looks for the delimiter it waits for, so on a fast link it
/// would buffer as much as the client can send; this stream hands it one piece per poll (then
/// yields), so the parser looks after each piece, and fails with [`Overrun`] once the pieces
/// read before the current one pass the budget — the parser has held that much without finding
/// its delimiter. The handler raises the budget per phase (framing, then the file's data, then
/// framing again). A clone reads on where the other stopped: the handler keeps one to read the
/// body to its end after the parser is done.
#[derive(Clone)]
struct BudgetedBody {
    body: Arc<Mutex<RequestBody>>,
    read: Arc<AtomicU64>,
    limit: Arc<AtomicU64>,
    /// This clone handed out a piece at its last poll: yield before the next.
    just_read: bool,
}

impl BudgetedBody {
    fn new(body: RequestBody, allowance: u64) -> Self {
        Self {
            body: Arc::new(Mutex::new(body)),
            read: Arc::new(AtomicU64::new(0)),
            limit: Arc::new(AtomicU64::new(allowance)),
            just_read: false,
        }
    }

    /// Allow `more` bytes past what has been read so far.
    fn allow_more(&self, more: u64) {
        let read = self.read.load(Ordering::Relaxed);
        self.limit.store(read.saturating_add(more), Ordering::Relaxed);
    }

    /// Read (and drop) the rest of the body, within the budget.
    async fn read_to_end(mut self) -> Result<(), BoxError> {
        while let Some(chunk) = self.next().await {
            chunk?;
        }
        Ok(())
    }
}

impl Stream for BudgetedBody {
    type Item = Result<Bytes, BoxError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if std::mem::take(&mut this.just_read) {
            // Let the reader look at what it has before it takes more.
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        if this.read.load(Ordering::Relaxed) > this.limit.load(Ordering::Relaxed) {
            return Poll::Ready(Some(Err(Box::new(Overrun))));
        }
        let mut body = this.body.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            let frame = match Pin::new(&mut *body).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => frame,
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(Box::new(e)))),
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            };
            // Trailers carry no body bytes.
            let Ok(data) = frame.into_data() else { continue };
            this.read.fetch_add(data.len() as u64, Ordering::Relaxed);
            this.just_read = true;
            return Poll::Ready(Some(Ok(data)));
        }
    }
}

/// `GET /api/session/{uuid}/uploads`
pub async fn list(state: &AppState, ctx: &RequestContext, raw: &str) -> Result<Response<Body>, ApiError> {
    let uploads = state.uploads.list(&ctx.origin, raw).await?;
    let items: Vec<Value> = uploads.iter().map(upload_json).collect();
    Ok(json_response(StatusCode::OK, &json!({ "uploads": items })))
}

/// The order of checks on `/api/session/{uuid}/uploads/{id}`: the session id's format (the
/// session service refuses and audits a bad one), then the upload id's format, then the session
/// (404/410) and the upload (404). So a malformed upload id is 400 whatever the session's state.
fn check_upload_id(raw: &str, raw_id: &str) -> Result<(), ApiError> {
    if parse_session_id(raw).is_some() && parse_session_id(raw_id).is_none() {
        return Err(ApiError::InvalidUploadId);
    }
    Ok(())
}

/// `GET /api/session/{uuid}/uploads/{id}`: the PDF, streamed from the store.
pub async fn download(
    state: &AppState,
    ctx: &RequestContext,
    raw: &str,
    raw_id: &str,
) -> Result<Response<Body>, ApiError> {
    check_upload_id(raw, raw_id)?;
    let (record, object) = state.uploads.open(&ctx.origin, raw, raw_id).await?;
    let frames = tokio_util::io::ReaderStream::new(object.reader)
        .map_ok(Frame::data)
        .map_err(|e| -> BoxError { Box::new(e) });
    let body: Body = BodyExt::boxed_unsync(StreamBody::new(frames));
    let mut res = Response::new(body);
    let headers = res.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/pdf"));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(object.size));
    if let Ok(v) = HeaderValue::from_str(&content_disposition(&record.filename)) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(res)
}

/// `DELETE /api/session/{uuid}/uploads/{id}`
pub async fn delete(
    state: &AppState,
    ctx: &RequestContext,
    raw: &str,
    raw_id: &str,
) -> Result<Response<Body>, ApiError> {
    check_upload_id(raw, raw_id)?;
    state.uploads.delete(&ctx.origin, raw, raw_id).await?;
    let mut res = Response::new(empty());
    *res.status_mut() = StatusCode::NO_CONTENT;
    Ok(res)
}

/// RFC 5987 `attr-char`s stay as they are; everything else is percent-encoded.
const ATTR_CHAR: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// `attachment; filename="<ASCII fallback>"`, plus `filename*=UTF-8''<encoded>` (RFC 6266 /
/// RFC 5987) when the name is not plain ASCII, so every browser saves it under its real name.
pub fn content_disposition(filename: &str) -> String {
    let fallback: String = filename
        .chars()
        .map(|c| {
            if c.is_ascii() && !c.is_ascii_control() && c != '"' && c != '\\' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if fallback == filename {
        format!("attachment; filename=\"{fallback}\"")
    } else {
        let encoded = utf8_percent_encode(filename, ATTR_CHAR);
        format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
    }
}

#[cfg(test)]
mod tests {
    use super::content_disposition;

    #[test]
    fn content_disposition_plain_and_utf8() {
        assert_eq!(content_disposition("report.pdf"), "attachment; filename=\"report.pdf\"");
        assert_eq!(
            content_disposition("Résumé \"v2\".pdf"),
            "attachment; filename=\"R_sum_ _v2_.pdf\"; filename*=UTF-8''R%C3%A9sum%C3%A9%20%22v2%22.pdf"
        );
    }
}
