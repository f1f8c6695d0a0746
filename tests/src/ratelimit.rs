//! Helpers of the rate-limiting suite: settings per limiter backend, this machine's Redis
//! (required, never skipped), unique Redis key prefixes, a closed port, and a TCP relay to Redis
//! that a test can cut and restore to simulate an outage.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use sessiond_core::Settings;
use sessiond_core::config::{RateLimitBackend, SecretUrl};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Which limiter backend a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limiter {
    /// In the daemon's memory.
    Memory,
    /// This machine's Redis.
    Redis,
}

/// This machine's Redis (`SESSIOND_TEST_REDIS_URL`, default `redis://127.0.0.1:6379`).
pub fn redis_url() -> String {
    std::env::var("SESSIOND_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

fn redis_addr() -> String {
    let url = redis_url();
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(&url);
    let host = rest.rsplit_once('@').map(|(_, h)| h).unwrap_or(rest);
    host.split('/').next().unwrap_or(host).to_owned()
}

/// Fail (never skip) when Redis does not answer PING.
pub async fn require_redis() {
    let addr = redis_addr();
    let mut s = TcpStream::connect(&addr)
        .await
        .unwrap_or_else(|e| panic!("Redis is required for this test and is not reachable at {addr}: {e}"));
    s.write_all(b"PING\r\n").await.expect("write PING");
    let mut buf = [0u8; 7];
    s.read_exact(&mut buf).await.expect("read PONG");
    assert_eq!(&buf, b"+PONG\r\n", "Redis at {addr} did not answer PING");
}

/// A key prefix no other test uses.
pub fn unique_prefix() -> String {
    format!("sessiond-test:{}:", uuid::Uuid::new_v4().simple())
}

/// `base` with rate limiting on, on `limiter` (a fresh Redis key prefix for Redis).
pub async fn limited(mut base: Settings, limiter: Limiter) -> Settings {
    base.rate_limit.enabled = true;
    if limiter == Limiter::Redis {
        require_redis().await;
        base.rate_limit.backend = RateLimitBackend::Redis;
        base.rate_limit.redis_url = Some(SecretUrl::new(redis_url()));
        base.rate_limit.redis_key_prefix = unique_prefix();
    }
    base
}

/// A `redis://` URL on a local port nobody listens on.
pub async fn closed_port_url() -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    drop(l);
    format!("redis://{addr}")
}

/// A TCP relay to Redis that can be cut (connections refused-and-closed) and restored.
pub struct RedisRelay {
    /// Where the relay listens.
    pub addr: SocketAddr,
    up: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl RedisRelay {
    /// Start relaying to this machine's Redis.
    pub async fn start() -> RedisRelay {
        require_redis().await;
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind relay");
        let addr = listener.local_addr().expect("relay addr");
        let up = Arc::new(AtomicBool::new(true));
        let target = redis_addr();
        let flag = up.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !flag.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let target = target.clone();
                let flag = flag.clone();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(&target).await else {
                        return;
                    };
                    let (mut cr, mut cw) = client.split();
                    let (mut sr, mut sw) = server.split();
                    let relay = async {
                        tokio::select! {
                            _ = tokio::io::copy(&mut cr, &mut sw) => {},
                            _ = tokio::io::copy(&mut sr, &mut cw) => {},
                        }
                    };
                    // A cut also ends established connections.
                    let cut = async {
                        while flag.load(Ordering::SeqCst) {
                            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                        }
                    };
                    tokio::select! {
                        () = relay => {},
                        () = cut => {},
                    }
                    let _ = client.shutdown().await;
                });
            }
        });
        RedisRelay { addr, up, task }
    }

    /// `redis://<relay>`
    pub fn url(&self) -> String {
        format!("redis://{}", self.addr)
    }

    /// Cut or restore the relay.
    pub fn set_up(&self, up: bool) {
        self.up.store(up, Ordering::SeqCst);
    }
}

impl Drop for RedisRelay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Send `requests` (complete HTTP/1.1 requests, keep-alive) pipelined over `conns` connections
/// and count the answers by status. Much cheaper per request than an HTTP client, for floods.
pub async fn pipelined_flood(
    addr: SocketAddr,
    requests: Vec<Vec<u8>>,
    conns: usize,
) -> std::collections::HashMap<u16, usize> {
    let conns = conns.max(1);
    let mut per_conn: Vec<Vec<Vec<u8>>> = (0..conns).map(|_| Vec::new()).collect();
    for (i, r) in requests.into_iter().enumerate() {
        per_conn[i % conns].push(r);
    }
    let mut tasks = Vec::new();
    for batch in per_conn.into_iter().filter(|b| !b.is_empty()) {
        tasks.push(tokio::spawn(async move {
            let expected = batch.len();
            let stream = TcpStream::connect(addr).await.expect("connect");
            let (mut rd, mut wr) = stream.into_split();
            let writer = tokio::spawn(async move {
                for chunk in batch.chunks(64) {
                    wr.write_all(&chunk.concat()).await.expect("write requests");
                }
                wr
            });
            let mut counts = std::collections::HashMap::new();
            let mut seen = 0;
            let mut buf = vec![0u8; 64 * 1024];
            let mut carry: Vec<u8> = Vec::new();
            while seen < expected {
                let n = rd.read(&mut buf).await.expect("read answers");
                assert!(n > 0, "connection closed after {seen} of {expected} answers");
                carry.extend_from_slice(&buf[..n]);
                // Status lines start every answer; bodies (problem JSON) never contain one.
                let mut start = 0;
                while let Some(pos) = find(&carry[start..], b"HTTP/1.1 ") {
                    let at = start + pos;
                    if carry.len() < at + 12 {
                        break;
                    }
                    let status = std::str::from_utf8(&carry[at + 9..at + 12])
                        .ok()
                        .and_then(|s| s.parse::<u16>().ok())
                        .expect("status code");
                    *counts.entry(status).or_insert(0) += 1;
                    seen += 1;
                    start = at + 12;
                }
                carry.drain(..start.max(carry.len().saturating_sub(11)).min(carry.len()));
            }
            drop(writer.await.expect("writer"));
            counts
        }));
    }
    let mut total = std::collections::HashMap::new();
    for t in tasks {
        for (status, n) in t.await.expect("flood connection") {
            *total.entry(status).or_insert(0) += n;
        }
    }
    total
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
