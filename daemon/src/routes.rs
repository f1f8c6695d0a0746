//! The one table of routes: every path and method the daemon answers, with the route class
//! used by rate limiting and the label used by metrics.

use http::Method;

/// A matched route. Path parameters are kept raw; handlers parse (and audit) them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `GET /healthz`
    Healthz,
    /// `GET /readyz`
    Readyz,
    /// `GET /metrics`
    Metrics,
    /// `GET /api/openapi.json`
    OpenApi,
    /// `POST /api/session/generate-uuid`
    Generate,
    /// `POST /api/session/validate-uuid`
    Validate,
    /// `GET /api/session/{uuid}`
    GetSession(String),
    /// `DELETE /api/session/{uuid}`
    DeleteSession(String),
    /// `POST /api/session/{uuid}/uploads`
    Upload(String),
    /// `GET /api/session/{uuid}/uploads`
    ListUploads(String),
    /// `GET /api/session/{uuid}/uploads/{id}`
    GetUpload(String, String),
    /// `DELETE /api/session/{uuid}/uploads/{id}`
    DeleteUpload(String, String),
}

/// Rate-limit route classes (`rate_limit.routes.<class>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RouteClass {
    /// generate-uuid
    Generate,
    /// validate-uuid
    Validate,
    /// GET routes
    Read,
    /// uploads
    Upload,
    /// DELETE routes
    Delete,
}

/// Why no route matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Miss {
    /// No such path.
    NotFound,
    /// The path exists; these methods are allowed (the `Allow` header).
    MethodNotAllowed(Allow),
}

/// The methods of a path shape, as the `Allow` header lists them: the shape's methods from
/// [`TABLE`], with `HEAD` after `GET` (answered wherever `GET` is).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allow(&'static [&'static str]);

impl std::fmt::Display for Allow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, m) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(m)?;
            if *m == "GET" {
                f.write_str(", HEAD")?;
            }
        }
        Ok(())
    }
}

