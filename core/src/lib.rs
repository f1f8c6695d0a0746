//! sessiond-core: everything `sessiond` and `sessionctl` share — configuration, domain types,
//! the database stores and their migrations, the group-commit batch writer and the session
//! service. No HTTP and no terminal code lives here.
#![warn(missing_docs)]

pub mod alerts;
pub mod audit;
pub mod audit_chain;
pub mod audit_verify;
pub mod client_key;
pub mod config;
pub mod domain;
pub mod effective_config;
pub mod id;
pub mod jobs;
pub mod listen_addr;
pub mod mailer;
pub mod session;
pub mod storage;
pub mod store;
pub mod uploads;
pub mod webhooks;
pub mod writer;

pub use config::Settings;
