//! sessiond: the HTTP daemon. `serve` runs it on a listener you bind, so tests can start the
//! real server on `127.0.0.1:0` and stop it through a future.

pub mod app;
pub mod audit_log;
pub mod body;
pub mod client_ip;
pub mod cors;
pub mod handlers;
pub mod health;
pub mod jobs;
pub mod json_body;
pub mod logging;
pub mod metrics;
pub mod part_headers;
pub mod problem;
pub mod ratelimit;
pub mod request_body;
pub mod routes;
pub mod server;
pub mod state;
pub mod uploads;

pub use server::{Hooks, StartError, Stop, open_store, serve, serve_with, shutdown_signal};
