//! `server.listen`: an `IP:port` or a `host:port`. The syntax is checked when the config
//! loads; a host name is resolved only when the daemon binds, so `sessionctl` (which reads the
//! same file) never waits on DNS. Only std and serde here: the config fuzz target compiles
//! this file too.

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

    /// The host name and port when it is written with a name (to be resolved by the caller).
    pub fn host(&self) -> Option<(&str, u16)> {
        match &self.0 {
            Kind::Ip(_) => None,
            Kind::Host(host, port) => Some((host, *port)),
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
        let named: ListenAddr = "localhost:8080".parse().expect("host");
        assert!(named.ip().is_none());
        assert_eq!(named.host(), Some(("localhost", 8080)));
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
}
