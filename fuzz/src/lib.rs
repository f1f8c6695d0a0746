//! The modules under test, compiled from the sessiond crates' own source files (see
//! Cargo.toml for why). Each is self-contained: it uses only the crates listed here.
#![allow(dead_code, unreachable_pub)]

/// `sessiond_core::id`: session id parsing.
#[path = "../../core/src/id.rs"]
pub mod id;

/// `sessiond_core::uploads::check`: the PDF signature and filename sanitizing.
#[path = "../../core/src/uploads/check.rs"]
pub mod check;

/// `sessiond_core::config`: settings from TOML and the environment, cron expressions (the
/// whole `config/` folder; its section files resolve beside `mod.rs`).
#[path = "../../core/src/config/mod.rs"]
pub mod config;

/// `sessiond_core::listen_addr`: `server.listen` (`IP:port` or `host:port`).
#[path = "../../core/src/listen_addr.rs"]
pub mod listen_addr;

/// `sessiond_core::jobs::name`: the job names, which `config/jobs.rs` validates schedules by.
#[path = "../../core/src/jobs/name.rs"]
pub mod job_name;

/// `sessiond_core::jobs`, as far as `config/jobs.rs` names it.
pub mod jobs {
    pub use super::job_name::JobName;
}

/// Stand-ins for `sessiond_core::audit`'s name parsers, which `config/webhooks.rs` checks
/// webhook filters with (the real ones need the whole audit module): a dotted lower-case name,
/// a severity.
pub mod audit {
    /// An event type name.
    pub struct EventType;
    impl EventType {
        /// `word.word`
        pub fn parse(s: &str) -> Option<Self> {
            let (a, b) = s.split_once('.')?;
            let word = |w: &str| !w.is_empty() && w.bytes().all(|c| c.is_ascii_lowercase() || c == b'_');
            (word(a) && word(b)).then_some(EventType)
        }
    }
    /// A severity name.
    pub struct Severity;
    impl Severity {
        /// `info`, `warning` or `critical`.
        pub fn parse(s: &str) -> Option<Self> {
            matches!(s, "info" | "warning" | "critical").then_some(Severity)
        }
    }
}

/// `sessiond::client_ip`: the client address behind trusted proxies.
#[path = "../../daemon/src/client_ip.rs"]
pub mod client_ip;

/// `sessiond::json_body`: the JSON request body.
#[path = "../../daemon/src/json_body.rs"]
pub mod json_body;

/// `sessiond::part_headers`: control characters out of multipart part headers.
#[path = "../../daemon/src/part_headers.rs"]
pub mod part_headers;

/// Drive a future whose inputs are all in memory to completion (`None` if it is still pending
/// after many polls, which an in-memory body never should be).
pub fn block_on<F: std::future::Future>(fut: F) -> Option<F::Output> {
    let mut fut = std::pin::pin!(fut);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    for _ in 0..1000 {
        if let std::task::Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return Some(v);
        }
    }
    None
}
