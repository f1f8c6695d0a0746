//! Route handlers: turn a matched route into a call of the session service and its answer
//! into JSON. Bodies are read with a hard size limit and a content-type check.

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Limited};
use serde::Serialize;
use serde_json::{Map, Value, json};
use sessiond_core::domain::rfc3339;
use sessiond_core::session::SessionView;

use crate::body::{Body, empty, full, json_response};
use crate::json_body::{self, JsonBodyError};
use crate::problem::ApiError;
use crate::request_body::RequestBody;
use crate::routes::Route;
use crate::state::{AppState, RequestContext};
use crate::uploads;

/// The OpenAPI 3.1 document of this API, kept in the repository.
pub const OPENAPI: &str = include_str!("../openapi.json");

/// Largest `user_info` accepted, serialized (SPEC §2.3).
pub const MAX_USER_INFO: usize = 2048;

/// Run the handler of `route`.
pub async fn dispatch(
    state: &AppState,
    ctx: &RequestContext,
    route: Route,
    req: Request<RequestBody>,
) -> Result<Response<Body>, ApiError> {
    match route {
        Route::Healthz => Ok(json_response(StatusCode::OK, &json!({"status": "ok"}))),
        Route::Readyz => readyz(state).await,
        Route::Metrics => {
            if !state.metrics_allowed(ctx.client_ip) {
                return Err(ApiError::Forbidden);
            }
            if let Some(h) = &state.db_health {
                h.refresh();
            }
            let accept = req.headers().get(header::ACCEPT).and_then(|v| v.to_str().ok());
            let format = crate::metrics::Format::negotiate(accept);
            let text = state.metrics.render(state.store().pool_stats(), format);
            let mut res = Response::new(full(text));
            res.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(format.content_type()));
            Ok(res)
        }
        Route::OpenApi => {
            let mut res = Response::new(full(OPENAPI));
            res.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            Ok(res)
        }
        Route::Generate => generate(state, ctx, req).await,
        Route::Validate => validate(state, ctx, req).await,
        Route::GetSession(raw) => {
            let (view, totals) = state.sessions.get(&ctx.origin, &raw).await?;
            let body = SessionWithUploads {
                session: SessionBody::of(&view, Some(true)),
                upload_count: totals.count,
                upload_bytes: totals.bytes,
            };
            Ok(json_response(StatusCode::OK, &body))
        }
        Route::DeleteSession(raw) => {
            state.sessions.reset(&ctx.origin, &raw).await?;
            let mut res = Response::new(empty());
            *res.status_mut() = StatusCode::NO_CONTENT;
            Ok(res)
        }
        Route::Upload(raw) => uploads::upload(state, ctx, &raw, req).await,
        Route::ListUploads(raw) => uploads::list(state, ctx, &raw).await,
        Route::GetUpload(raw, id) => uploads::download(state, ctx, &raw, &id).await,
        Route::DeleteUpload(raw, id) => uploads::delete(state, ctx, &raw, &id).await,
    }
}

/// `/readyz` answers within `storage.operation_timeout` whatever its dependencies do: a check
/// that has not answered by then counts as failing (a stalled database or object store is
/// "unavailable", not a hung probe).
async fn readyz(state: &AppState) -> Result<Response<Body>, ApiError> {
    if state.draining.load(std::sync::atomic::Ordering::Acquire) {
        // Shutting down (server.drain_delay): still serving, but take us out of rotation.
        let mut res = json_response(StatusCode::SERVICE_UNAVAILABLE, &json!({ "status": "draining" }));
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        return Ok(res);
    }
    let limit = state.settings.storage.operation_timeout.get();
    let storage = async { state.uploads.objects().ping().await.map_err(|e| e.to_string()) };
    let database = async {
        state.store().ping().await.map_err(|e| e.to_string())?;
        // A full disk still answers a query: readiness also means writes work.
        match &state.db_health {
            Some(h) => h.check_writes(state.store().as_ref()).await,
            None => Ok(()),
        }
    };
    let (database, storage) = tokio::join!(
        bounded(limit, "database", database),
        bounded(limit, "object storage", storage)
    );
    let mut failing = Vec::new();
    if let Err(e) = &database {
        tracing::warn!(error = %e, "readiness: database check failed");
        failing.push("database");
    }
    if let Err(e) = &storage {
        tracing::warn!(error = %e, "readiness: object storage check failed");
        failing.push("storage");
    }
    let word = |ok: bool| if ok { "ok" } else { "unavailable" };
    let mut body = json!({
        "status": if failing.is_empty() { "ready" } else { "unavailable" },
        "database": word(database.is_ok()),
        "storage": word(storage.is_ok()),
    });
    if failing.is_empty() {
        return Ok(json_response(StatusCode::OK, &body));
    }
    body["failing"] = json!(failing);
    let mut res = json_response(StatusCode::SERVICE_UNAVAILABLE, &body);
    res.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    Ok(res)
}

