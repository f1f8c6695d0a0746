//! RFC 9457 problem documents: every refusal the API can give, mapped to exactly one HTTP
//! status and one stable `code` in one place. The client gets the code; the log gets the cause.

use http::{HeaderValue, StatusCode, header};
use serde::Serialize;

use crate::body::{Body, full};
use crate::routes::Allow;
use sessiond_core::audit::{EventType, Severity};
use sessiond_core::session::SessionError;

/// Every error answer of the API.
#[derive(Debug, Clone)]
pub enum ApiError {
    /// 400: body is not JSON or not an object.
    MalformedJson(String),
    /// 400: a required field is absent or of the wrong type.
    MissingField(&'static str, &'static str),
    /// 400: not a canonical UUID v4.
    InvalidUuidFormat,
    /// 400: an upload id in the path that is not a canonical UUID v4 (checked after the session
    /// id's format and before the session is looked up).
    InvalidUploadId,
    /// 400: client text the database cannot store (a NUL character); names where.
    InvalidText(String),
    /// 403: preflight from an origin not in `cors.allowed_origins`.
    OriginNotAllowed,
    /// 403: `/metrics` from outside `metrics.allow`.
    Forbidden,
    /// 404: no such route.
    NotFound,
    /// 404: no such session.
    SessionNotFound,
    /// 405: route exists, method does not.
    MethodNotAllowed(Allow),
    /// 408: the request was not complete within `server.request_timeout`.
    RequestTimeout,
    /// 410: revoked.
    SessionRevoked,
    /// 410: expired.
    SessionExpired,
    /// 413: body (or a field) too large.
    PayloadTooLarge(String),
    /// 415: a JSON endpoint got another content type.
    UnsupportedMediaType,
    /// 429: over the rate limit; `Retry-After` seconds.
    RateLimited(u64),
    /// 500: a bug.
    Internal,
    /// 503: the database is down.
    DatabaseUnavailable,
    /// 503: the object store is down.
    StorageUnavailable,
    /// 503: the daemon is shutting down.
    ShuttingDown,
    /// 400: the upload body is not usable multipart (no `file` part, several parts, broken).
    InvalidMultipart(String),
    /// 400: the file part is empty.
    EmptyFile,
    /// 404: no such upload in this session.
    UploadNotFound,
    /// 409: the session holds `uploads.max_per_session` uploads already.
    UploadQuotaExceeded(u32),
    /// 413: the file is over `uploads.max_bytes`.
    FileTooLarge(u64),
    /// 415: the upload endpoint got something other than `multipart/form-data`.
    NotMultipart,
    /// 415: the file's content is not a PDF.
    UnsupportedFileType,
}

/// How the pipeline records a refusal under the API (see `app::audit_refusal`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audit {
    /// Nothing to add: recorded already (by the session service, the upload service as
    /// `upload.rejected`, or the rate limiter), or not recordable (the store is down).
    Recorded,
    /// Recorded once as this event.
    Event(EventType, Severity),
    /// A refusal a client can repeat for free: `request.rejected` through the refusal log,
    /// summarized per window.
    Rejection,
}

#[derive(Serialize)]
struct ProblemDoc<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    detail: String,
    code: &'a str,
    request_id: &'a str,
}

impl ApiError {
    /// HTTP status.
    pub fn status(&self) -> StatusCode {
        use ApiError::*;
        match self {
            MalformedJson(_) | MissingField(..) | InvalidUuidFormat | InvalidUploadId | InvalidText(_)
            | InvalidMultipart(_) | EmptyFile => StatusCode::BAD_REQUEST,
            OriginNotAllowed | Forbidden => StatusCode::FORBIDDEN,
            NotFound | SessionNotFound | UploadNotFound => StatusCode::NOT_FOUND,
            UploadQuotaExceeded(_) => StatusCode::CONFLICT,
            MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            SessionRevoked | SessionExpired => StatusCode::GONE,
            PayloadTooLarge(_) | FileTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            UnsupportedMediaType | NotMultipart | UnsupportedFileType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            Internal => StatusCode::INTERNAL_SERVER_ERROR,
            DatabaseUnavailable | StorageUnavailable | ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The stable code a client switches on.
    pub fn code(&self) -> &'static str {
        use ApiError::*;
        match self {
            MalformedJson(_) => "malformed_json",
            MissingField(..) => "missing_field",
            InvalidUuidFormat | InvalidUploadId => "invalid_uuid_format",
            InvalidText(_) => "invalid_text",
            OriginNotAllowed => "origin_not_allowed",
            Forbidden => "forbidden",
            NotFound => "not_found",
            SessionNotFound => "session_not_found",
            MethodNotAllowed(_) => "method_not_allowed",
            RequestTimeout => "request_timeout",
            SessionRevoked => "session_revoked",
            SessionExpired => "session_expired",
            PayloadTooLarge(_) => "payload_too_large",
            UnsupportedMediaType => "unsupported_media_type",
            RateLimited(_) => "rate_limited",
            Internal => "internal_error",
            DatabaseUnavailable | ShuttingDown => "database_unavailable",
            StorageUnavailable => "storage_unavailable",
            InvalidMultipart(_) => "invalid_multipart",
            EmptyFile => "empty_file",
            UploadNotFound => "upload_not_found",
            UploadQuotaExceeded(_) => "upload_quota_exceeded",
            FileTooLarge(_) => "file_too_large",
            NotMultipart => "unsupported_media_type",
            UnsupportedFileType => "unsupported_file_type",
        }
    }

    fn title(&self) -> &'static str {
        use ApiError::*;
        match self {
            MalformedJson(_) => "Malformed JSON",
            MissingField(..) => "Missing or invalid field",
            InvalidUuidFormat | InvalidUploadId => "Invalid UUID format",
            InvalidText(_) => "Text cannot be stored",
            OriginNotAllowed => "Origin not allowed",
            Forbidden => "Forbidden",
            NotFound => "Not found",
            SessionNotFound => "Session not found",
            MethodNotAllowed(_) => "Method not allowed",
            RequestTimeout => "Request timeout",
            SessionRevoked => "Session revoked",
            SessionExpired => "Session expired",
            PayloadTooLarge(_) => "Payload too large",
            UnsupportedMediaType => "Unsupported media type",
            RateLimited(_) => "Too many requests",
            Internal => "Internal error",
            DatabaseUnavailable | ShuttingDown => "Database unavailable",
            StorageUnavailable => "Storage unavailable",
            InvalidMultipart(_) => "Invalid multipart body",
            EmptyFile => "Empty file",
            UploadNotFound => "Upload not found",
            UploadQuotaExceeded(_) => "Upload quota exceeded",
            FileTooLarge(_) => "File too large",
            NotMultipart => "Unsupported media type",
            UnsupportedFileType => "Unsupported file type",
        }
    }

