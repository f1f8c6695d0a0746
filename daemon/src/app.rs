//! The request pipeline: request id, client address, CORS, routing, the per-request deadline,
//! refusal auditing, security headers, metrics and the access log line. The shared state is
//! in `state`, handlers in `handlers`; errors become problem documents in `problem`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use serde_json::json;
use sessiond_core::audit::{Actor, EventType, NewEvent, Origin};
use sessiond_core::domain::now_millis;
use sessiond_core::store::WriteOp;
use tokio::sync::Notify;

use crate::body::{Body, empty};
use crate::cors::OriginCheck;
use crate::metrics::{HttpLabels, method_label};
use crate::problem::{ApiError, Audit};
use crate::ratelimit::Gate;
use crate::ratelimit::refusals::{Kind, Refusal};
use crate::request_body::RequestBody;
use crate::routes::{Miss, Route, RouteClass, is_api};
use crate::state::{AppState, RequestContext};
use crate::{client_ip, handlers};
use sessiond_core::client_key as key;

const MAX_USER_AGENT: usize = 256;

/// `X-Request-Id` when it is 1–64 characters of `[A-Za-z0-9._-]`, else a new one.
fn request_id(headers: &HeaderMap) -> String {
    if let Some(v) = headers.get("x-request-id").and_then(|v| v.to_str().ok())
        && (1..=64).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return v.to_owned();
    }
    uuid::Uuid::new_v4().simple().to_string()
}

fn user_agent(headers: &HeaderMap) -> Option<String> {
    let ua = headers.get(header::USER_AGENT)?;
    let text = String::from_utf8_lossy(ua.as_bytes());
    let mut end = text.len().min(MAX_USER_AGENT);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    Some(text[..end].to_owned())
}

/// Answer one request. Never fails: every error is a problem response.
pub async fn handle(state: Arc<AppState>, req: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
    let started = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let request_id = request_id(req.headers());
    let client_ip = client_ip::resolve(peer.ip(), req.headers(), &state.trusted_proxies);
    let ctx = RequestContext {
        origin: Origin {
            request_id: request_id.clone(),
            ip: Some(client_ip.to_string()),
            user_agent: user_agent(req.headers()),
            actor: Actor::Client,
        },
        request_id,
        client_ip,
    };
    let api = is_api(&path);
    let cors = if api {
        state.cors.check(req.headers())
    } else {
        OriginCheck::Absent
    };

    let mut limit_headers = None;
    let (label, result) = if method == Method::OPTIONS && api {
        ("preflight", preflight(&cors, req.headers(), &path))
    } else {
        match Route::resolve(&method, &path) {
            Ok(route) => {
                let label = route.label();
                let gate = match (&state.rate_limiter, route.class()) {
                    (Some(limiter), Some(class)) => limiter.check(class, ctx.client_ip, &ctx.origin).await,
                    _ => Gate::default(),
                };
                limit_headers = gate.headers;
                let result = match gate.refusal {
                    Some(refusal) => Err(refusal),
                    None if matches!(route, Route::Upload(_)) => {
                        // Uploads: a stall limit on the body and a generous total instead of
                        // the request deadline, so slow links finish (see `request_body`).
                        let stalled = Arc::new(Notify::new());
                        let idle = state.settings.uploads.idle_timeout.get();
                        let req = req.map(|b| RequestBody::watched(b, idle, stalled.clone()));
                        let work = handlers::dispatch(&state, &ctx, route, req);
                        tokio::select! {
                            r = tokio::time::timeout(state.settings.uploads.total_timeout.get(), work) => {
                                r.unwrap_or(Err(ApiError::RequestTimeout))
                            }
                            () = stalled.notified() => Err(ApiError::RequestTimeout),
                        }
                    }
                    None => {
                        let work = handlers::dispatch(&state, &ctx, route, req.map(RequestBody::plain));
                        match tokio::time::timeout(state.request_timeout, work).await {
                            Ok(r) => r,
                            Err(_) => Err(ApiError::RequestTimeout),
                        }
                    }
                };
                (label, result)
            }
            Err(miss) => {
                let err = match miss {
                    Miss::NotFound => ApiError::NotFound,
                    Miss::MethodNotAllowed(allow) => ApiError::MethodNotAllowed(allow),
                };
                // A miss under the API costs the client as a read would, so probing for
                // routes is no cheaper than using them.
                let gate = match &state.rate_limiter {
                    Some(limiter) if api => limiter.check(RouteClass::Read, ctx.client_ip, &ctx.origin).await,
                    _ => Gate::default(),
                };
                limit_headers = gate.headers;
                ("unmatched", Err(gate.refusal.unwrap_or(err)))
            }
        }
    };

    let mut res = match result {
        Ok(res) => res,
        Err(err) => {
            let err = if api {
                audit_refusal(&state, &ctx, &method, label, err).await
            } else {
                err
            };
            err.into_response(&ctx.request_id)
        }
    };

    let headers = res.headers_mut();
    // Room for the headers below at once, rather than growing the map as they arrive.
    headers.reserve(10);
    if let Ok(v) = HeaderValue::from_str(&ctx.request_id) {
        headers.insert("x-request-id", v);
    }
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if let Some(limits) = &limit_headers {
        limits.apply(headers);
    }
    if api {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::VARY, HeaderValue::from_static("Origin"));
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
        );
        headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
        if let OriginCheck::Allowed(origin) = &cors {
            state.cors.decorate(headers, origin);
        }
    }

    let status = res.status().as_u16();
    let elapsed = started.elapsed();
    state.metrics.observe_request(
        &HttpLabels {
            route: label,
            method: method_label(&method),
            status,
        },
        elapsed.as_secs_f64(),
    );
    tracing::info!(
        target: "sessiond::access",
        request_id = %ctx.request_id,
        method = %method,
        route = label,
        status,
        latency_ms = elapsed.as_secs_f64() * 1000.0,
        ip = %ctx.client_ip,
        "request"
    );
    res
}