async fn bounded(
    limit: std::time::Duration,
    what: &str,
    check: impl std::future::Future<Output = Result<(), String>>,
) -> Result<(), String> {
    match tokio::time::timeout(limit, check).await {
        Ok(r) => r,
        Err(_) => Err(format!("{what} did not answer within {limit:?}")),
    }
}

async fn generate(
    state: &AppState,
    ctx: &RequestContext,
    req: Request<RequestBody>,
) -> Result<Response<Body>, ApiError> {
    let body = read_json(state, req, false).await?;
    let user_info = match body.as_ref().and_then(|b| b.get("user_info")) {
        None | Some(Value::Null) => None,
        Some(v @ Value::Object(_)) => {
            let size = serde_json::to_vec(v).map(|b| b.len()).unwrap_or(usize::MAX);
            if size > MAX_USER_INFO {
                return Err(ApiError::PayloadTooLarge(format!(
                    "user_info is {size} bytes serialized; the limit is {MAX_USER_INFO}"
                )));
            }
            if has_nul(v) {
                return Err(ApiError::InvalidText(
                    "user_info holds a NUL character (\\u0000) in a key or value; it cannot be stored".into(),
                ));
            }
            Some(v.clone())
        }
        Some(_) => return Err(ApiError::MissingField("user_info", "a JSON object")),
    };
    let view = state.sessions.generate(&ctx.origin, user_info).await?;
    let mut res = json_response(StatusCode::CREATED, &SessionBody::of(&view, None));
    if let Ok(loc) = HeaderValue::from_str(&format!("/api/session/{}", view.session.id)) {
        res.headers_mut().insert(header::LOCATION, loc);
    }
    Ok(res)
}

/// Does any key or string of `v` hold a NUL? PostgreSQL stores no NUL in `text` or `jsonb`,
/// so such `user_info` is refused on every backend alike rather than kept by one.
fn has_nul(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(has_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        _ => false,
    }
}

async fn validate(
    state: &AppState,
    ctx: &RequestContext,
    req: Request<RequestBody>,
) -> Result<Response<Body>, ApiError> {
    let body = read_json(state, req, true).await?.unwrap_or_default();
    let Some(Value::String(raw)) = body.get("uuid") else {
        return Err(ApiError::MissingField("uuid", "a string"));
    };
    let view = state.sessions.validate(&ctx.origin, raw).await?;
    Ok(json_response(StatusCode::OK, &SessionBody::of(&view, Some(true))))
}

/// `{"uuid", "valid"?, "status", "created_at", "last_seen_at", "expires_at"}`: a session in an
/// answer, serialized straight from the view (no intermediate JSON map: this is every
/// validation's answer).
#[derive(Serialize)]
struct SessionBody<'a> {
    uuid: uuid::fmt::Hyphenated,
    #[serde(skip_serializing_if = "Option::is_none")]
    valid: Option<bool>,
    status: &'a str,
    created_at: String,
    last_seen_at: String,
    expires_at: String,
}

