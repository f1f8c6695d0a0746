//! A fault-injection TCP proxy for tests: listens on `127.0.0.1:<free port>` in front of one
//! upstream address (PostgreSQL, Redis, S3, SMTP, ...) and forwards bytes both ways, while the
//! test switches what the network does at run time:
//!
//! - [`Fault::Pass`]: forward everything (the default).
//! - [`Fault::Cut`]: the link breaks. Every open connection is reset (`SO_LINGER` 0, then
//!   closed: the peer sees `ECONNRESET`, not a polite FIN), and every new connection is
//!   accepted and reset at once.
//! - [`Fault::Stall`]: the peer hangs. Connections are accepted but nothing is forwarded in
//!   either direction (open connections stop mid-stream, new ones are never connected
//!   upstream); bytes wait in the kernel's buffers. Switching back to `Pass` resumes them.
//! - [`Fault::Slow`]: a slow link. At most `chunk` bytes are forwarded at a time, each after
//!   `delay`.
//!
//! ```no_run
//! # async fn demo(upstream: std::net::SocketAddr) {
//! use sessiond_tests::faultproxy::{Fault, FaultProxy};
//! let proxy = FaultProxy::start(upstream).await;
//! // point the client at proxy.addr() ...
//! proxy.set(Fault::Stall);
//! proxy.set(Fault::Pass);
//! # }
//! ```
//!
//! Dropping the proxy stops it and resets every connection it holds.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What the proxy does to traffic; see the module doc.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Forward everything.
    Pass,
    /// Reset open connections and every new one.
    Cut,
    /// Accept, but forward nothing until the mode changes.
    Stall,
    /// Forward at most `chunk` bytes at a time, each after `delay`.
    Slow {
        /// Pause before each forwarded chunk.
        delay: Duration,
        /// Largest chunk forwarded at once (at least 1).
        chunk: usize,
    },
}

/// A running proxy.
pub struct FaultProxy {
    addr: SocketAddr,
    upstream: SocketAddr,
    mode: watch::Sender<Fault>,
    accept: JoinHandle<()>,
}

impl FaultProxy {
    /// Listen on `127.0.0.1:0` and forward to `upstream`, starting in [`Fault::Pass`].
    pub async fn start(upstream: SocketAddr) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the fault proxy");
        let addr = listener.local_addr().expect("fault proxy address");
        let (mode, watcher) = watch::channel(Fault::Pass);
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(connection(client, upstream, watcher.clone()));
            }
        });
        FaultProxy {
            addr,
            upstream,
            mode,
            accept,
        }
    }

    /// Start in front of `host:port` as found in `url` (`scheme://[user[:pw]@]host:port/...`).
    pub async fn in_front_of_url(url: &str) -> FaultProxy {
        FaultProxy::start(url_addr(url)).await
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The proxied address.
    pub fn upstream(&self) -> SocketAddr {
        self.upstream
    }

    /// `url` with its `host:port` replaced by the proxy's (same scheme, credentials, path).
    pub fn rewrite_url(&self, url: &str) -> String {
        let (scheme, rest) = url.split_once("://").expect("url with a scheme");
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        let userinfo = authority
            .rsplit_once('@')
            .map(|(u, _)| format!("{u}@"))
            .unwrap_or_default();
        format!("{scheme}://{userinfo}{}{tail}", self.addr)
    }

    /// Switch what the network does; applies to open connections and new ones.
    pub fn set(&self, fault: Fault) {
        self.mode.send_replace(fault);
    }

    /// The current mode.
    pub fn fault(&self) -> Fault {
        *self.mode.borrow()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.accept.abort();
        // Every connection task sees the cut and resets its sockets.
        self.mode.send_replace(Fault::Cut);
    }
}

/// The `host:port` of a URL, resolved (`localhost` works).
pub fn url_addr(url: &str) -> SocketAddr {
    use std::net::ToSocketAddrs;
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let host_port = authority.rsplit_once('@').map(|(_, h)| h).unwrap_or(authority);
    host_port
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .unwrap_or_else(|| panic!("`{host_port}` (from {url}) is not host:port"))
}

/// Reset a socket: `SO_LINGER` 0 then close, so the peer gets a RST.
fn reset(stream: TcpStream) {
    let _ = stream.set_zero_linger();
    drop(stream);
}

/// Wait until the mode is not `Stall`; `None` when the proxy is gone.
async fn unstalled(mode: &mut watch::Receiver<Fault>) -> Option<Fault> {
    loop {
        let now = *mode.borrow_and_update();
        if now != Fault::Stall {
            return Some(now);
        }
        mode.changed().await.ok()?;
    }
}