fn preflight(cors: &OriginCheck, headers: &HeaderMap, path: &str) -> Result<Response<Body>, ApiError> {
    let is_preflight = headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    match cors {
        OriginCheck::Allowed(_) if is_preflight => {
            let mut res = Response::new(empty());
            *res.status_mut() = StatusCode::NO_CONTENT;
            let h = res.headers_mut();
            h.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("GET, POST, DELETE"),
            );
            h.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static("content-type, x-request-id"),
            );
            h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
            Ok(res)
        }
        OriginCheck::Denied => Err(ApiError::OriginNotAllowed),
        _ => match Route::resolve(&Method::OPTIONS, path) {
            // Not a CORS preflight: say which methods the route has.
            Err(Miss::MethodNotAllowed(allow)) => {
                let mut res = Response::new(empty());
                *res.status_mut() = StatusCode::NO_CONTENT;
                if let Ok(v) = HeaderValue::from_str(&allow.to_string()) {
                    res.headers_mut().insert(header::ALLOW, v);
                }
                Ok(res)
            }
            _ => Err(ApiError::NotFound),
        },
    }
}

/// Record a refusal that was not already recorded ([`ApiError::audit`] says which). Those a
/// client can repeat for free (`request.rejected`) go through the refusal log: one event per code, route and
/// client key in a window (the default quota's period), the rest summarized. A refusal we
/// cannot record becomes 503, like any unrecorded operation.
async fn audit_refusal(
    state: &AppState,
    ctx: &RequestContext,
    method: &Method,
    route: &'static str,
    err: ApiError,
) -> ApiError {
    let (event_type, severity) = match err.audit() {
        Audit::Recorded => return err,
        Audit::Event(event_type, severity) => (event_type, severity),
        Audit::Rejection => return audit_rejection(state, ctx, method, route, err).await,
    };
    let event = NewEvent::new(
        &ctx.origin,
        now_millis(),
        event_type,
        severity,
        None,
        json!({
            "code": err.code(),
            "status": err.status().as_u16(),
            "method": method.as_str(),
            "route": route,
        }),
    );
    match state.sessions.writer().submit(vec![WriteOp::Event(event)]).await {
        Ok(_) => err,
        Err(e) => {
            tracing::warn!(error = %e, request_id = %ctx.request_id, "could not audit a refusal");
            ApiError::DatabaseUnavailable
        }
    }
}

/// Record a free refusal (`request.rejected`) through the refusal log.
async fn audit_rejection(
    state: &AppState,
    ctx: &RequestContext,
    method: &Method,
    route: &'static str,
    err: ApiError,
) -> ApiError {
    let prefix = state.settings.rate_limit.ipv6_prefix;
    let key = key::key_for(ctx.client_ip, prefix);
    let method = method_label(method);
    let mut fields = serde_json::Map::new();
    fields.insert("code".into(), err.code().into());
    fields.insert("status".into(), err.status().as_u16().into());
    fields.insert("method".into(), method.into());
    fields.insert("route".into(), route.into());
    fields.insert("key".into(), key::describe(key, prefix).into());
    let refusal = Refusal {
        kind: Kind::Rejected {
            code: err.code(),
            route,
            method,
        },
        key,
        origin: &ctx.origin,
        window: state.settings.rate_limit.default.period.duration(),
        event_type: EventType::RequestRejected,
        fields,
    };
    match state.refusals.record(refusal).await {
        Ok(()) => err,
        Err(e) => {
            tracing::warn!(error = %e, request_id = %ctx.request_id, "could not audit a refusal");
            ApiError::DatabaseUnavailable
        }
    }
}
