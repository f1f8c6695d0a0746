//! CORS for the session API (SPEC §2.1): an allowed `Origin` is echoed with the headers a
//! browser needs; any other origin gets no CORS headers (and a refused preflight).

use http::{HeaderMap, HeaderValue, header};
use sessiond_core::config::CorsSettings;

/// The configured origins.
pub struct Cors {
    allowed: Vec<String>,
    credentials: bool,
}

/// What CORS makes of a request's `Origin`.
pub enum OriginCheck {
    /// No `Origin` header: not a cross-origin browser request.
    Absent,
    /// An allowed origin, echoed back.
    Allowed(HeaderValue),
    /// Any other origin: no CORS headers at all.
    Denied,
}

impl Cors {
    /// The policy of `cors.*`.
    pub fn new(settings: &CorsSettings) -> Self {
        Self {
            allowed: settings.allowed_origins.clone(),
            credentials: settings.allow_credentials,
        }
    }

    /// Judge a request's `Origin`.
    pub fn check(&self, headers: &HeaderMap) -> OriginCheck {
        let Some(origin) = headers.get(header::ORIGIN) else {
            return OriginCheck::Absent;
        };
        match origin.to_str() {
            Ok(o) if self.allowed.iter().any(|a| a == o) => OriginCheck::Allowed(origin.clone()),
            _ => OriginCheck::Denied,
        }
    }

    /// Add the CORS headers of an answer to the allowed `origin`.
    pub fn decorate(&self, headers: &mut HeaderMap, origin: &HeaderValue) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(
                "X-Request-Id, Retry-After, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset",
            ),
        );
        if self.credentials {
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                HeaderValue::from_static("true"),
            );
        }
    }
}