impl<'a> SessionBody<'a> {
    fn of(view: &'a SessionView, valid: Option<bool>) -> Self {
        Self {
            uuid: view.session.id.hyphenated(),
            valid,
            status: view.status.as_str(),
            created_at: rfc3339(view.session.created_at),
            last_seen_at: rfc3339(view.session.last_seen_at),
            expires_at: rfc3339(view.expires_at),
        }
    }
}

/// `GET /api/session/{uuid}`: the session and its upload totals.
#[derive(Serialize)]
struct SessionWithUploads<'a> {
    #[serde(flatten)]
    session: SessionBody<'a>,
    upload_count: i64,
    upload_bytes: i64,
}

fn is_json(content_type: &HeaderValue) -> bool {
    let Ok(ct) = content_type.to_str() else {
        return false;
    };
    let essence = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Read a JSON object body of at most `server.max_json_body` bytes. `Ok(None)` for an empty
/// body when `required` is false.
async fn read_json(
    state: &AppState,
    req: Request<RequestBody>,
    required: bool,
) -> Result<Option<Map<String, Value>>, ApiError> {
    let max = state.settings.server.max_json_body;
    let headers = req.headers();
    let declared: Option<u64> = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(too_large(max));
    }
    let content_type = headers.get(header::CONTENT_TYPE).cloned();
    if content_type.as_ref().is_some_and(|ct| !is_json(ct)) {
        return Err(ApiError::UnsupportedMediaType);
    }
    let bytes: Bytes = match Limited::new(req.into_body(), max).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => return Err(too_large(max)),
        Err(_) => return Err(ApiError::MalformedJson("the request body could not be read".into())),
    };
    json_body::parse_object(&bytes, content_type.is_some(), required).map_err(|e| match e {
        JsonBodyError::Empty => ApiError::MalformedJson("the body is empty; send a JSON object".into()),
        JsonBodyError::NoContentType => ApiError::UnsupportedMediaType,
        JsonBodyError::NotAnObject => ApiError::MalformedJson("the body must be a JSON object".into()),
        JsonBodyError::Invalid(e) => ApiError::MalformedJson(format!("the body is not valid JSON: {e}")),
    })
}

fn too_large(max: usize) -> ApiError {
    ApiError::PayloadTooLarge(format!("the JSON body is over {max} bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sessiond_core::domain::{Session, SessionStatus, from_millis};

    fn view() -> SessionView {
        let id = uuid::Uuid::parse_str("6bb15611-4a3c-4f6e-9d1e-2b7a3c4d5e6f").expect("uuid");
        SessionView {
            session: Session {
                id,
                status: SessionStatus::Active,
                created_at: from_millis(1_795_000_000_000),
                last_seen_at: from_millis(1_795_000_060_123),
                ended_at: None,
                ended_by: None,
                user_info: None,
                created_ip: None,
                last_ip: None,
            },
            status: SessionStatus::Active,
            expires_at: from_millis(1_797_592_060_123),
        }
    }

    /// The answers' exact bytes: field names, order and formats (SPEC §2).
    #[test]
    fn session_answers_serialize_as_documented() {
        let v = view();
        let times = r#""status":"active","created_at":"2026-11-18T11:06:40.000Z","last_seen_at":"2026-11-18T11:07:40.123Z","expires_at":"2026-12-18T11:07:40.123Z""#;
        let uuid = r#""uuid":"6bb15611-4a3c-4f6e-9d1e-2b7a3c4d5e6f""#;
        assert_eq!(
            text(&SessionBody::of(&v, Some(true))),
            format!(r#"{{{uuid},"valid":true,{times}}}"#)
        );
        assert_eq!(text(&SessionBody::of(&v, None)), format!("{{{uuid},{times}}}"));
        let with_uploads = SessionWithUploads {
            session: SessionBody::of(&v, Some(true)),
            upload_count: 2,
            upload_bytes: 2048,
        };
        assert_eq!(
            text(&with_uploads),
            format!(r#"{{{uuid},"valid":true,{times},"upload_count":2,"upload_bytes":2048}}"#)
        );
    }

    fn text<T: Serialize>(body: &T) -> String {
        serde_json::to_string(body).expect("serialize")
    }
}
