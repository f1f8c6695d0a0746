//! The server's own limits: the connection cap and the header-read timeout. These do not
//! depend on the database, so they run on SQLite only.

use std::time::Duration;

use sessiond_core::config::HumanDuration;
use sessiond_tests::{DbKind, TestDaemon, TestDb};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn get_healthz(stream: &mut TcpStream) -> String {
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        .await
        .expect("write");
    let mut buf = vec![0u8; 2048];
    let n = stream.read(&mut buf).await.expect("read");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_cap_holds_new_clients_until_a_slot_frees() {
    let db = TestDb::new(DbKind::Sqlite).await;
    let mut s = db.settings();
    s.server.max_connections = 2;
    let d = TestDaemon::start(s).await;
    let mut a = TcpStream::connect(d.addr).await.expect("a");
    let mut b = TcpStream::connect(d.addr).await.expect("b");
    assert!(get_healthz(&mut a).await.starts_with("HTTP/1.1 200"));
    assert!(get_healthz(&mut b).await.starts_with("HTTP/1.1 200"));
    // Both slots are held by idle keep-alive connections: a third client is not served...
    let mut c = TcpStream::connect(d.addr).await.expect("c (queued in the backlog)");
    let mut third = tokio::spawn(async move { get_healthz(&mut c).await });
    if let Ok(done) = tokio::time::timeout(Duration::from_millis(300), &mut third).await {
        panic!("served past the cap: {done:?}");
    }
    // ...until one of them goes away.
    drop(a);
    let answer = tokio::time::timeout(Duration::from_secs(10), third)
        .await
        .expect("served after a slot freed")
        .expect("task");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    drop(b);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_request_heads_are_cut_off() {
    let db = TestDb::new(DbKind::Sqlite).await;
    let mut s = db.settings();
    s.server.header_read_timeout = HumanDuration(Duration::from_millis(200));
    let d = TestDaemon::start(s).await;
    let mut slow = TcpStream::connect(d.addr).await.expect("connect");
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n")
        .await
        .expect("partial head");
    let started = std::time::Instant::now();
    let mut buf = vec![0u8; 1024];
    // The server closes the connection (read returns 0 or an error) instead of waiting forever.
    let n = tokio::time::timeout(Duration::from_secs(5), slow.read(&mut buf))
        .await
        .expect("closed in time")
        .unwrap_or(0);
    let answer = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(n == 0 || answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(started.elapsed() >= Duration::from_millis(150));
    // Well-behaved clients are unaffected.
    let mut ok = TcpStream::connect(d.addr).await.expect("connect");
    assert!(get_healthz(&mut ok).await.starts_with("HTTP/1.1 200"));
    d.stop().await;
}
