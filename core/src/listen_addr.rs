//! `server.listen`: an `IP:port` or a `host:port`. The syntax is checked when the config
//! loads; a host name is resolved only when the daemon binds, so `sessionctl` (which reads the
//! same file) never waits on DNS.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Where the daemon listens: `127.0.0.1:8080`, `[::]:8080` or `localhost:8080`.
#[derive(Clone, PartialEq, Eq)]
pub struct ListenAddr(Kind);

#[derive(Clone, PartialEq, Eq)]
enum Kind {
    Ip(SocketAddr),
    Host(String, u16),
}

impl ListenAddr {
    /// The address itself when it is written as an IP.
    pub fn ip(&self) -> Option<SocketAddr> {
        match &self.0 {
            Kind::Ip(addr) => Some(*addr),
            Kind::Host(..) => None,
        }
    }

    /// Every address it stands for: itself, or what the host name resolves to (in the
    /// resolver's order). A name that resolves to nothing is an error.
    pub async fn resolve(&self) -> std::io::Result<Vec<SocketAddr>> {
        match &self.0 {
            Kind::Ip(addr) => Ok(vec![*addr]),
            Kind::Host(host, port) => {
                let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), *port)).await?.collect();
                if addrs.is_empty() {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        format!("{host} resolves to no address"),
                    ));
                }
                Ok(addrs)
            }
        }
    }
}

impl From<SocketAddr> for ListenAddr {
    fn from(addr: SocketAddr) -> Self {
        Self(Kind::Ip(addr))
    }
}

impl FromStr for ListenAddr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let raw = s.trim();
        if let Ok(addr) = raw.parse::<SocketAddr>() {
            return Ok(Self(Kind::Ip(addr)));
        }
        let bad = || {
            format!(
                "`{s}` is not an address to listen on; write IP:port or host:port, \
                 e.g. 127.0.0.1:8080, [::]:8080 or localhost:8080"
            )
        };
        let (host, port) = raw.rsplit_once(':').ok_or_else(bad)?;
        let port: u16 = port.parse().map_err(|_| bad())?;
        let host_ok = !host.is_empty()
            && host.len() <= 253
            && host
                .split('.')
                .all(|label| !label.is_empty() && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
        if !host_ok {
            return Err(bad());
        }
        Ok(Self(Kind::Host(host.to_owned(), port)))
    }
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Kind::Ip(addr) => write!(f, "{addr}"),
            Kind::Host(host, port) => write!(f, "{host}:{port}"),
        }
    }
}

impl fmt::Debug for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl Serialize for ListenAddr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ListenAddr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ips_and_host_names_parse_and_print_back() {
        for good in [
            "127.0.0.1:8080",
            "[::1]:0",
            "0.0.0.0:80",
            "localhost:8080",
            "db-1.example.org:443",
        ] {
            let addr: ListenAddr = good.parse().expect(good);
            assert_eq!(addr.to_string(), good);
        }
        assert!("127.0.0.1:8080".parse::<ListenAddr>().expect("ip").ip().is_some());
        assert!("localhost:8080".parse::<ListenAddr>().expect("host").ip().is_none());
    }

    #[test]
    fn nonsense_says_what_is_needed() {
        for bad in [
            "nowhere",
            "localhost",
            "localhost:http",
            "localhost:70000",
            ":8080",
            "a b:80",
            "::1:80x",
        ] {
            let err = bad.parse::<ListenAddr>().expect_err(bad);
            assert!(err.contains("IP:port or host:port"), "{bad}: {err}");
        }
    }

    #[tokio::test]
    async fn localhost_resolves_to_loopback() {
        let addrs = "localhost:8080"
            .parse::<ListenAddr>()
            .expect("parse")
            .resolve()
            .await
            .expect("resolve");
        assert!(
            !addrs.is_empty() && addrs.iter().all(|a| a.ip().is_loopback() && a.port() == 8080),
            "{addrs:?}"
        );
    }
}