    fn detail(&self) -> String {
        use ApiError::*;
        match self {
            MalformedJson(d) | PayloadTooLarge(d) | InvalidText(d) => d.clone(),
            MissingField(field, expected) => format!("field `{field}` is required and must be {expected}"),
            InvalidUuidFormat => "a session id is a canonical UUID version 4 (8-4-4-4-12 hex digits)".into(),
            InvalidUploadId => "an upload id is a canonical UUID version 4 (8-4-4-4-12 hex digits)".into(),
            OriginNotAllowed => "this origin is not in the allowed origins".into(),
            Forbidden => "this client may not read this resource".into(),
            NotFound => "no such route".into(),
            SessionNotFound => "no session with this id".into(),
            MethodNotAllowed(allow) => format!("this route accepts {allow}"),
            RequestTimeout => "the request was not received in time".into(),
            SessionRevoked => "this session has been reset; generate a new one".into(),
            SessionExpired => "this session has expired; generate a new one".into(),
            UnsupportedMediaType => "send the body as application/json".into(),
            RateLimited(secs) => format!("too many requests from this address; retry in {secs} s"),
            Internal => "an internal error occurred; it has been logged".into(),
            DatabaseUnavailable => "the database is unavailable; retry shortly".into(),
            StorageUnavailable => "the object store is unavailable; retry shortly".into(),
            ShuttingDown => "the service is restarting; retry shortly".into(),
            InvalidMultipart(d) => d.clone(),
            EmptyFile => "the file part is empty".into(),
            UploadNotFound => "no upload with this id in this session".into(),
            UploadQuotaExceeded(max) => format!("this session already holds {max} uploads; delete one first"),
            FileTooLarge(max) => format!("the file is over the limit of {max} bytes"),
            NotMultipart => "send the file as multipart/form-data with one part named `file`".into(),
            UnsupportedFileType => "only PDF files are accepted (the content must start with %PDF-)".into(),
        }
    }

    /// How a refusal with this error is audited: the one list of what is recorded elsewhere.
    pub fn audit(&self) -> Audit {
        use ApiError::*;
        match self {
            // Recorded by the session service, or not auditable (the store is down).
            InvalidUuidFormat
            | SessionNotFound
            | SessionRevoked
            | SessionExpired
            | DatabaseUnavailable
            | ShuttingDown
            | RateLimited(_)
            // Recorded by the upload service as `upload.rejected`.
            | FileTooLarge(_)
            | UnsupportedFileType
            | EmptyFile
            | UploadQuotaExceeded(_) => Audit::Recorded,
            Internal => Audit::Event(EventType::RequestError, Severity::Critical),
            StorageUnavailable => Audit::Event(EventType::RequestError, Severity::Warning),
            _ => Audit::Rejection,
        }
    }

    /// The problem response for this error.
    pub fn into_response(self, request_id: &str) -> http::Response<Body> {
        let status = self.status();
        let doc = ProblemDoc {
            kind: format!("urn:sessiond:problem:{}", self.code()),
            title: self.title(),
            status: status.as_u16(),
            detail: self.detail(),
            code: self.code(),
            request_id,
        };
        let json = serde_json::to_vec(&doc).unwrap_or_default();
        let mut res = http::Response::new(full(json));
        *res.status_mut() = status;
        let headers = res.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        match &self {
            ApiError::MethodNotAllowed(allow) => {
                if let Ok(v) = HeaderValue::from_str(&allow.to_string()) {
                    headers.insert(header::ALLOW, v);
                }
            }
            ApiError::RateLimited(secs) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from((*secs).max(1)));
            }
            ApiError::DatabaseUnavailable | ApiError::StorageUnavailable | ApiError::ShuttingDown => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            }
            _ => {}
        }
        res
    }
}

impl From<SessionError> for ApiError {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::InvalidFormat => ApiError::InvalidUuidFormat,
            SessionError::NotFound => ApiError::SessionNotFound,
            SessionError::Revoked => ApiError::SessionRevoked,
            SessionError::Expired => ApiError::SessionExpired,
            SessionError::Unavailable(cause) => {
                tracing::warn!(%cause, "database unavailable");
                ApiError::DatabaseUnavailable
            }
            SessionError::StorageUnavailable(cause) => {
                tracing::warn!(%cause, "object storage unavailable");
                ApiError::StorageUnavailable
            }
            SessionError::Internal(cause) => {
                tracing::error!(%cause, "internal error");
                ApiError::Internal
            }
            SessionError::Rejected(cause) => {
                tracing::info!(%cause, "the database refused a value of this request");
                ApiError::InvalidText("the request holds text the database cannot store".into())
            }
        }
    }
}