async fn connection(client: TcpStream, upstream: SocketAddr, mut mode: watch::Receiver<Fault>) {
    // A new connection under `Stall` is held, unanswered, until the mode changes.
    match unstalled(&mut mode).await {
        Some(Fault::Pass | Fault::Slow { .. }) => {}
        _ => return reset(client),
    }
    let server = match TcpStream::connect(upstream).await {
        Ok(s) => s,
        Err(_) => return reset(client),
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    forward(client, server, mode).await;
}

/// Forward both ways until both sides closed, or reset both on `Cut`.
async fn forward(mut client: TcpStream, mut server: TcpStream, mut mode: watch::Receiver<Fault>) {
    let mut up = vec![0u8; 16 * 1024];
    let mut down = vec![0u8; 16 * 1024];
    let (mut client_open, mut server_open) = (true, true);
    while client_open || server_open {
        let Some(fault) = unstalled(&mut mode).await else {
            break;
        };
        let (delay, chunk) = match fault {
            Fault::Cut => break,
            Fault::Slow { delay, chunk } => (delay, chunk.max(1)),
            Fault::Pass | Fault::Stall => (Duration::ZERO, up.len()),
        };
        tokio::select! {
            changed = mode.changed() => {
                if changed.is_err() {
                    break;
                }
            }
            r = client.read(&mut up[..chunk]), if client_open => match r {
                Ok(0) | Err(_) => {
                    client_open = false;
                    let _ = server.shutdown().await;
                }
                Ok(n) => {
                    if !delay.is_zero() {
                        tokio::time::sleep(delay).await;
                    }
                    if server.write_all(&up[..n]).await.is_err() {
                        break;
                    }
                }
            },
            r = server.read(&mut down[..chunk]), if server_open => match r {
                Ok(0) | Err(_) => {
                    server_open = false;
                    let _ = client.shutdown().await;
                }
                Ok(n) => {
                    if !delay.is_zero() {
                        tokio::time::sleep(delay).await;
                    }
                    if client.write_all(&down[..n]).await.is_err() {
                        break;
                    }
                }
            },
        }
    }
    if !(client_open || server_open) {
        return; // both closed politely
    }
    reset(client);
    reset(server);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An upstream that echoes what it reads.
    async fn echo() -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = l.local_addr().expect("addr");
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 1024];
                    while let Ok(n) = s.read(&mut buf).await {
                        if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        addr
    }

    async fn roundtrip(s: &mut TcpStream, msg: &[u8]) -> std::io::Result<Vec<u8>> {
        s.write_all(msg).await?;
        let mut got = vec![0u8; msg.len()];
        s.read_exact(&mut got).await?;
        Ok(got)
    }

    const WAIT: Duration = Duration::from_millis(300);

    #[tokio::test]
    async fn pass_cut_stall_and_slow() {
        let proxy = FaultProxy::start(echo().await).await;
        let mut a = TcpStream::connect(proxy.addr()).await.expect("connect");
        assert_eq!(roundtrip(&mut a, b"hello").await.expect("pass"), b"hello");

        // Stall: the open connection stops answering, and resumes on Pass.
        proxy.set(Fault::Stall);
        a.write_all(b"held").await.expect("write");
        let mut buf = [0u8; 4];
        assert!(
            tokio::time::timeout(WAIT, a.read_exact(&mut buf)).await.is_err(),
            "stalled"
        );
        proxy.set(Fault::Pass);
        tokio::time::timeout(Duration::from_secs(5), a.read_exact(&mut buf))
            .await
            .expect("resumed in time")
            .expect("read");
        assert_eq!(&buf, b"held");

        // A new connection under Stall is accepted but never answered.
        proxy.set(Fault::Stall);
        let mut b = TcpStream::connect(proxy.addr()).await.expect("accepted while stalled");
        assert!(tokio::time::timeout(WAIT, roundtrip(&mut b, b"x")).await.is_err());

        // Cut: open connections are reset, new ones too.
        proxy.set(Fault::Cut);
        let err = tokio::time::timeout(Duration::from_secs(5), a.read(&mut buf))
            .await
            .expect("cut in time");
        assert!(
            matches!(&err, Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset),
            "{err:?}"
        );
        let mut c = TcpStream::connect(proxy.addr()).await.expect("accepted");
        let r = tokio::time::timeout(Duration::from_secs(5), roundtrip(&mut c, b"x"))
            .await
            .expect("refused in time");
        assert!(r.is_err(), "a new connection under Cut is reset");

        // Slow: bytes arrive, no sooner than the delay.
        proxy.set(Fault::Slow {
            delay: Duration::from_millis(100),
            chunk: 2,
        });
        let mut d = TcpStream::connect(proxy.addr()).await.expect("connect");
        let t = std::time::Instant::now();
        assert_eq!(roundtrip(&mut d, b"abcd").await.expect("slow"), b"abcd");
        assert!(t.elapsed() >= Duration::from_millis(200), "{:?}", t.elapsed());
    }

    #[test]
    fn urls_are_rewritten_to_the_proxy() {
        assert_eq!(
            url_addr("postgres://u:p@127.0.0.1:5432/db"),
            "127.0.0.1:5432".parse().expect("addr")
        );
        assert_eq!(
            url_addr("http://127.0.0.1:9000"),
            "127.0.0.1:9000".parse().expect("addr")
        );
    }
}
