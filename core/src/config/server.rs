//! `server.*`: the HTTP listener.

use std::net::SocketAddr;
use std::time::Duration;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::{ConfigError, HumanDuration};

/// `server.*`: the HTTP listener.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    /// Address to listen on: `IP:port` or `host:port` (resolved when the daemon binds).
    pub listen: crate::listen_addr::ListenAddr,
    /// Peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
    /// Largest JSON body accepted, in bytes.
    pub max_json_body: usize,
    /// Whole-request deadline.
    pub request_timeout: HumanDuration,
    /// Deadline for a client to send its request head.
    pub header_read_timeout: HumanDuration,
    /// Open connections accepted at once; more wait in the kernel's backlog.
    pub max_connections: usize,
    /// How long shutdown waits for in-flight requests.
    pub shutdown_grace: HumanDuration,
    /// On SIGTERM, how long `/readyz` answers 503 while the daemon still serves, so a load
    /// balancer takes it out of rotation before it stops accepting; `0s` turns this off.
    pub drain_delay: HumanDuration,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)).into(),
            trusted_proxies: Vec::new(),
            max_json_body: 4096,
            request_timeout: HumanDuration::secs(30),
            header_read_timeout: HumanDuration::secs(10),
            max_connections: 10_000,
            shutdown_grace: HumanDuration::secs(10),
            drain_delay: HumanDuration::secs(5),
        }
    }
}

impl ServerSettings {
    /// The checks of this section serde cannot express.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.max_json_body == 0 {
            return Err(ConfigError::new("server.max_json_body", "must be at least 1"));
        }
        if self.max_connections == 0 {
            return Err(ConfigError::new("server.max_connections", "must be at least 1"));
        }
        if self.request_timeout.get().is_zero() {
            return Err(ConfigError::new("server.request_timeout", "must be more than 0s"));
        }
        if self.drain_delay.get() > Duration::from_secs(600) {
            return Err(ConfigError::new(
                "server.drain_delay",
                "must be at most 10m (it delays every SIGTERM)",
            ));
        }
        if self.header_read_timeout.get().is_zero() {
            return Err(ConfigError::new("server.header_read_timeout", "must be more than 0s"));
        }
        Ok(())
    }
}