/// A path shape and its methods.
type Shape = (&'static str, &'static [&'static str]);

const HEALTHZ: Shape = ("/healthz", &["GET"]);
const READYZ: Shape = ("/readyz", &["GET"]);
const METRICS: Shape = ("/metrics", &["GET"]);
const OPENAPI: Shape = ("/api/openapi.json", &["GET"]);
const GENERATE: Shape = ("/api/session/generate-uuid", &["POST"]);
const VALIDATE: Shape = ("/api/session/validate-uuid", &["POST"]);
const SESSION: Shape = ("/api/session/{uuid}", &["GET", "DELETE"]);
const UPLOADS: Shape = ("/api/session/{uuid}/uploads", &["GET", "POST"]);
const UPLOAD: Shape = ("/api/session/{uuid}/uploads/{id}", &["GET", "DELETE"]);

/// Every path shape with its methods: the source of `Allow` and of the OpenAPI agreement test.
pub const TABLE: &[Shape] = &[
    HEALTHZ, READYZ, METRICS, OPENAPI, GENERATE, VALIDATE, SESSION, UPLOADS, UPLOAD,
];

impl Route {
    /// Match a request line. `HEAD` is answered wherever `GET` is, as `GET` without the body
    /// (RFC 9110 §9.3.2; hyper drops the body of an answer to `HEAD`), and `Allow` lists it.
    pub fn resolve(method: &Method, path: &str) -> Result<Route, Miss> {
        let segments: Vec<&str> = path.strip_prefix('/').unwrap_or(path).split('/').collect();
        let m = if method == Method::HEAD {
            Method::GET
        } else {
            method.clone()
        };
        let route = match segments.as_slice() {
            ["healthz"] => pick(m, HEALTHZ, [(Method::GET, Route::Healthz)])?,
            ["readyz"] => pick(m, READYZ, [(Method::GET, Route::Readyz)])?,
            ["metrics"] => pick(m, METRICS, [(Method::GET, Route::Metrics)])?,
            ["api", "openapi.json"] => pick(m, OPENAPI, [(Method::GET, Route::OpenApi)])?,
            ["api", "session", "generate-uuid"] => pick(m, GENERATE, [(Method::POST, Route::Generate)])?,
            ["api", "session", "validate-uuid"] => pick(m, VALIDATE, [(Method::POST, Route::Validate)])?,
            ["api", "session", id] if !id.is_empty() => pick(
                m,
                SESSION,
                [
                    (Method::GET, Route::GetSession(id.to_string())),
                    (Method::DELETE, Route::DeleteSession(id.to_string())),
                ],
            )?,
            ["api", "session", id, "uploads"] if !id.is_empty() => pick(
                m,
                UPLOADS,
                [
                    (Method::GET, Route::ListUploads(id.to_string())),
                    (Method::POST, Route::Upload(id.to_string())),
                ],
            )?,
            ["api", "session", id, "uploads", up] if !id.is_empty() && !up.is_empty() => pick(
                m,
                UPLOAD,
                [
                    (Method::GET, Route::GetUpload(id.to_string(), up.to_string())),
                    (Method::DELETE, Route::DeleteUpload(id.to_string(), up.to_string())),
                ],
            )?,
            _ => return Err(Miss::NotFound),
        };
        Ok(route)
    }

    /// Metrics and log label: the path template.
    pub fn label(&self) -> &'static str {
        match self {
            Route::Healthz => "/healthz",
            Route::Readyz => "/readyz",
            Route::Metrics => "/metrics",
            Route::OpenApi => "/api/openapi.json",
            Route::Generate => "/api/session/generate-uuid",
            Route::Validate => "/api/session/validate-uuid",
            Route::GetSession(_) | Route::DeleteSession(_) => "/api/session/{uuid}",
            Route::Upload(_) | Route::ListUploads(_) => "/api/session/{uuid}/uploads",
            Route::GetUpload(..) | Route::DeleteUpload(..) => "/api/session/{uuid}/uploads/{id}",
        }
    }

    /// Rate-limit class; `None` for the operational routes, which are never limited.
    pub fn class(&self) -> Option<RouteClass> {
        match self {
            Route::Healthz | Route::Readyz | Route::Metrics | Route::OpenApi => None,
            Route::Generate => Some(RouteClass::Generate),
            Route::Validate => Some(RouteClass::Validate),
            Route::GetSession(_) | Route::ListUploads(_) | Route::GetUpload(..) => Some(RouteClass::Read),
            Route::Upload(_) => Some(RouteClass::Upload),
            Route::DeleteSession(_) | Route::DeleteUpload(..) => Some(RouteClass::Delete),
        }
    }
}

/// The route of `options` for `method`; `shape` says which methods the path has (a test
/// checks that its options are exactly those).
fn pick<const N: usize>(method: Method, shape: Shape, options: [(Method, Route); N]) -> Result<Route, Miss> {
    options
        .into_iter()
        .find(|(m, _)| *m == method)
        .map(|(_, r)| r)
        .ok_or(Miss::MethodNotAllowed(Allow(shape.1)))
}

/// Is this a path under the session API (where refusals are audited and CORS applies)?
pub fn is_api(path: &str) -> bool {
    path == "/api/session" || path.starts_with("/api/session/")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `Allow` header of a miss, if it is one.
    fn allow(method: Method, path: &str) -> Option<String> {
        match Route::resolve(&method, path) {
            Err(Miss::MethodNotAllowed(allow)) => Some(allow.to_string()),
            _ => None,
        }
    }

    #[test]
    fn static_routes_win_over_the_uuid_parameter() {
        assert_eq!(
            Route::resolve(&Method::POST, "/api/session/generate-uuid"),
            Ok(Route::Generate)
        );
        assert_eq!(
            allow(Method::GET, "/api/session/generate-uuid").as_deref(),
            Some("POST")
        );
    }

    #[test]
    fn unknown_paths_and_methods() {
        assert_eq!(Route::resolve(&Method::GET, "/nope"), Err(Miss::NotFound));
        assert_eq!(Route::resolve(&Method::GET, "/api/session/"), Err(Miss::NotFound));
        assert_eq!(
            allow(Method::PUT, "/api/session/x").as_deref(),
            Some("GET, HEAD, DELETE")
        );
        assert_eq!(allow(Method::POST, "/healthz").as_deref(), Some("GET, HEAD"));
        assert_eq!(
            allow(Method::HEAD, "/api/session/generate-uuid").as_deref(),
            Some("POST")
        );
        assert_eq!(
            allow(Method::PUT, "/api/session/x/uploads").as_deref(),
            Some("GET, HEAD, POST")
        );
        assert_eq!(
            allow(Method::PUT, "/api/session/x/uploads/y").as_deref(),
            Some("GET, HEAD, DELETE")
        );
    }

    #[test]
    fn head_is_get_wherever_get_is() {
        for (path, methods) in TABLE {
            let concrete = path.replace("{uuid}", "u").replace("{id}", "i");
            let head = Route::resolve(&Method::HEAD, &concrete);
            if methods.contains(&"GET") {
                assert_eq!(head, Route::resolve(&Method::GET, &concrete), "{path}");
            } else {
                assert!(matches!(head, Err(Miss::MethodNotAllowed(_))), "{path}");
            }
        }
    }

    #[test]
    fn every_table_entry_resolves() {
        for (path, methods) in TABLE {
            let concrete = path.replace("{uuid}", "u").replace("{id}", "i");
            for m in *methods {
                let method = Method::from_bytes(m.as_bytes()).unwrap_or(Method::GET);
                assert!(Route::resolve(&method, &concrete).is_ok(), "{m} {path}");
            }
        }
    }

    #[test]
    fn allow_lists_exactly_the_table_methods() {
        let others = [Method::GET, Method::POST, Method::DELETE, Method::PUT, Method::PATCH];
        for (path, methods) in TABLE {
            let concrete = path.replace("{uuid}", "u").replace("{id}", "i");
            for m in &others {
                let routed = Route::resolve(m, &concrete).is_ok();
                assert_eq!(routed, methods.contains(&m.as_str()), "{m} {path}");
                if !routed {
                    assert_eq!(
                        allow(m.clone(), &concrete),
                        Some(Allow(methods).to_string()),
                        "{m} {path}"
                    );
                }
            }
        }
    }
}
