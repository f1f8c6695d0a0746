//! The modules under test, compiled from the sessiond crates' own source files (see
//! Cargo.toml for why). Each is self-contained: it uses only the crates listed here.
#![allow(dead_code, unreachable_pub)]

/// `sessiond_core::id`: session id parsing.
#[path = "../../core/src/id.rs"]
pub mod id;

/// `sessiond_core::uploads::check`: the PDF signature and filename sanitizing.
#[path = "../../core/src/uploads/check.rs"]
pub mod check;

/// `sessiond_core::config`: settings from TOML and the environment, cron expressions.
#[path = "../../core/src/config.rs"]
pub mod config;

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
